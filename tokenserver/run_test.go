package tokenserver

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/gatehouse-dev/gatehouse/test/kubetest"
	"github.com/gatehouse-dev/gatehouse/test/proctest"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
	"github.com/gatehouse-dev/gatehouse/tokenserver/tokentest"
)

// TestRun runs a replica as it runs in a cluster, with the credentials of a
// ServiceAccount limited to its namespace, and gets a token from a snapshot written
// there; ending the context stops it cleanly.
func TestRun(t *testing.T) {
	env, err := kubetest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := env.Stop(); err != nil {
			t.Error(err)
		}
	}()
	ctx := context.Background()
	const ns = snapshot.DefaultNamespace
	kube := tokentest.TokenServerConfig(t, env.Client, env.Config, ns)

	addr, opsAddr := proctest.MustFreeAddress(t), proctest.MustFreeAddress(t)
	key := tokentest.NewKey(t, "k1", "RS256", "current")
	ft := tokentest.NewTenant(t, "uid-acme", "team-a", "acme", "http://"+addr+"/team-a/acme/", "", bcrypt.MinCost, key)
	for _, s := range append(tokentest.SnapshotSecrets(t, ns, ft.Snapshot), tokentest.KeySecret(ns, "uid-acme", key)) {
		if err := env.Client.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	exit := make(chan error, 1)
	go func() {
		exit <- Run(ctx, Config{
			Kube: kube, Namespace: ns, MemoryLimit: 512 << 20, Log: slog.New(slog.DiscardHandler),
			Listen: ListenOptions{BindAddress: addr, MetricsBindAddress: opsAddr, ShutdownTimeout: 5 * time.Second},
			Peers:  PeerOptions{BindAddress: "127.0.0.1:0", Identity: "replica-1", JoinTimeout: 5 * time.Second},
		})
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
		case err := <-exit:
			t.Fatalf("the token server stopped before it was ready: %v", err)
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

	cancel()
	if err := <-exit; err != nil {
		t.Errorf("stopping: %v", err)
	}
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
