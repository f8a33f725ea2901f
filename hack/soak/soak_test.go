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
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/gatehouse-dev/gatehouse/test/systemtest"
)

// TestSoak soaks the whole system, as `make soak` does, for a few seconds: the report
// must count every request of the mix with the answer a healthy server gives, the wrong
// passwords as invalid_grant, no 5xx, and sample the token server's memory.
func TestSoak(t *testing.T) {
	sys := startGatehouse(t)
	var progress strings.Builder
	cfg := Config{Duration: 8 * time.Second, Rate: 10, Timeout: 30 * time.Second, SampleEvery: 2 * time.Second, Progress: &progress}
	report, err := Run(t.Context(), cfg, TargetOf(sys))
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := report.Write(&out); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out.String())

	// 80 requests are 4 cycles of the mix of 20.
	if report.Scheduled != 80 || report.Sent != 80 || report.NotSent != 0 || report.Interrupted {
		t.Errorf("scheduled %d, sent %d, not sent %d, interrupted %v; want 80 sent of 80", report.Scheduled, report.Sent, report.NotSent, report.Interrupted)
	}
	wantSent := map[string]int{"login": 20, "login (wrong password)": 4, "userinfo": 32, "jwks": 12, "discovery": 12}
	for name, want := range wantSent {
		s := report.Request(name)
		if s == nil {
			t.Errorf("no figures for %s", name)
			continue
		}
		if s.Sent != want || s.AsExpected != want || s.Percentile(0.99) <= 0 {
			t.Errorf("%s: sent %d, as expected %d, p99 %v; want %d of each and a latency", name, s.Sent, s.AsExpected, s.Percentile(0.99), want)
		}
	}
	wantKinds := map[string]int{"200": 76, "400 invalid_grant": 4}
	if len(report.Kinds) != len(wantKinds) || report.Kinds["200"] != 76 || report.Kinds["400 invalid_grant"] != 4 {
		t.Errorf("answers by kind %v, want %v", report.Kinds, wantKinds)
	}
	if failures := report.Failures(); report.ServerErrors != 0 || report.TransportErrors != 0 || len(failures) != 0 {
		t.Errorf("5xx %d, no answer %d, failures %q", report.ServerErrors, report.TransportErrors, failures)
	}

	// A sample before the load, some during it (every 2s of 8s, unless the machine is
	// too busy to keep time), one after it.
	if len(report.Memory) < 3 || len(report.MemoryErrors) != 0 {
		t.Errorf("%d memory samples (%d failed: %q), want at least 3", len(report.Memory), len(report.MemoryErrors), report.MemoryErrors)
	}
	for i, s := range report.Memory {
		if s.RSS < 1<<20 || s.HeapInUse < 1<<20 || s.Goroutines < 1 || (i > 0 && s.At < report.Memory[i-1].At) {
			t.Errorf("memory sample %d is not a live server's: %+v", i, s)
		}
	}
	if lines := strings.Count(progress.String(), " answered, 0 5xx, 0 no answer, 0 not sent; RSS "); lines != len(report.Memory) {
		t.Errorf("%d progress lines for %d memory samples:\n%s", lines, len(report.Memory), progress.String())
	}
	for _, want := range []string{"400 invalid_grant", "login (wrong password)", "Token server memory", "RSS: start", "Result: PASS"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the report lacks %q", want)
		}
	}
}

// startGatehouse builds gatehouse and starts the whole system as `make soak` does.
func startGatehouse(t *testing.T) *systemtest.LocalSystem {
	t.Helper()
	gatehouse, err := systemtest.BuildGatehouse(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// envtest logs through controller-runtime, which warns with a stack trace when a
	// program logs 30s after it started without a logger, as the build above may take.
	ctrllog.SetLogger(logr.Discard())
	sys, err := StartLocal(t.Context(), gatehouse, nil, t.Output())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := sys.Stop(); err != nil {
			t.Error(err)
		}
	})
	return sys
}
