package adfs_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/gatehouse-dev/gatehouse/tokenserver/connector"
	"github.com/gatehouse-dev/gatehouse/tokenserver/connector/adfs"
	"github.com/gatehouse-dev/gatehouse/tokenserver/connector/adfs/adfstest"
	"github.com/gatehouse-dev/gatehouse/tokenserver/connector/profiles"
	"github.com/gatehouse-dev/gatehouse/tokenserver/connector/upstream"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
	"github.com/gatehouse-dev/gatehouse/tokenserver/tokentest"
)

// The tests run against adfstest's stand-in, not a real ADFS; adfstest cites where the
// shape of each of its answers comes from.

const (
	relyingParty = "urn:gatehouse:test"
	clientID     = "7f6d9a1e-gatehouse"
	aliceUPN     = "alice@corp.example"
)

var modes = []string{snapshot.ADFSModeWSTrust, snapshot.ADFSModeOAuth2}

type fixture struct {
	adfs     *adfstest.Server
	password string
	offset   atomic.Int64 // added to the connector's clock
}

func start(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{adfs: adfstest.Start(t, relyingParty, clientID, tokentest.Random(t)), password: tokentest.Random(t)}
	f.adfs.AddUser(aliceUPN, adfstest.User{Password: f.password, Claims: map[string][]string{
		adfstest.ClaimUPN:   {aliceUPN},
		adfstest.ClaimEmail: {"alice@example.com"},
		adfstest.ClaimName:  {"Alice Example"},
		adfstest.ClaimGroup: {"Staff", "Sales"},
	}})
	return f
}

func (f *fixture) config(mode string) snapshot.ADFS {
	return snapshot.ADFS{URL: f.adfs.URL(), RelyingParty: relyingParty, Mode: mode, ClientID: clientID,
		ClientSecret: f.adfs.ClientSecret, CAPEM: f.adfs.CAPEM(), Timeout: time.Second, Claims: snapshot.DefaultADFSClaims(mode)}
}

