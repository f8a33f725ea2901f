package ldap_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	goldap "github.com/go-ldap/ldap/v3"

	"github.com/gatehouse-dev/gatehouse/tokenserver/connector"
)

// TestRefusalsCostTheSameRoundTrips counts the operations each refused login sends the
// directory, through a proxy that reads them: an unknown user, or a name that matches
// several entries, costs a search and a bind, as a wrong password does.
func TestRefusalsCostTheSameRoundTrips(t *testing.T) {
	proxy := newOpsProxy(t, strings.TrimPrefix(directory.LDAPURL, "ldap://"))
	cfg := config("ldap://" + proxy.addr)
	cfg.InsecureNoTLS, cfg.CAPEM = true, ""
	c := newConnector(t, cfg)
	login := func(username string) []string {
		proxy.reset()
		if _, err := c.Login(context.Background(), username, "wrong"); !errors.Is(err, connector.ErrInvalidCredentials) {
			t.Fatalf("Login(%q) = %v, want ErrInvalidCredentials", username, err)
		}
		return proxy.reset()
	}
	login("alice") // opens the pooled connections, binding the service one
	want := login("alice")
	if !slices.Equal(want, []string{"Search Request", "Bind Request"}) {
		t.Fatalf("a wrong password sent %v, want a search and a bind", want)
	}
	for _, username := range []string{"nobody", "twins@example.org"} {
		if got := login(username); !slices.Equal(got, want) {
			t.Errorf("refusing %q sent %v, want %v as for a wrong password", username, got, want)
		}
	}
}

// TestUnknownUserTakesAsLongAsAWrongPassword compares, over interleaved samples, how
// long an unknown user and a known user's wrong password take to be refused, as the
// database connector's test does. Without the decoy bind an unknown user is refused in
// less than half the time; with it, the difference left is the directory returning the
// known user's entry (smallest without the groups attribute, which this leaves out).
func TestUnknownUserTakesAsLongAsAWrongPassword(t *testing.T) {
	const samples = 101
	cfg := config(directory.LDAPSURL)
	cfg.Attributes.Groups = ""
	c := newConnector(t, cfg)
	took := func(username string) time.Duration {
		start := time.Now()
		if _, err := c.Login(context.Background(), username, "wrong"); !errors.Is(err, connector.ErrInvalidCredentials) {
			t.Fatalf("Login(%q) = %v, want ErrInvalidCredentials", username, err)
		}
		return time.Since(start)
	}
	took("alice") // opens the pooled connections
	var known, unknown []time.Duration
	for i := range samples {
		known = append(known, took("alice"))
		unknown = append(unknown, took("nobody-"+strconv.Itoa(i)))
	}
	k, u := median(known), median(unknown)
	t.Logf("median refusal: known user with a wrong password %v, unknown user %v", k, u)
	if u < k*2/3 || u > k*3/2 {
		t.Errorf("median refusal of an unknown user %v, of a wrong password %v: not within a factor of 1.5", u, k)
	}
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// opsProxy forwards plain LDAP to a directory and records the operations clients send.
type opsProxy struct {
	addr string

	mu  sync.Mutex
	ops []string
}

func newOpsProxy(t *testing.T, upstream string) *opsProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	p := &opsProxy{addr: l.Addr().String()}
	go func() {
		for {
			client, err := l.Accept()
			if err != nil {
				return
			}
			go p.forward(client, upstream)
		}
	}()
	return p
}

func (p *opsProxy) forward(client net.Conn, upstream string) {
	defer client.Close()
	server, err := net.Dial("tcp", upstream)
	if err != nil {
		return
	}
	defer server.Close()
	go func() { _, _ = io.Copy(client, server) }()
	// Each request is recorded before it is forwarded, so before its answer.
	var request bytes.Buffer
	for {
		request.Reset()
		packet, err := ber.ReadPacket(io.TeeReader(client, &request))
		if err != nil {
			return
		}
		if len(packet.Children) > 1 {
			p.mu.Lock()
			p.ops = append(p.ops, goldap.ApplicationMap[uint8(packet.Children[1].Tag)])
			p.mu.Unlock()
		}
		if _, err := server.Write(request.Bytes()); err != nil {
			return
		}
	}
}

// reset returns the operations recorded since the last reset.
func (p *opsProxy) reset() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	ops := p.ops
	p.ops = nil
	return ops
}
