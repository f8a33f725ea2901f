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
	"cmp"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/client/config"

	"github.com/gatehouse-dev/gatehouse/tokenserver"
	"github.com/gatehouse-dev/gatehouse/tokenserver/attack"
	"github.com/gatehouse-dev/gatehouse/tokenserver/refresh"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

func runTokenServer(args []string) int {
	fs := flag.NewFlagSet("tokenserver", flag.ContinueOnError)
	namespace := fs.String("namespace", cmp.Or(os.Getenv("POD_NAMESPACE"), snapshot.DefaultNamespace), "namespace of the snapshot and signing-key Secrets; $POD_NAMESPACE when set")
	opts := tokenserver.ListenOptions{}
	fs.StringVar(&opts.BindAddress, "bind-address", ":8080", "address serving the tenants")
	fs.StringVar(&opts.MetricsBindAddress, "metrics-bind-address", ":8081", "address serving /metrics, /healthz and /readyz")
	fs.StringVar(&opts.TLSCertFile, "tls-cert-file", "", "PEM certificate chain; with --tls-key-file, serve HTTPS")
	fs.StringVar(&opts.TLSKeyFile, "tls-key-file", "", "PEM private key of --tls-cert-file")
	fs.DurationVar(&opts.CertReloadInterval, "tls-reload-interval", 30*time.Second, "how often the certificate files are checked for changes")
	fs.DurationVar(&opts.ReadHeaderTimeout, "read-header-timeout", 5*time.Second, "time allowed to read request headers")
	fs.DurationVar(&opts.ReadTimeout, "read-timeout", 10*time.Second, "time allowed to read a whole request")
	fs.DurationVar(&opts.WriteTimeout, "write-timeout", 30*time.Second, "time allowed to answer a request, queueing for a password check included")
	fs.DurationVar(&opts.IdleTimeout, "idle-timeout", 120*time.Second, "how long an idle keep-alive connection stays open")
	fs.DurationVar(&opts.ShutdownTimeout, "shutdown-timeout", 25*time.Second, "how long in-flight requests may finish after SIGTERM")
	peerOpts := tokenserver.PeerOptions{PodUID: types.UID(os.Getenv("POD_UID")), PodIP: os.Getenv("POD_IP")}
	fs.StringVar(&peerOpts.Identity, "peer-identity", cmp.Or(os.Getenv("POD_NAME"), hostname()), "name of this replica's peer Lease; $POD_NAME when set, else the host name")
	fs.StringVar(&peerOpts.BindAddress, "peer-bind-address", ":8082", "address where the other replicas send login-attempt counts")
	fs.StringVar(&peerOpts.AdvertiseAddress, "peer-advertise-address", "", "host:port the other replicas reach --peer-bind-address at (default: $POD_IP and the bound port)")
	fs.DurationVar(&peerOpts.JoinTimeout, "peer-join-timeout", 10*time.Second, "how long to wait for the peers' counts before serving")
	counterOpts := attack.MemoryOptions{}
	fs.Func("attack-keys-per-tenant", fmt.Sprintf("how many failed-login counts one tenant may hold in a replica, 1-%d (default %d); past it the tenant's oldest counts that block nothing go first", attack.DefaultTenantBudget, attack.DefaultTenantBudget), func(s string) error {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > attack.DefaultTenantBudget {
			return fmt.Errorf("want a whole number from 1 to %d", attack.DefaultTenantBudget)
		}
		counterOpts.TenantBudget = n
		return nil
	})
	var serverOpts []tokenserver.Option
	fs.Func("trusted-proxies", "comma-separated CIDRs and IP addresses of the proxies in front of the token server, whose X-Forwarded-For header gives the client address that attack protection counts; none by default", func(s string) error {
		proxies, err := attack.ParseTrustedProxies(s)
		if err != nil {
			return err
		}
		serverOpts = append(serverOpts, tokenserver.WithTrustedProxies(proxies))
		return nil
	})
	refreshOpts := tokenserver.RefreshOptions{}
	fs.StringVar(&refreshOpts.Store, "refresh-token-store", tokenserver.RefreshStoreKubernetes, "where refresh token families are kept: kubernetes (RefreshTokenFamily objects in --namespace) or postgres (the database of $"+postgresDSNEnv+" or --refresh-token-postgres-dsn-file)")
	dsnFile := fs.String("refresh-token-postgres-dsn-file", "", "file holding the postgres store's connection string (a Secret's key mounted as a file); $"+postgresDSNEnv+" when unset")
	fs.IntVar(&refreshOpts.TenantQuota, "refresh-token-families-per-tenant", refresh.DefaultTenantQuota, "how many refresh token families one tenant may hold; a login past it gets no refresh token")
	memoryLimit := tokenServerMemoryLimitFlag(fs)
	ctrlconfig.RegisterFlags(fs)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}

	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	if refreshOpts.Store == tokenserver.RefreshStorePostgres {
		dsn, err := postgresDSN(*dsnFile)
		if err != nil {
			log.Error("the postgres refresh token store", "error", err)
			return 1
		}
		refreshOpts.PostgresDSN = dsn
	}
	kube, err := ctrl.GetConfig()
	if err != nil {
		log.Error("loading the Kubernetes client configuration", "error", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := tokenserver.Run(ctx, tokenserver.Config{
		Kube: kube, Namespace: *namespace, Listen: opts, Peers: peerOpts, Counters: counterOpts,
		MemoryLimit: *memoryLimit, Refresh: refreshOpts, ServerOptions: serverOpts, Log: log,
	}); err != nil {
		log.Error("token server failed", "error", err)
		return 1
	}
	return 0
}

// postgresDSNEnv is the variable that carries the postgres store's connection string,
// filled from a Secret: never a flag, whose value any process of the node may read.
const postgresDSNEnv = "GATEHOUSE_REFRESH_TOKEN_POSTGRES_DSN"

// postgresDSN reads the postgres store's connection string from file, else from
// $GATEHOUSE_REFRESH_TOKEN_POSTGRES_DSN.
func postgresDSN(file string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file) //nolint:gosec // the path is the operator's flag
		if err != nil {
			return "", err
		}
		return strings.TrimSpace(string(b)), nil
	}
	if dsn := os.Getenv(postgresDSNEnv); dsn != "" {
		return dsn, nil
	}
	return "", fmt.Errorf("no connection string: set $%s or --refresh-token-postgres-dsn-file", postgresDSNEnv)
}

func hostname() string {
	name, _ := os.Hostname()
	return name
}
