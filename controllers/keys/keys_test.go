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

package keys

import (
	"crypto"
	"crypto/rsa"
	"encoding/base64"
	"fmt"
	"io"
	"math/big"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-dev/gatehouse/tokenserver/jwt"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

var policy = Policy{Algorithm: ES256, RotationPeriod: 100 * time.Hour, MaxTokenLifetime: 10 * time.Hour}

// apply carries out a plan the way the controller does, naming generated keys k1, k2, ...
func apply(keys []Key, plan Plan, p Policy, generated *int) []Key {
	var out []Key
	for _, k := range keys {
		removed := false
		for _, r := range plan.Remove {
			removed = removed || r.KID == k.KID
		}
		if plan.Promote != nil && plan.Promote.KID == k.KID {
			k = *plan.Promote
		}
		if !removed {
			out = append(out, k)
		}
	}
	for _, nb := range plan.Generate {
		*generated++
		out = append(out, Key{KID: fmt.Sprintf("k%d", *generated), Algorithm: p.Algorithm, Bits: p.Bits, NotBefore: nb})
	}
	return out
}

func statesString(keys []Key, now time.Time) string {
	s := ""
	for _, k := range States(keys, now, policy.MaxTokenLifetime) {
		s += k.KID + "=" + k.State + " "
	}
	return s
}

func TestLifecycleWalksNextCurrentPreviousRemoved(t *testing.T) {
	generated := 0
	var keys []Key
	steps := []struct {
		at     time.Duration
		rotate bool
		want   string
	}{
		{0, false, "k1=current k2=next "},
		{99 * time.Hour, false, "k1=current k2=next "},
		{100 * time.Hour, false, "k1=previous k2=current k3=next "},
		{109 * time.Hour, false, "k1=previous k2=current k3=next "},
		{110 * time.Hour, false, "k2=current k3=next "},
		// A manual rotation promotes the published next key and publishes a new one.
		{120 * time.Hour, true, "k2=previous k3=current k4=next "},
		{130 * time.Hour, false, "k3=current k4=next "},
		// k4 becomes current a rotation period after the manual rotation.
		{220 * time.Hour, false, "k3=previous k4=current k5=next "},
	}
	for _, step := range steps {
		now := t0.Add(step.at)
		keys = apply(keys, Decide(keys, now, policy, step.rotate), policy, &generated)
		if got := statesString(keys, now); got != step.want {
			t.Fatalf("at +%v: states %q, want %q", step.at, got, step.want)
		}
		if plan := Decide(keys, now, policy, false); !plan.Empty() {
			t.Fatalf("at +%v: a second decision is not empty: %+v", step.at, plan)
		}
	}
}

func TestLateSuccessorIsPublishedAhead(t *testing.T) {
	// The controller was down for longer than the rotation period: k2 became current at
	// +100h, and at +500h its successor must still be published before it signs.
	keys := []Key{
		{KID: "k1", Algorithm: ES256, NotBefore: t0},
		{KID: "k2", Algorithm: ES256, NotBefore: t0.Add(100 * time.Hour)},
	}
	now := t0.Add(500 * time.Hour)
	plan := Decide(keys, now, policy, false)
	if len(plan.Generate) != 1 || !plan.Generate[0].Equal(now.Add(PublishAhead(policy.RotationPeriod))) {
		t.Fatalf("generate %v, want one key at now+%v", plan.Generate, PublishAhead(policy.RotationPeriod))
	}
	if len(plan.Remove) != 1 || plan.Remove[0].KID != "k1" {
		t.Fatalf("remove %v, want k1", plan.Remove)
	}
}

func TestNextKeyOfAnotherAlgorithmIsReplaced(t *testing.T) {
	keys := []Key{
		{KID: "k1", Algorithm: RS256, Bits: 2048, NotBefore: t0},
		{KID: "k2", Algorithm: RS256, Bits: 2048, NotBefore: t0.Add(100 * time.Hour)},
	}
	plan := Decide(keys, t0.Add(time.Hour), policy, false)
	if len(plan.Remove) != 1 || plan.Remove[0].KID != "k2" || len(plan.Generate) != 1 {
		t.Fatalf("plan %+v, want k2 replaced by a new next key", plan)
	}
}

func TestOnlyTheEarliestNextKeyIsKept(t *testing.T) {
	// Two controllers generated a current and a next key each at once.
	keys := []Key{
		{KID: "a1", Algorithm: ES256, NotBefore: t0},
		{KID: "b1", Algorithm: ES256, NotBefore: t0.Add(time.Millisecond)},
		{KID: "a2", Algorithm: ES256, NotBefore: t0.Add(100 * time.Hour)},
		{KID: "b2", Algorithm: ES256, NotBefore: t0.Add(100*time.Hour + time.Millisecond)},
	}
	plan := Decide(keys, t0.Add(time.Second), policy, false)
	if len(plan.Remove) != 1 || plan.Remove[0].KID != "b2" || plan.Promote != nil || len(plan.Generate) != 0 {
		t.Fatalf("plan %+v, want b2 removed and nothing else", plan)
	}
}

func TestSecondRotationWithinASecond(t *testing.T) {
	// z was made current by a rotation at now; a second rotation at the same instant
	// promotes a, whose kid sorts first.
	now := t0.Add(time.Hour)
	keys := []Key{
		{KID: "z", Algorithm: ES256, NotBefore: now},
		{KID: "a", Algorithm: ES256, NotBefore: now.Add(100 * time.Hour)},
	}
	generated := 0
	keys = apply(keys, Decide(keys, now, policy, true), policy, &generated)
	if got, want := statesString(keys, now), "z=current a=next "; got != want {
		t.Fatalf("at once: states %q, want %q (a becomes current a second later)", got, want)
	}
	later := now.Add(time.Second)
	keys = apply(keys, Decide(keys, later, policy, false), policy, &generated)
	if got, want := statesString(keys, later), "z=previous a=current k1=next "; got != want {
		t.Fatalf("a second later: states %q, want %q", got, want)
	}
}

func TestNextTransition(t *testing.T) {
	keys := []Key{
		{KID: "k1", NotBefore: t0},
		{KID: "k2", NotBefore: t0.Add(100 * time.Hour)},
		{KID: "k3", NotBefore: t0.Add(200 * time.Hour)},
	}
	now := t0.Add(105 * time.Hour)
	if got := NextTransition(States(keys, now, policy.MaxTokenLifetime), now); got != 5*time.Hour {
		t.Fatalf("next transition in %v, want 5h (k1 removed)", got)
	}
}

func TestKeysRoundTrip(t *testing.T) {
	for _, alg := range []string{RS256, PS256, ES256} {
		key, err := Generate(alg, 0)
		if err != nil {
			t.Fatal(err)
		}
		pemBytes, err := EncodePEM(key)
		if err != nil {
			t.Fatal(err)
		}
		parsed, err := jwt.ParsePrivateKey(pemBytes, jose.SignatureAlgorithm(alg))
		if err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		kid1, _ := KID(key)
		kid2, _ := KID(parsed)
		if kid1 == "" || kid1 != kid2 {
			t.Fatalf("%s: kid %q after a round trip, want %q", alg, kid2, kid1)
		}
		wrong := ES256
		if alg == ES256 {
			wrong = RS256
		}
		if _, err := jwt.ParsePrivateKey(pemBytes, jose.SignatureAlgorithm(wrong)); err == nil {
			t.Fatalf("a %s key parsed as %s", alg, wrong)
		}
	}
}

// TestKIDIsRFC7638Thumbprint checks the kid against the example of RFC 7638 section 3.1.
func TestKIDIsRFC7638Thumbprint(t *testing.T) {
	const want = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
	n := "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
	raw, err := base64URLDecode(n)
	if err != nil {
		t.Fatal(err)
	}
	got, err := KID(rsaPublicOnly(raw, 65537))
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("kid %q, want %q", got, want)
	}
}

func base64URLDecode(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }

// publicOnly is a crypto.Signer that only knows its public half, enough for KID.
type publicOnly struct{ pub crypto.PublicKey }

func (p publicOnly) Public() crypto.PublicKey { return p.pub }
func (publicOnly) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	panic("not a private key")
}

func rsaPublicOnly(n []byte, e int) crypto.Signer {
	return publicOnly{&rsa.PublicKey{N: new(big.Int).SetBytes(n), E: e}}
}
