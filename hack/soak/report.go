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
	"bytes"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is what a run saw.
type Report struct {
	Config   Config
	TokenURL string
	// Scheduled counts the requests due within the duration. Sent were sent and
	// answered or failed; NotSent were due while MaxInFlight requests awaited answers.
	Scheduled, Sent, NotSent int
	// Elapsed runs from the first request's start to the last answer.
	Elapsed time.Duration
	// Interrupted says the run was stopped before its duration.
	Interrupted bool
	// LoadAtStart and LoadAtEnd are the machine's load averages over 1, 5 and 15
	// minutes, from /proc/loadavg, for reading latencies on a shared machine.
	LoadAtStart, LoadAtEnd string
	// Kinds counts requests by how they ended: "200", "400 invalid_grant",
	// "429 too_many_attempts", "503 temporarily_unavailable", "404", "timeout",
	// "transport error".
	Kinds map[string]int
	// ServerErrors counts 5xx answers; TransportErrors counts requests that got no
	// answer, timeouts included.
	ServerErrors, TransportErrors int
	// Requests are the figures of each request of the mix, in the mix's order.
	Requests []*RequestStats
	// Memory is the token server's memory over time; MemoryErrors are failed samples.
	Memory       []MemorySample
	MemoryErrors []string
}

// RequestStats are the figures of one request of the mix.
type RequestStats struct {
	Name string
	// Sent counts the requests sent; AsExpected those answered as a healthy server does.
	Sent, AsExpected int
	latencies        []time.Duration
}

// Percentile is the latency, from the scheduled start to the end of the answer, below
// which the fraction p of the requests finished (nearest rank).
func (s *RequestStats) Percentile(p float64) time.Duration {
	if len(s.latencies) == 0 {
		return 0
	}
	sorted := slices.Sorted(slices.Values(s.latencies))
	rank := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}

func newReport(cfg Config, tokenURL string) *Report {
	rep := &Report{Config: cfg, TokenURL: tokenURL, Scheduled: scheduled(cfg), Kinds: map[string]int{}}
	for _, sc := range mix {
		rep.Requests = append(rep.Requests, &RequestStats{Name: sc.name})
	}
	return rep
}

// scheduled is the number of requests a run of cfg starts.
func scheduled(cfg Config) int {
	return int(cfg.Duration.Seconds() * cfg.Rate)
}

// Request returns the figures of the request of the mix called name, or nil.
func (rep *Report) Request(name string) *RequestStats {
	for _, s := range rep.Requests {
		if s.Name == name {
			return s
		}
	}
	return nil
}

func (rep *Report) add(sc *scenario, got outcome, latency time.Duration) {
	rep.Sent++
	rep.Kinds[got.kind()]++
	switch {
	case got.transport != "":
		rep.TransportErrors++
	case got.status >= 500:
		rep.ServerErrors++
	}
	stats := rep.Request(sc.name)
	stats.Sent++
	if got == sc.want {
		stats.AsExpected++
	}
	stats.latencies = append(stats.latencies, latency)
}

// Failures are the reasons the run fails: 5xx answers, requests without an answer,
// requests not sent because the server fell that far behind, no memory samples.
func (rep *Report) Failures() []string {
	var failures []string
	if rep.ServerErrors > 0 {
		failures = append(failures, fmt.Sprintf("%d answers were 5xx", rep.ServerErrors))
	}
	if rep.TransportErrors > 0 {
		failures = append(failures, fmt.Sprintf("%d requests got no answer", rep.TransportErrors))
	}
	if rep.NotSent > 0 {
		failures = append(failures, fmt.Sprintf("%d requests were not sent: %d were awaiting answers", rep.NotSent, rep.Config.MaxInFlight))
	}
	if len(rep.Memory) == 0 {
		failures = append(failures, "the token server's memory could not be sampled")
	}
	return failures
}

// Write prints the report as plain text, for a terminal or a note.
func (rep *Report) Write(w io.Writer) error {
	var buf bytes.Buffer
	rep.writeSummary(&buf)
	rep.writeKinds(&buf)
	rep.writeLatencies(&buf)
	rep.writeMemory(&buf)
	rep.writeResult(&buf)
	_, err := w.Write(buf.Bytes())
	return err
}

func (rep *Report) writeSummary(buf *bytes.Buffer) {
	cfg := rep.Config
	var shares []string
	total := 0
	for _, sc := range mix {
		shares = append(shares, fmt.Sprintf("%d %s", sc.weight, sc.name))
		total += sc.weight
	}
	fmt.Fprintf(buf, "Soak of %s\n", rep.TokenURL)
	fmt.Fprintf(buf, "  %v at %g requests/s, open loop; timeout %v, in-flight cap %d, %d simulated client addresses\n",
		cfg.Duration, cfg.Rate, cfg.Timeout, cfg.MaxInFlight, cfg.ClientAddresses)
	fmt.Fprintf(buf, "  mix per %d requests: %s\n", total, strings.Join(shares, ", "))
	if rep.Interrupted {
		fmt.Fprintln(buf, "  INTERRUPTED before the end of the duration")
	}
	if rep.LoadAtStart != "" {
		fmt.Fprintf(buf, "  machine load average (1, 5, 15 min): %s at the start, %s at the end\n", rep.LoadAtStart, rep.LoadAtEnd)
	}
	fmt.Fprintf(buf, "\nRequests: %d scheduled, %d sent, %d not sent (in-flight cap); last answer after %v\n",
		rep.Scheduled, rep.Sent, rep.NotSent, rep.Elapsed.Round(time.Millisecond))
}