func (f *fixture) connector(t *testing.T, cfg snapshot.ADFS) *adfs.Connector {
	t.Helper()
	c, err := adfs.New("corp-adfs", cfg, profiles.New().Open("tenant-uid", "corp-adfs"), adfs.WithClock(func() time.Time { return time.Now().Add(time.Duration(f.offset.Load())) }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestLoginReadsTheVerifiedClaims(t *testing.T) {
	f := start(t)
	for _, tc := range []struct {
		name, mode string
		answers    adfstest.Answers
	}{
		{"wsTrust with a SAML 1.1 assertion", snapshot.ADFSModeWSTrust, adfstest.Answers{}},
		{"wsTrust with a SAML 2.0 assertion", snapshot.ADFSModeWSTrust, adfstest.Answers{SAML2: true}},
		{"oauth2", snapshot.ADFSModeOAuth2, adfstest.Answers{}},
		// Canonicalisation drops comments, so the signature still verifies; a reader
		// that stopped at the comment would read another user (the attack of
		// CVE-2017-11427 and its kin).
		{"wsTrust with a comment inside a signed claim", snapshot.ADFSModeWSTrust, adfstest.Answers{TamperRSTR: splitUPN}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.adfs.SetAnswers(tc.answers)
			got, err := f.connector(t, f.config(tc.mode)).Login(context.Background(), aliceUPN, f.password)
			if err != nil {
				t.Fatalf("Login: %v", err)
			}
			if tc.mode == snapshot.ADFSModeOAuth2 {
				// sub is ADFS's pairwise identifier: opaque, not the UPN.
				if got.UserID == "" || got.UserID == aliceUPN {
					t.Errorf("UserID = %q, want the id_token's sub", got.UserID)
				}
			} else if got.UserID != aliceUPN {
				t.Errorf("UserID = %q, want the UPN", got.UserID)
			}
			if got.Username != aliceUPN || got.Email != "alice@example.com" || got.Name != "Alice Example" ||
				!slices.Equal(got.Groups, []string{"Staff", "Sales"}) {
				t.Errorf("identity = %+v", got)
			}
		})
	}
}

func TestLoginIsStableAcrossLogins(t *testing.T) {
	f := start(t)
	c := f.connector(t, f.config(snapshot.ADFSModeOAuth2))
	first, err := c.Login(context.Background(), aliceUPN, f.password)
	if err != nil {
		t.Fatal(err)
	}
	// UPNs are case-insensitive at ADFS; the user is the same.
	second, err := c.Login(context.Background(), strings.ToUpper(aliceUPN), f.password)
	if err != nil || second.UserID != first.UserID {
		t.Fatalf("second login: %v, UserID %q, want %q", err, second.UserID, first.UserID)
	}
}

func TestRefusedCredentials(t *testing.T) {
	f := start(t)
	for _, mode := range modes {
		c := f.connector(t, f.config(mode))
		for name, creds := range map[string][2]string{
			"wrong password": {aliceUPN, f.password + "x"},
			"unknown user":   {"nobody@corp.example", f.password},
		} {
			t.Run(mode+"/"+name, func(t *testing.T) {
				_, err := c.Login(context.Background(), creds[0], creds[1])
				if !errors.Is(err, connector.ErrInvalidCredentials) {
					t.Fatalf("Login error = %v, want ErrInvalidCredentials", err)
				}
			})
		}
	}
}

func TestUnavailableADFS(t *testing.T) {
	for _, mode := range modes {
		for _, tc := range []struct {
			name    string
			answers adfstest.Answers
		}{
			{"503", adfstest.Answers{Status: 503}},
			{"500 without a SOAP fault or OAuth error", adfstest.Answers{Status: 500}},
			{"slower than the timeout", adfstest.Answers{Delay: 3 * time.Second}},
		} {
			t.Run(mode+"/"+tc.name, func(t *testing.T) {
				f := start(t)
				f.adfs.SetAnswers(tc.answers)
				began := time.Now()
				_, err := f.connector(t, f.config(mode)).Login(context.Background(), aliceUPN, f.password)
				if !errors.Is(err, connector.ErrUnavailable) {
					t.Fatalf("Login error = %v, want ErrUnavailable", err)
				}
				if elapsed := time.Since(began); elapsed > 2500*time.Millisecond {
					t.Errorf("Login took %v with a 1s timeout", elapsed)
				}
			})
		}
	}
	t.Run("down", func(t *testing.T) {
		f := start(t)
		cfg := f.config(snapshot.ADFSModeWSTrust)
		c := f.connector(t, cfg)
		f.adfs.Close()
		if _, err := c.Login(context.Background(), aliceUPN, f.password); !errors.Is(err, connector.ErrUnavailable) {
			t.Fatalf("Login error = %v, want ErrUnavailable", err)
		}
	})
}

// TestUntrustedAnswersAreRefused plays an ADFS, or a network between, whose answers
// must not be believed: each is ErrUnavailable (the user did nothing wrong), and none
// logs anyone in.
func TestUntrustedAnswersAreRefused(t *testing.T) {
	other := adfstest.NewKey(t)
	for _, tc := range []struct {
		name    string
		mode    string
		answers adfstest.Answers
	}{
		{"an unsigned assertion", snapshot.ADFSModeWSTrust, adfstest.Answers{Unsigned: true}},
		{"an assertion signed by an unpublished key", snapshot.ADFSModeWSTrust, adfstest.Answers{SignWith: &other}},
		{"a SAML 2.0 assertion signed by an unpublished key", snapshot.ADFSModeWSTrust, adfstest.Answers{SAML2: true, SignWith: &other}},
		{"an expired assertion", snapshot.ADFSModeWSTrust, adfstest.Answers{Lifetime: -2*time.Minute - 3*time.Second - time.Minute}},
		{"an expired SAML 2.0 assertion", snapshot.ADFSModeWSTrust, adfstest.Answers{SAML2: true, Lifetime: -5 * time.Minute}},
		{"an assertion for another relying party", snapshot.ADFSModeWSTrust, adfstest.Answers{Audience: "urn:another:app"}},
		{"an unsigned assertion beside the signed one", snapshot.ADFSModeWSTrust, adfstest.Answers{TamperRSTR: injectBeside}},
		{"the signed assertion inside an unsigned one", snapshot.ADFSModeWSTrust, adfstest.Answers{TamperRSTR: wrapInside}},
		{"the signature moved into an unsigned assertion with the signed one's ID", snapshot.ADFSModeWSTrust, adfstest.Answers{TamperRSTR: moveSignature}},
		{"a changed claim in the signed assertion", snapshot.ADFSModeWSTrust, adfstest.Answers{TamperRSTR: func(d *etree.Document) { setUPN(signedAssertion(d), "mallory@corp.example") }}},
		{"an id_token signed by an unpublished key", snapshot.ADFSModeOAuth2, adfstest.Answers{SignWith: &other}},
		{"an id_token for another audience", snapshot.ADFSModeOAuth2, adfstest.Answers{Audience: "another-client"}},
		{"an expired id_token", snapshot.ADFSModeOAuth2, adfstest.Answers{Lifetime: -5 * time.Minute}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := start(t)
			f.adfs.SetAnswers(tc.answers)
			got, err := f.connector(t, f.config(tc.mode)).Login(context.Background(), aliceUPN, f.password)
			if !errors.Is(err, connector.ErrUnavailable) {
				t.Fatalf("Login = %+v, %v; want ErrUnavailable", got, err)
			}
		})
	}
}

// signedAssertion is the assertion of an RSTR.
func signedAssertion(d *etree.Document) *etree.Element {
	return d.FindElement("//RequestedSecurityToken/Assertion")
}

func setUPN(assertion *etree.Element, upn string) {
	for _, attr := range assertion.FindElements(".//Attribute") {
		if attr.SelectAttrValue("AttributeName", "") == "upn" {
			attr.FindElement("AttributeValue").SetText(upn)
		}
	}
}

// splitUPN puts a comment inside the signed UPN: alice@corp<!---->.example.
func splitUPN(d *etree.Document) {
	for _, attr := range signedAssertion(d).FindElements(".//Attribute") {
		if attr.SelectAttrValue("AttributeName", "") == "upn" {
			value := attr.FindElement("AttributeValue")
			value.SetText(strings.TrimSuffix(aliceUPN, ".example"))
			value.CreateComment("")
			value.AddChild(etree.NewText(".example"))
		}
	}
}

// unsignedCopy is a copy of the signed assertion without its signature, naming mallory.
func unsignedCopy(signed *etree.Element) *etree.Element {
	evil := signed.Copy()
	evil.RemoveChild(evil.FindElement("Signature"))
	setUPN(evil, "mallory@corp.example")
	return evil
}

func injectBeside(d *etree.Document) {
	signed := signedAssertion(d)
	evil := unsignedCopy(signed)
	evil.CreateAttr("AssertionID", "_evil")
	signed.Parent().InsertChildAt(0, evil)
}

func wrapInside(d *etree.Document) {
	signed := signedAssertion(d)
	token := signed.Parent()
	evil := unsignedCopy(signed)
	token.RemoveChild(signed)
	evil.FindElement("AttributeStatement").AddChild(signed)
	token.AddChild(evil)
}

func moveSignature(d *etree.Document) {
	signed := signedAssertion(d)
	token := signed.Parent()
	evil := unsignedCopy(signed)
	sig := signed.FindElement("Signature")
	signed.RemoveChild(sig)
	evil.AddChild(sig)
	token.RemoveChild(signed)
	token.AddChild(evil)
}

// TestSigningKeyRotation checks that a new token-signing key is picked up without a
// restart: ADFS's federation metadata is read again when an assertion does not verify
// (at most once per interval), its JWKS when an id_token's kid is unknown.
func TestSigningKeyRotation(t *testing.T) {
	t.Run(snapshot.ADFSModeWSTrust, func(t *testing.T) {
		f := start(t)
		c := f.connector(t, f.config(snapshot.ADFSModeWSTrust))
		login := func() error { _, err := c.Login(context.Background(), aliceUPN, f.password); return err }
		if err := login(); err != nil {
			t.Fatal(err)
		}
		fetched := f.adfs.Requests(adfs.MetadataPath)

		// A rollover that publishes the new certificate beside the old one ahead.
		next := adfstest.NewKey(t)
		f.adfs.RotateSigningKey(next, true)
		f.offset.Add(int64(time.Minute))
		if err := login(); err != nil {
			t.Fatalf("after a rollover: %v", err)
		}
		if got := f.adfs.Requests(adfs.MetadataPath); got != fetched+1 {
			t.Errorf("metadata read %d times more, want once", got-fetched)
		}

		// The old certificate withdrawn, a new one at once: the metadata read a
		// moment ago is not read again yet, so the assertion is refused…
		f.adfs.RotateSigningKey(adfstest.NewKey(t), false)
		if err := login(); !errors.Is(err, connector.ErrUnavailable) {
			t.Fatalf("within the refresh interval: %v, want ErrUnavailable", err)
		}
		// …and accepted once the interval has passed.
		f.offset.Add(int64(time.Minute))
		if err := login(); err != nil {
			t.Fatalf("after the refresh interval: %v", err)
		}
	})
	t.Run(snapshot.ADFSModeOAuth2, func(t *testing.T) {
		f := start(t)
		c := f.connector(t, f.config(snapshot.ADFSModeOAuth2))
		if _, err := c.Login(context.Background(), aliceUPN, f.password); err != nil {
			t.Fatal(err)
		}
		f.adfs.RotateSigningKey(adfstest.NewKey(t), false)
		if _, err := c.Login(context.Background(), aliceUPN, f.password); err != nil {
			t.Fatalf("after a rotation: %v", err)
		}
	})
}

func TestCheck(t *testing.T) {
	f := start(t)
	for _, mode := range modes {
		if err := adfs.Check(context.Background(), f.config(mode)); err != nil {
			t.Errorf("Check(%s): %v", mode, err)
		}
	}
	f.adfs.SetAnswers(adfstest.Answers{Status: 404})
	for _, mode := range modes {
		if err := adfs.Check(context.Background(), f.config(mode)); err == nil || !strings.Contains(err.Error(), "404") {
			t.Errorf("Check(%s) of a missing document = %v", mode, err)
		}
	}
}

// TestHostileConnection plays a namespace user whose Connection names the cloud
// metadata service, or an ADFS that answers a huge federation metadata document.
func TestHostileConnection(t *testing.T) {
	f := start(t)
	for _, mode := range modes {
		cfg := f.config(mode)
		cfg.URL, cfg.CAPEM = "https://169.254.169.254", ""
		if err := adfs.Check(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "link-local") {
			t.Errorf("Check(%s) of the metadata service = %v, want it refused", mode, err)
		}
		if _, err := f.connector(t, cfg).Login(context.Background(), aliceUPN, f.password); !errors.Is(err, connector.ErrUnavailable) || !strings.Contains(err.Error(), "link-local") {
			t.Errorf("Login(%s) through the metadata service = %v, want it refused", mode, err)
		}
	}
	f.adfs.SetAnswers(adfstest.Answers{MetadataPadding: upstream.MaxBody})
	cfg := f.config(snapshot.ADFSModeWSTrust)
	if err := adfs.Check(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("Check of a huge metadata document = %v", err)
	}
	if _, err := f.connector(t, cfg).Login(context.Background(), aliceUPN, f.password); !errors.Is(err, connector.ErrUnavailable) {
		t.Errorf("Login with a huge metadata document = %v", err)
	}
}
