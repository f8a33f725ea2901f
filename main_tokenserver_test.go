package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/gatehouse-dev/gatehouse/internal/testenv"
	"github.com/gatehouse-dev/gatehouse/tokenserver/tokentest"
)

// TestTokenServerCommand runs `gatehouse tokenserver` as it runs in a cluster, with a
// kubeconfig whose credentials are those of a ServiceAccount limited to its namespace,
// and gets a token from a snapshot written there; SIGTERM stops it cleanly.
func TestTokenServerCommand(t *testing.T) {
	env, err := testenv.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := env.Stop(); err != nil {
			t.Error(err)
		}
	}()
	ctx := context.Background()
	const ns, sa = "gatehouse-system", "gatehouse-tokenserver"
	for _, obj := range tokentest.TokenServerRBAC(ns, sa) {
		if err := env.Client.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	kubeconfig := writeKubeconfig(t, env, tokentest.ServiceAccountUser(ns, sa), tokentest.ServiceAccountGroups(ns))

	addr, opsAddr := freeAddress(t), freeAddress(t)
	key := tokentest.NewKey(t, "k1", "RS256", "current")
	ft := tokentest.NewTenant(t, "uid-acme", "team-a", "acme", "http://"+addr+"/team-a/acme/", "", bcrypt.MinCost, key)
	for _, s := range append(tokentest.SnapshotSecrets(t, ns, ft.Snapshot), tokentest.KeySecret(ns, "uid-acme", key)) {
		if err := env.Client.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
	}

	exit := make(chan int, 1)
	go func() {
		exit <- runTokenServer([]string{"--kubeconfig", kubeconfig, "--namespace", ns,
			"--bind-address", addr, "--metrics-bind-address", opsAddr, "--peer-bind-address", "127.0.0.1:0"})
	}()
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := http.Get("http://" + opsAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case code := <-exit:
			t.Fatalf("the token server exited with %d before it was ready", code)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the token server did not become ready")
		}
		time.Sleep(50 * time.Millisecond)
	}

	resp, err := http.PostForm(ft.Snapshot.Issuer+"oauth/token", url.Values{"grant_type": {"password"}, "client_id": {tokentest.Confidential},
		"client_secret": {ft.ConfidentialSecret}, "username": {tokentest.Alice}, "password": {ft.AlicePassword}})
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || body["access_token"] == nil {
		t.Fatalf("token request: %d %v", resp.StatusCode, body["error"])
	}

	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := <-exit; code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
}

func writeKubeconfig(t *testing.T, env *testenv.Env, user string, groups []string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := env.WriteKubeConfig(path, user, groups); err != nil {
		t.Fatal(err)
	}
	return path
}

func freeAddress(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func TestAdvertiseAddress(t *testing.T) {
	for _, tc := range []struct {
		flag, podIP, bound, want string
	}{
		{flag: "peer.example:9000", podIP: "10.0.0.7", bound: "0.0.0.0:8082", want: "peer.example:9000"},
		{podIP: "10.0.0.7", bound: "0.0.0.0:8082", want: "10.0.0.7:8082"},
		{podIP: "fd00::7", bound: "[::]:8082", want: "[fd00::7]:8082"},
		{bound: "127.0.0.2:41000", want: "127.0.0.2:41000"},
		{bound: "[::]:8082", want: "127.0.0.1:8082"},
	} {
		bound, err := net.ResolveTCPAddr("tcp", tc.bound)
		if err != nil {
			t.Fatal(err)
		}
		if got := advertiseAddress(tc.flag, tc.podIP, bound); got != tc.want {
			t.Errorf("advertiseAddress(%q, %q, %s) = %q, want %q", tc.flag, tc.podIP, tc.bound, got, tc.want)
		}
	}
}

func TestTokenServerRefusesUntrustworthyProxies(t *testing.T) {
	for _, value := range []string{"ingress.local", "10.0.0.0/33", "10.0.0.1:80"} {
		if code := runTokenServer([]string{"--trusted-proxies=" + value}); code != 2 {
			t.Errorf("--trusted-proxies=%s: exit code %d, want 2 (usage)", value, code)
		}
	}
}
