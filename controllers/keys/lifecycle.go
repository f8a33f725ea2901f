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
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

// maxPublishAhead caps PublishAhead for long rotation periods.
const maxPublishAhead = 24 * time.Hour

// Key is what the lifecycle needs to know of one stored key.
type Key struct {
	KID       string
	Algorithm string
	// Bits is the RSA modulus size, 0 for other keys.
	Bits int
	// NotBefore is when the key becomes, or became, current.
	NotBefore time.Time
}

// Policy is what a Tenant asks of its keys.
type Policy struct {
	Algorithm string
	// Bits is the RSA modulus size for RS256 and PS256; 0 for ES256.
	Bits           int
	RotationPeriod time.Duration
	// MaxTokenLifetime is the longest lifetime of any token the Tenant issues: a previous
	// key stays published this long after it stopped signing.
	MaxTokenLifetime time.Duration
}

// PublishAhead is the least time a key is published before it becomes current:
// a quarter of the rotation period, at most a day. A next key is normally generated a
// whole rotation period ahead; this bound matters when the controller was down past a
// transition and the successor of the current key has to be generated late.
func PublishAhead(rotationPeriod time.Duration) time.Duration {
	return min(rotationPeriod/4, maxPublishAhead)
}

// StatedKey is a key with its state at some instant.
type StatedKey struct {
	Key
	State string
	// NotAfter is when a previous key is removed; zero for next and current keys.
	NotAfter time.Time
}

// States gives every key its state at now, ordered by notBefore (then kid).
func States(keys []Key, now time.Time, maxTokenLifetime time.Duration) []StatedKey {
	sorted := slices.Clone(keys)
	slices.SortFunc(sorted, func(a, b Key) int {
		if c := a.NotBefore.Compare(b.NotBefore); c != 0 {
			return c
		}
		return strings.Compare(a.KID, b.KID)
	})
	current := -1
	for i, k := range sorted {
		if !k.NotBefore.After(now) {
			current = i
		}
	}
	stated := make([]StatedKey, len(sorted))
	for i, k := range sorted {
		stated[i] = StatedKey{Key: k}
		switch {
		case i > current:
			stated[i].State = snapshot.KeyStateNext
		case i == current:
			stated[i].State = snapshot.KeyStateCurrent
		default:
			// It stopped signing when its successor became current.
			stated[i].State = snapshot.KeyStatePrevious
			stated[i].NotAfter = sorted[i+1].NotBefore.Add(maxTokenLifetime)
		}
	}
	return stated
}

// Plan is what to change so that the keys satisfy the policy.
type Plan struct {
	// Remove lists expired previous keys, and next keys that do not match the policy's
	// algorithm or size or that follow another next key (they never signed anything).
	Remove []Key
	// Promote is the next key that a manual rotation makes current now, if any.
	Promote *Key
	// Generate lists the notBefore of each key to generate.
	Generate []time.Time
}

// Empty reports whether the plan changes nothing.
func (p Plan) Empty() bool {
	return len(p.Remove) == 0 && p.Promote == nil && len(p.Generate) == 0
}

// Decide plans the changes that bring keys to the policy at now. rotate asks for a
// manual rotation: the next key becomes current now and a new next key is generated.
func Decide(keys []Key, now time.Time, policy Policy, rotate bool) Plan {
	var plan Plan
	var kept []Key
	keptNext := false
	for _, s := range States(keys, now, policy.MaxTokenLifetime) {
		switch {
		case s.State == snapshot.KeyStatePrevious && !now.Before(s.NotAfter):
			plan.Remove = append(plan.Remove, s.Key)
		case s.State == snapshot.KeyStateNext && !policy.matches(s.Key):
			plan.Remove = append(plan.Remove, s.Key)
		case s.State == snapshot.KeyStateNext && keptNext:
			// A second next key, as two controllers generating at once make: it never
			// signed anything, and every controller keeps the same (earliest) one.
			plan.Remove = append(plan.Remove, s.Key)
		default:
			keptNext = keptNext || s.State == snapshot.KeyStateNext
			kept = append(kept, s.Key)
		}
	}
	if rotate {
		stated := States(kept, now, policy.MaxTokenLifetime)
		if next := firstInState(stated, snapshot.KeyStateNext); next != nil {
			promoted := next.Key
			promoted.NotBefore = now
			// A second rotation within the clock's resolution (a second): the promoted
			// key must still come after the current one, so it becomes current a
			// second after it.
			if current := firstInState(stated, snapshot.KeyStateCurrent); current != nil && !now.After(current.NotBefore) {
				promoted.NotBefore = current.NotBefore.Add(time.Second)
			}
			plan.Promote = &promoted
			kept = replaceKey(kept, promoted)
		} else {
			// Nothing was published ahead: the best a rotation can do is a new key now.
			plan.Generate = append(plan.Generate, now)
			kept = append(kept, Key{NotBefore: now})
		}
	}

	stated := States(kept, now, policy.MaxTokenLifetime)
	current := firstInState(stated, snapshot.KeyStateCurrent)
	if current == nil {
		// A Tenant without a usable key: nothing can have trusted one yet, or it was lost.
		plan.Generate = append(plan.Generate, now)
		current = &StatedKey{Key: Key{NotBefore: now}}
	}
	if firstInState(stated, snapshot.KeyStateNext) == nil {
		notBefore := current.NotBefore.Add(policy.RotationPeriod)
		if earliest := now.Add(PublishAhead(policy.RotationPeriod)); notBefore.Before(earliest) {
			notBefore = earliest
		}
		plan.Generate = append(plan.Generate, notBefore)
	}
	return plan
}

// NextTransition is how long after now the first key changes state or is removed, or
// 0 when no change is scheduled.
func NextTransition(stated []StatedKey, now time.Time) time.Duration {
	var next time.Duration
	consider := func(t time.Time) {
		if d := t.Sub(now); d > 0 && (next == 0 || d < next) {
			next = d
		}
	}
	for _, s := range stated {
		switch s.State {
		case snapshot.KeyStateNext:
			consider(s.NotBefore)
		case snapshot.KeyStatePrevious:
			consider(s.NotAfter)
		}
	}
	return next
}

func (p Policy) matches(k Key) bool {
	return k.Algorithm == p.Algorithm && k.Bits == p.Bits
}

func firstInState(stated []StatedKey, state string) *StatedKey {
	for i := range stated {
		if stated[i].State == state {
			return &stated[i]
		}
	}
	return nil
}

func replaceKey(keys []Key, k Key) []Key {
	out := slices.Clone(keys)
	for i := range out {
		if out[i].KID == k.KID {
			out[i] = k
		}
	}
	return out
}
