/*
Copyright 2026 The Gatehouse Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gatehouse-dev/gatehouse/tokenserver/tokenclient"
)

func runToken(args []string) int {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	dir := fs.String("credentials-dir", "/var/run/secrets/gatehouse",
		"directory of the Client's credentials Secret (files client_id, client_secret, token_url); $GATEHOUSE_CLIENT_SECRET overrides client_secret")
	var creds tokenclient.Credentials
	fs.StringVar(&creds.ClientID, "client-id", "", "client_id; overrides the credentials file")
	fs.StringVar(&creds.TokenURL, "token-url", "", "token endpoint; overrides the credentials file")
	var req tokenclient.Request
	fs.BoolVar(&req.ClientCredentials, "client-credentials", false, "get a token for the Client itself (grant_type=client_credentials) rather than for a user")
	serviceAccountToken := fs.String("service-account-token", "",
		"file of a projected ServiceAccount token, such as /var/run/secrets/tokens/gatehouse, that authenticates the Client instead of a client secret; give --client-id and --token-url, and nothing else needs mounting")
	fs.StringVar(&req.Username, "username", "", "the user to get a token for")
	passwordFile := fs.String("password-file", "", "file holding the user's password (default: $GATEHOUSE_PASSWORD)")
	fs.StringVar(&req.Audience, "audience", "", "identifier of the API the token is for (default: the tenant's default audience)")
	fs.StringVar(&req.Scope, "scope", "", "space-separated scopes")
	asJSON := fs.Bool("json", false, "print the token server's whole JSON answer instead of the access token")
	timeout := fs.Duration("timeout", 30*time.Second, "how long to wait for the token server")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	// The client secret has no flag: command lines are visible to every user of the host.
	creds.ClientSecret = os.Getenv("GATEHOUSE_CLIENT_SECRET")

	var err error
	if req.Credentials, err = tokenclient.ReadCredentials(*dir, creds); err != nil {
		fmt.Fprintln(os.Stderr, "gatehouse token:", err)
		return 2
	}
	if *serviceAccountToken != "" {
		if req.Assertion, err = readSecretFile(*serviceAccountToken); err != nil {
			fmt.Fprintln(os.Stderr, "gatehouse token:", err)
			return 2
		}
	}
	if !req.ClientCredentials {
		if req.Password, err = readPassword(*passwordFile); err != nil {
			fmt.Fprintln(os.Stderr, "gatehouse token:", err)
			return 2
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	token, raw, err := tokenclient.Fetch(ctx, &http.Client{Timeout: *timeout}, req)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gatehouse token:", err)
		return 1
	}
	if *asJSON {
		fmt.Println(string(raw))
	} else {
		fmt.Println(token.AccessToken)
	}
	return 0
}

// readPassword reads the password from file, or else from $GATEHOUSE_PASSWORD, never
// from a flag: command lines are visible to every user of the host.
func readPassword(file string) (string, error) {
	if file == "" {
		if pw, ok := os.LookupEnv("GATEHOUSE_PASSWORD"); ok {
			return pw, nil
		}
		return "", errors.New("give the password with --password-file or $GATEHOUSE_PASSWORD")
	}
	return readSecretFile(file)
}

// readSecretFile reads a password or token from file, without its final line break.
func readSecretFile(file string) (string, error) {
	data, err := os.ReadFile(file) //nolint:gosec // the file the user named
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(data), "\r\n"), nil
}
