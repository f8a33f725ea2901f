package tokenserver

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-dev/gatehouse/tokenserver/store"
)

// serveInBackground runs ServeListeners on loopback until the returned cancel is
// called, and returns the main and operations addresses and the result of Serve.
func serveInBackground(t *testing.T, opts ListenOptions, handler http.Handler, st *store.Store, registry *prometheus.Registry) (mainAddr, opsAddr string, cancel context.CancelFunc, done <-chan error) {
	t.Helper()
	mainL, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	opsL, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	result := make(chan error, 1)
	go func() {
		result <- ServeListeners(ctx, opts, mainL, opsL, handler, st, registry, slog.New(slog.DiscardHandler))
		close(result) // the test and the cleanup may both wait
	}()
	t.Cleanup(func() {
		cancel()
		<-result //nolint:errcheck // the tests that care read the result themselves
	})
	return mainL.Addr().String(), opsL.Addr().String(), cancel, result
}

func testListenOptions() ListenOptions {
	return ListenOptions{ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second,
		IdleTimeout: time.Minute, ShutdownTimeout: 10 * time.Second, CertReloadInterval: 10 * time.Millisecond}
}

func TestGracefulShutdownFinishesInFlightRequests(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	slow := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		close(started)
		<-release
		_, _ = io.WriteString(w, "finished")
	})
	addr, _, cancel, done := serveInBackground(t, testListenOptions(), slow, store.New(), prometheus.NewRegistry())

	type answer struct {
		body string
		err  error
	}
	answers := make(chan answer, 1)
	go func() {
		resp, err := http.Get("http://" + addr + "/")
		if err != nil {
			answers <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		answers <- answer{string(b), err}
	}()
	<-started
	cancel()
	// Shutdown closes the listener before waiting for in-flight requests.
	for {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			break
		}
		conn.Close()
		time.Sleep(5 * time.Millisecond)
	}
	close(release)
	if a := <-answers; a.err != nil || a.body != "finished" {
		t.Errorf("in-flight request: %q, %v", a.body, a.err)
	}
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
}

func TestOperationsEndpoints(t *testing.T) {
	st := store.New()
	metrics := NewMetrics()
	registry := prometheus.NewRegistry()
	registry.MustRegister(metrics.Collectors()...)
	addr, ops, _, _ := serveInBackground(t, testListenOptions(), NewServer(st, slog.New(slog.DiscardHandler), metrics), st, registry)

	get := func(url string) (int, string) {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("http://" + ops + "/healthz"); code != http.StatusOK {
		t.Errorf("healthz: %d", code)
	}
	if code, _ := get("http://" + ops + "/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("readyz before snapshots: %d", code)
	}
	st.Publish(nil)
	if code, _ := get("http://" + ops + "/readyz"); code != http.StatusOK {
		t.Errorf("readyz after snapshots: %d", code)
	}
	get("http://" + addr + "/team-a/acme/oauth/token")
	if _, body := get("http://" + ops + "/metrics"); !strings.Contains(body, "gatehouse_tokenserver_requests_total") {
		t.Errorf("metrics lack the request counter:\n%s", body)
	}
}

func TestTLSCertificateReload(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	roots := x509.NewCertPool()
	writeCert := func(serial int64) {
		certPEM, keyPEM := selfSigned(t, serial)
		roots.AppendCertsFromPEM(certPEM)
		// As a mounted Secret changes: both files, then the reloader notices.
		if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeCert(1)
	opts := testListenOptions()
	opts.TLSCertFile, opts.TLSKeyFile = certFile, keyFile
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	addr, _, _, _ := serveInBackground(t, opts, ok, store.New(), prometheus.NewRegistry())

	servedSerial := func() int64 {
		conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: "localhost"})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
	}
	if got := servedSerial(); got != 1 {
		t.Fatalf("serving certificate %d, want 1", got)
	}
	if resp, err := http.Get("http://" + addr + "/"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Errorf("plain HTTP is served next to HTTPS")
		}
	}

	writeCert(2)
	deadline := time.Now().Add(10 * time.Second)
	for servedSerial() != 2 {
		if time.Now().After(deadline) {
			t.Fatal("the renewed certificate is not served")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func selfSigned(t *testing.T, serial int64) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
}
