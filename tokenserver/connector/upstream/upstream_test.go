package upstream

import (
	"context"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func tlsServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, string) {
	t.Helper()
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	return srv, string(ca)
}

func TestClientPolicy(t *testing.T) {
	srv, ca := tlsServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/redirect":
			http.Redirect(w, r, "/ok", http.StatusFound)
		case "/big":
			_, _ = w.Write([]byte(strings.Repeat("x", MaxBody+1)))
		case "/missing":
			http.NotFound(w, r)
		default:
			_, _ = w.Write([]byte(`{"ok":true}`))
		}
	})
	client, err := NewClient(Options{CAPEM: ca})
	if err != nil {
		t.Fatal(err)
	}
	plainHTTP := "http" + strings.TrimPrefix(srv.URL, "https")
	tests := []struct {
		name, url, wantErr string
	}{
		{"trusted through the CA bundle", srv.URL + "/ok", ""},
		{"a redirect is not followed", srv.URL + "/redirect", ErrRedirect.Error()},
		{"a body past the bound", srv.URL + "/big", "larger than"},
		{"a status other than 200", srv.URL + "/missing", "HTTP 404"},
		{"plain http", plainHTTP + "/ok", "only https"},
		{"the metadata service", "https://169.254.169.254/latest/meta-data/", "link-local"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, err := Get(context.Background(), client, tt.url)
			if tt.wantErr == "" {
				if err != nil || string(body) != `{"ok":true}` {
					t.Fatalf("Get = %q, %v; want the body", body, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Get error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestClientBoundsBodiesReadWhole checks the bound for libraries that read an answer
// whole with the client (go-oidc's key set does), not through ReadBody.
func TestClientBoundsBodiesReadWhole(t *testing.T) {
	srv, ca := tlsServer(t, func(w http.ResponseWriter, r *http.Request) {
		n := MaxBody
		if r.URL.Path == "/big" {
			n++
		}
		_, _ = w.Write([]byte(strings.Repeat("x", n)))
	})
	client, err := NewClient(Options{CAPEM: ca})
	if err != nil {
		t.Fatal(err)
	}
	for path, wantErr := range map[string]bool{"/exact": false, "/big": true} {
		resp, err := client.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		switch {
		case wantErr && (err == nil || !strings.Contains(err.Error(), "larger than")):
			t.Errorf("%s: read %d bytes, error %v; want an error past %d bytes", path, len(body), err, MaxBody)
		case !wantErr && (err != nil || len(body) != MaxBody):
			t.Errorf("%s: read %d bytes, error %v; want all %d", path, len(body), err, MaxBody)
		}
	}
}

func TestClientRefusesAnUntrustedCertificate(t *testing.T) {
	srv, _ := tlsServer(t, func(w http.ResponseWriter, _ *http.Request) {})
	client, err := NewClient(Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Get(context.Background(), client, srv.URL)
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("Get error = %v, want a certificate error", err)
	}
}

func TestNewClientRefusesAnEmptyCABundle(t *testing.T) {
	if _, err := NewClient(Options{CAPEM: "not a certificate"}); err == nil {
		t.Fatal("NewClient accepted a CA bundle without a certificate")
	}
}

func TestForbidden(t *testing.T) {
	tests := map[string]bool{
		"169.254.169.254": true,
		"fe80::1":         true,
		"0.0.0.0":         true,
		"::":              true,
		"224.0.0.1":       true,
		"127.0.0.1":       false,
		"10.0.0.7":        false,
		"2001:db8::1":     false,
	}
	for addr, want := range tests {
		if got := forbidden(net.ParseIP(addr)); got != want {
			t.Errorf("forbidden(%s) = %v, want %v", addr, got, want)
		}
	}
}

func TestCheckURL(t *testing.T) {
	tests := map[string]string{
		"https://login.example/tenant": "",
		"http://login.example":         "https://",
		"https://":                     "host",
		"https://u:p@login.example":    "user name",
		"https://login.example/#x":     "fragment",
	}
	for raw, want := range tests {
		err := CheckURL(raw)
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("CheckURL(%q) = %v, want %q", raw, err, want)
		}
	}
}
