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
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// MemorySample is the token server's memory at one point of the run.
type MemorySample struct {
	// At is the time since the load started.
	At time.Duration
	// RSS is the resident set of the process; HeapInUse is the Go heap's spans in use.
	RSS, HeapInUse float64
	// Goroutines shows leaks that memory hides for a while.
	Goroutines float64
}

// sampledMetrics are the gauges a MemorySample takes from the token server's metrics.
var sampledMetrics = map[string]func(*MemorySample) *float64{
	"process_resident_memory_bytes": func(s *MemorySample) *float64 { return &s.RSS },
	"go_memstats_heap_inuse_bytes":  func(s *MemorySample) *float64 { return &s.HeapInUse },
	"go_goroutines":                 func(s *MemorySample) *float64 { return &s.Goroutines },
}

// sampleMemory samples now, before the load, then every SampleEvery until the returned
// stop, which takes the last sample after the load.
func (r *runner) sampleMemory() (stop func()) {
	begin := time.Now()
	r.sampleOnce(begin)
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		ticker := time.NewTicker(r.cfg.SampleEvery)
		defer ticker.Stop()
		for {
			select {
			case <-done:
				return
			case <-ticker.C:
				r.sampleOnce(begin)
			}
		}
	}()
	return func() {
		close(done)
		<-stopped
		r.sampleOnce(begin)
	}
}

// sampleOnce records a sample taken at its time since begin, or why it failed.
func (r *runner) sampleOnce(begin time.Time) {
	sample, err := r.scrape()
	sample.At = time.Since(begin)
	r.record(func(rep *Report) {
		if err != nil {
			rep.MemoryErrors = append(rep.MemoryErrors, err.Error())
		} else {
			rep.Memory = append(rep.Memory, sample)
		}
		if r.cfg.Progress != nil {
			rep.writeProgress(r.cfg.Progress, sample, err)
		}
	})
}

func (r *runner) scrape() (MemorySample, error) {
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.target.MetricsURL, nil)
	if err != nil {
		return MemorySample{}, err
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return MemorySample{}, err
	}
	defer resp.Body.Close() //nolint:errcheck // nothing to report
	if resp.StatusCode != http.StatusOK {
		return MemorySample{}, fmt.Errorf("%s answered %s", r.target.MetricsURL, resp.Status)
	}
	return parseMetrics(resp.Body)
}

// parseMetrics reads the sampled gauges from the Prometheus text format.
func parseMetrics(text io.Reader) (MemorySample, error) {
	var sample MemorySample
	found := 0
	scanner := bufio.NewScanner(text)
	for scanner.Scan() {
		fields := strings.Fields(scanner.Text())
		if len(fields) < 2 {
			continue
		}
		field, ok := sampledMetrics[fields[0]]
		if !ok {
			continue
		}
		value, err := strconv.ParseFloat(fields[1], 64)
		if err != nil {
			return sample, fmt.Errorf("metric %s: %w", fields[0], err)
		}
		*field(&sample) = value
		found++
	}
	if err := scanner.Err(); err != nil {
		return sample, err
	}
	if found != len(sampledMetrics) {
		return sample, errors.New("the metrics lack some of process_resident_memory_bytes, go_memstats_heap_inuse_bytes and go_goroutines")
	}
	return sample, nil
}