func (rep *Report) writeKinds(buf *bytes.Buffer) {
	fmt.Fprintln(buf, "\nResponses by kind:")
	tw := tabwriter.NewWriter(buf, 0, 0, 2, ' ', tabwriter.AlignRight)
	kinds := slices.Sorted(maps.Keys(rep.Kinds))
	width := longest(kinds)
	for _, kind := range kinds {
		fmt.Fprintf(tw, "  %-*s\t%d\t\n", width, kind, rep.Kinds[kind])
	}
	_ = tw.Flush() // writes to a buffer
	fmt.Fprintf(buf, "  5xx: %d; no answer: %d (of which timeouts: %d); 429 too_many_attempts: %d\n",
		rep.ServerErrors, rep.TransportErrors, rep.Kinds[transportTimeout], rep.Kinds["429 too_many_attempts"])
}

func (rep *Report) writeLatencies(buf *bytes.Buffer) {
	fmt.Fprintln(buf, "\nLatency from the scheduled start, ms:")
	tw := tabwriter.NewWriter(buf, 0, 0, 2, ' ', tabwriter.AlignRight)
	names := []string{"request"}
	for _, s := range rep.Requests {
		names = append(names, s.Name)
	}
	width := longest(names)
	fmt.Fprintf(tw, "  %-*s\tsent\tas expected\tp50\tp99\tmax\t\n", width, "request")
	all := &RequestStats{Name: "all"}
	for _, s := range rep.Requests {
		writeLatencyRow(tw, width, s)
		all.Sent += s.Sent
		all.AsExpected += s.AsExpected
		all.latencies = append(all.latencies, s.latencies...)
	}
	writeLatencyRow(tw, width, all)
	_ = tw.Flush() // writes to a buffer
}

// writeLatencyRow writes a row of a right-aligned table whose first column, the name,
// is padded to width to read as left-aligned.
func writeLatencyRow(w io.Writer, width int, s *RequestStats) {
	fmt.Fprintf(w, "  %-*s\t%d\t%d\t%s\t%s\t%s\t\n", width, s.Name, s.Sent, s.AsExpected,
		millis(s.Percentile(0.50)), millis(s.Percentile(0.99)), millis(s.Percentile(1)))
}

func (rep *Report) writeMemory(buf *bytes.Buffer) {
	fmt.Fprintf(buf, "\nToken server memory, sampled every %v:\n", rep.Config.SampleEvery)
	tw := tabwriter.NewWriter(buf, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "  time\tRSS MiB\theap in use MiB\tgoroutines\t")
	for _, s := range rep.Memory {
		fmt.Fprintf(tw, "  %v\t%s\t%s\t%.0f\t\n", s.At.Round(time.Second), mib(s.RSS), mib(s.HeapInUse), s.Goroutines)
	}
	_ = tw.Flush() // writes to a buffer
	if n := len(rep.Memory); n > 0 {
		first, last := rep.Memory[0], rep.Memory[n-1]
		for _, m := range memorySeries {
			fmt.Fprintf(buf, "  %s: start %s, end %s, max %s\n",
				m.name, m.format(m.value(first)), m.format(m.value(last)), m.format(peak(rep.Memory, m.value)))
		}
	}
	if len(rep.MemoryErrors) > 0 {
		fmt.Fprintf(buf, "  %d samples failed; the first: %s\n", len(rep.MemoryErrors), rep.MemoryErrors[0])
	}
}

func (rep *Report) writeResult(buf *bytes.Buffer) {
	failures := rep.Failures()
	if len(failures) == 0 {
		fmt.Fprintln(buf, "\nResult: PASS (no 5xx, every request answered)")
		return
	}
	fmt.Fprintf(buf, "\nResult: FAIL: %s\n", strings.Join(failures, "; "))
}

// writeProgress prints a line of the report so far at a memory sample.
func (rep *Report) writeProgress(w io.Writer, sample MemorySample, sampleErr error) {
	memory := fmt.Sprintf("RSS %s MiB, heap in use %s MiB, %.0f goroutines", mib(sample.RSS), mib(sample.HeapInUse), sample.Goroutines)
	if sampleErr != nil {
		memory = "memory not sampled: " + sampleErr.Error()
	}
	fmt.Fprintf(w, "%7v  %d answered, %d 5xx, %d no answer, %d not sent; %s\n",
		sample.At.Round(time.Second), rep.Sent, rep.ServerErrors, rep.TransportErrors, rep.NotSent, memory)
}

// memorySeries are the figures of MemorySample the summary gives start, end and max of.
var memorySeries = []struct {
	name   string
	value  func(MemorySample) float64
	format func(float64) string
}{
	{"RSS", func(s MemorySample) float64 { return s.RSS }, func(v float64) string { return mib(v) + " MiB" }},
	{"heap in use", func(s MemorySample) float64 { return s.HeapInUse }, func(v float64) string { return mib(v) + " MiB" }},
	{"goroutines", func(s MemorySample) float64 { return s.Goroutines }, func(v float64) string { return fmt.Sprintf("%.0f", v) }},
}

func peak(samples []MemorySample, value func(MemorySample) float64) float64 {
	highest := 0.0
	for _, s := range samples {
		highest = max(highest, value(s))
	}
	return highest
}

// loadAverage is the first three fields of /proc/loadavg, or "" where there is none.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	fields := strings.Fields(string(data))
	return strings.Join(fields[:min(3, len(fields))], " ")
}

func longest(names []string) int {
	width := 0
	for _, name := range names {
		width = max(width, len(name))
	}
	return width
}

func millis(d time.Duration) string {
	return fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond))
}

func mib(n float64) string {
	return fmt.Sprintf("%.1f", n/(1<<20))
}
