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

// Command benchreconcile measures the controller at scale (`make bench-reconcile`): it
// starts a real API server, runs `gatehouse controller` against it as a separate process,
// applies N Tenants at once, each with 2 database Connections, 2 APIs and 3 Clients, and
// prints the time until all are Ready, the writes per second, the controller's peak
// memory, and the writes of a second pass (a restarted controller on the converged
// cluster), which should be zero.
//
// Writes are counted by the API server (apiserver_request_total for write verbs), less
// the benchmark's own creates; the lease of leader election is off.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/crypto/bcrypt"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
	"github.com/gatehouse-dev/gatehouse/controllers/keys"
	"github.com/gatehouse-dev/gatehouse/test/kubetest"
	"github.com/gatehouse-dev/gatehouse/test/proctest"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

const operatorNamespace = snapshot.DefaultNamespace

func main() {
	tenants := flag.Int("tenants", 1000, "Tenants to apply")
	algorithm := flag.String("algorithm", "RS256", "signing algorithm of the Tenants: RS256, PS256 or ES256")
	gatehouse := flag.String("gatehouse", "bin/gatehouse", "the gatehouse binary")
	timeout := flag.Duration("timeout", 15*time.Minute, "give up after this long")
	flag.Parse()
	// The benchmark's own watches have nothing to say; without a logger controller-runtime
	// complains with a stack trace.
	ctrllog.SetLogger(logr.Discard())
	if err := run(*tenants, *algorithm, *gatehouse, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "bench-reconcile:", err)
		os.Exit(1)
	}
}

func run(tenants int, algorithm, gatehouse string, timeout time.Duration) error {
	env, err := kubetest.Start(kubetest.WithScheme(identityv1alpha1.NewScheme()))
	if err != nil {
		return err
	}
	defer func() { _ = env.Stop() }()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c := env.Client
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operatorNamespace}}); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "bench-reconcile")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	admin, err := env.KubeConfig()
	if err != nil {
		return err
	}
	if err := os.WriteFile(kubeconfig, admin, 0o600); err != nil {
		return err
	}
	apiserver, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		return err
	}

	watched, err := watchObjects(ctx, env)
	if err != nil {
		return err
	}
	ctl, err := startController(gatehouse, kubeconfig, filepath.Join(dir, "controller-1.log"))
	if err != nil {
		return err
	}
	writesBefore, err := apiserverWrites(ctx, apiserver)
	if err != nil {
		return err
	}
	fmt.Printf("applying %d %s tenants, each with 2 connections (2 users), 2 APIs and 3 clients...\n", tenants, algorithm)
	start := time.Now()
	created, err := createTenants(ctx, c, tenants, algorithm)
	if err != nil {
		return err
	}
	applied := time.Since(start)
	if err := waitAllReady(ctx, watched, tenants); err != nil {
		return err
	}
	elapsed := time.Since(start)
	writesAfter, err := apiserverWrites(ctx, apiserver)
	if err != nil {
		return err
	}
	peak, err := ctl.peakRSS()
	if err != nil {
		return err
	}
	cpu, err := cpuSeconds(map[string]int{"controller": ctl.proc.Pid()})
	if err != nil {
		return err
	}
	controllerWrites := writesAfter - writesBefore - float64(created)
	fmt.Printf("objects created:            %d in %v (the API server's pace on this machine)\n", created, applied.Round(time.Millisecond))
	fmt.Printf("all Ready after:            %v from the first create, %v after the last\n", elapsed.Round(time.Millisecond), (elapsed - applied).Round(time.Millisecond))
	fmt.Printf("controller writes:          %.0f (%.0f writes/s, %.1f per tenant)\n", controllerWrites, controllerWrites/elapsed.Seconds(), controllerWrites/float64(tenants))
	fmt.Printf("controller peak memory:     %.1f MiB (VmHWM)\n", float64(peak)/(1<<20))
	fmt.Printf("CPU seconds until Ready:    controller %.1f, kube-apiserver %.1f, etcd %.1f (of %.0f on %d cores)\n",
		cpu["controller"], cpu["kube-apiserver"], cpu["etcd"], elapsed.Seconds()*float64(runtime.NumCPU()), runtime.NumCPU())
	perKey, err := keyGeneration(algorithm)
	if err != nil {
		return err
	}
	keygen := float64(keysPerTenant*tenants) * perKey.Seconds()
	fmt.Printf("floor:                      %.1f CPU-s of key generation (%d keys per tenant, %v each here), with the kube-apiserver's %.1f: %.0f s on %d cores\n",
		keygen, keysPerTenant, perKey.Round(100*time.Microsecond), cpu["kube-apiserver"], (keygen+cpu["kube-apiserver"])/float64(runtime.NumCPU()), runtime.NumCPU())
	if m, err := ctl.metrics(); err == nil {
		fmt.Printf("reconciles:                 %.0f tenant, %.0f connection, %.0f api, %.0f client\n",
			m["reconcile_tenant"], m["reconcile_connection"], m["reconcile_api"], m["reconcile_client"])
	}

	// Second pass: a new controller process, empty caches, nothing changed. The first
	// one is stopped only once idle, as Ready does not mean every status is written.
	if err := ctl.waitIdle(ctx, tenants); err != nil {
		return err
	}
	ctl.stop()
	second, err := startController(gatehouse, kubeconfig, filepath.Join(dir, "controller-2.log"))
	if err != nil {
		return err
	}
	defer second.stop()
	secondBefore, err := apiserverWrites(ctx, apiserver)
	if err != nil {
		return err
	}
	secondStart := time.Now()
	if err := second.waitIdle(ctx, tenants); err != nil {
		return err
	}
	secondAfter, err := apiserverWrites(ctx, apiserver)
	if err != nil {
		return err
	}
	fmt.Printf("second pass (restart):      %.0f writes, idle after %v\n", secondAfter-secondBefore, time.Since(secondStart).Round(time.Millisecond))
	return nil
}

// createTenants creates the objects with 16 workers and returns how many writes it made.
// keysPerTenant is how many signing keys a new Tenant gets: the current one and the
// next, published ahead of its rotation.
const keysPerTenant = 2

// keyGeneration is the mean CPU time this machine takes to generate one signing key of
// algorithm, as the controller does: this process's CPU, not the wall clock, since the
// controller and the API server may still be busy.
func keyGeneration(algorithm string) (time.Duration, error) {
	const samples = 20
	before, err := processCPU()
	if err != nil {
		return 0, err
	}
	for range samples {
		if _, err := keys.Generate(algorithm, 0); err != nil {
			return 0, err
		}
	}
	after, err := processCPU()
	if err != nil {
		return 0, err
	}
	return (after - before) / samples, nil
}

// processCPU is the user and system CPU time this process has used.
func processCPU() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, err
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}

func createTenants(ctx context.Context, c client.Client, n int, algorithm string) (int, error) {
	hash, err := bcrypt.GenerateFromPassword([]byte(strconv.FormatInt(time.Now().UnixNano(), 36)), bcrypt.MinCost)
	if err != nil {
		return 0, err
	}
	var (
		mu       sync.Mutex
		created  int
		firstErr error
		wg       sync.WaitGroup
	)
	work := make(chan int)
	for range 16 {
		wg.Go(func() {
			for i := range work {
				for _, o := range tenantObjects(fmt.Sprintf("bench-%04d", i), algorithm, string(hash)) {
					err := c.Create(ctx, o)
					mu.Lock()
					if err == nil {
						created++
					} else if firstErr == nil {
						firstErr = fmt.Errorf("creating %T %s/%s: %w", o, o.GetNamespace(), o.GetName(), err)
					}
					mu.Unlock()
				}
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	return created, firstErr
}

func tenantObjects(ns, algorithm, hash string) []client.Object {
	ref := identityv1alpha1.TenantReference{Name: "t"}
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&identityv1alpha1.Tenant{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "t"},
			Spec: identityv1alpha1.TenantSpec{
				DefaultDirectory: "users-0",
				SigningKeys: identityv1alpha1.SigningKeysSpec{
					Algorithm: identityv1alpha1.SigningAlgorithm(algorithm), RotationPeriod: metav1.Duration{Duration: 2160 * time.Hour},
				},
				Tokens: identityv1alpha1.TokensSpec{
					AccessTokenLifetime: metav1.Duration{Duration: 24 * time.Hour}, IDTokenLifetime: metav1.Duration{Duration: 10 * time.Hour},
				},
			},
		},
	}
	for i := range 2 {
		name := fmt.Sprintf("users-%d", i)
		users := fmt.Sprintf("- {username: alice, passwordHash: '%s'}\n- {username: bob, passwordHash: '%s'}\n", hash, hash)
		objs = append(objs,
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{identityv1alpha1.LabelReferable: "true"}}, Data: map[string][]byte{"users.yaml": []byte(users)}},
			&identityv1alpha1.Connection{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
				Spec: identityv1alpha1.ConnectionSpec{TenantRef: ref, Database: &identityv1alpha1.DatabaseConnection{
					UsersSecretRef: identityv1alpha1.SecretKeySelector{Name: name, Key: "users.yaml"},
				}},
			},
			&identityv1alpha1.API{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("api-%d", i)},
				Spec:       identityv1alpha1.APISpec{TenantRef: ref, Identifier: fmt.Sprintf("https://api-%d.example", i)},
			})
	}
	for i := range 3 {
		objs = append(objs, &identityv1alpha1.Client{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("client-%d", i)},
			Spec:       identityv1alpha1.ClientSpec{TenantRef: ref},
		})
	}
	return objs
}

// watchObjects returns a reader of the benchmark's kinds served from watches, so that
// waiting for readiness costs the API server nothing but the watch; listing thousands of
// objects twice a second took a seventh of its CPU.
func watchObjects(ctx context.Context, env *kubetest.Env) (client.Reader, error) {
	c, err := cache.New(env.Config, cache.Options{Scheme: env.Scheme})
	if err != nil {
		return nil, err
	}
	for _, o := range []client.Object{&identityv1alpha1.Tenant{}, &identityv1alpha1.Connection{}, &identityv1alpha1.API{}, &identityv1alpha1.Client{}} {
		if _, err := c.GetInformer(ctx, o); err != nil {
			return nil, err
		}
	}
	go func() { _ = c.Start(ctx) }()
	if !c.WaitForCacheSync(ctx) {
		return nil, fmt.Errorf("watching the benchmark's objects: %w", ctx.Err())
	}
	return c, nil
}

// waitAllReady polls until every Tenant, Connection, API and Client is Ready for its
// current generation.
func waitAllReady(ctx context.Context, c client.Reader, tenants int) error {
	want := map[string]int{"Tenant": tenants, "Connection": 2 * tenants, "API": 2 * tenants, "Client": 3 * tenants}
	for {
		ready := map[string]int{}
		var ts identityv1alpha1.TenantList
		var cs identityv1alpha1.ConnectionList
		var as identityv1alpha1.APIList
		var cl identityv1alpha1.ClientList
		for _, l := range []client.ObjectList{&ts, &cs, &as, &cl} {
			if err := c.List(ctx, l); err != nil {
				return err
			}
		}
		for _, t := range ts.Items {
			ready["Tenant"] += isReady(&t, t.Status.CommonStatus)
		}
		for _, o := range cs.Items {
			ready["Connection"] += isReady(&o, o.Status.CommonStatus)
		}
		for _, o := range as.Items {
			ready["API"] += isReady(&o, o.Status.CommonStatus)
		}
		for _, o := range cl.Items {
			ready["Client"] += isReady(&o, o.Status.CommonStatus)
		}
		done := true
		for kind, n := range want {
			done = done && ready[kind] >= n
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not all Ready: %v of %v", ready, want)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func isReady(o metav1.Object, s identityv1alpha1.CommonStatus) int {
	c := meta.FindStatusCondition(s.Conditions, identityv1alpha1.ConditionReady)
	if c != nil && c.Status == metav1.ConditionTrue && s.ObservedGeneration == o.GetGeneration() {
		return 1
	}
	return 0
}

// apiserverWrites sums the API server's write requests so far.
func apiserverWrites(ctx context.Context, cs *kubernetes.Clientset) (float64, error) {
	raw, err := cs.RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return 0, err
	}
	var sum float64
	sc := bufio.NewScanner(strings.NewReader(string(raw)))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "apiserver_request_total{") {
			continue
		}
		if !containsAny(line, `verb="POST"`, `verb="PUT"`, `verb="PATCH"`, `verb="APPLY"`, `verb="DELETE"`, `verb="DELETECOLLECTION"`) {
			continue
		}
		// Events are reports, not state; leases are the API server's own heartbeats
		// (the controller runs without leader election here).
		if containsAny(line, `resource="events"`, `resource="leases"`) {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			return 0, err
		}
		sum += v
	}
	return sum, sc.Err()
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// controllerProcess is a running `gatehouse controller`.
type controllerProcess struct {
	proc        *proctest.Process
	metricsAddr string
}

func startController(gatehouse, kubeconfig, logPath string) (*controllerProcess, error) {
	metricsAddr, err := proctest.FreeAddress()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(context.Background(), gatehouse, "controller", "--namespace", operatorNamespace, "--leader-elect=false",
		"--metrics-bind-address", metricsAddr, "--health-probe-bind-address", "0")
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() //nolint:errcheck // the child has its own descriptor once started
	cmd.Stdout = logFile
	proc, err := proctest.Start(cmd)
	if err != nil {
		return nil, err
	}
	return &controllerProcess{proc: proc, metricsAddr: metricsAddr}, nil
}

// stop stops the controller with SIGTERM, and kills it if it is still running after 30s.
func (p *controllerProcess) stop() {
	_, _ = p.proc.Stop(30 * time.Second)
}

// peakRSS is the process's peak resident memory (VmHWM).
func (p *controllerProcess) peakRSS() (int64, error) {
	m, ok := proctest.ReadMemory(p.proc.Pid())
	if !ok {
		return 0, fmt.Errorf("the controller (pid %d) has exited; no memory to read", p.proc.Pid())
	}
	return m.PeakRSS, nil
}

// waitIdle waits until the controller has reconciled at least every Tenant and its queues
// have stayed empty for two seconds.
func (p *controllerProcess) waitIdle(ctx context.Context, tenants int) error {
	quiet := 0
	for quiet < 4 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
		m, err := p.metrics()
		if err != nil {
			quiet = 0
			continue
		}
		if m["reconcile_tenant"] >= float64(tenants) && m["depth"] == 0 && m["active"] == 0 {
			quiet++
		} else {
			quiet = 0
		}
	}
	return nil
}

func (p *controllerProcess) metrics() (map[string]float64, error) {
	resp, err := http.Get("http://" + p.metricsAddr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			continue
		}
		switch {
		case strings.HasPrefix(line, `controller_runtime_reconcile_total{controller="`):
			name := strings.TrimPrefix(line, `controller_runtime_reconcile_total{controller="`)
			out["reconcile_"+name[:strings.IndexByte(name, '"')]] += v
		case strings.HasPrefix(line, "workqueue_depth{"):
			out["depth"] += v
		case strings.HasPrefix(line, "controller_runtime_active_workers{"):
			out["active"] += v
		}
	}
	return out, sc.Err()
}

// cpuSeconds returns the CPU time used so far by the named processes and by this
// program's kube-apiserver and etcd, so that a slow run shows where the time went.
func cpuSeconds(named map[string]int) (map[string]float64, error) {
	pids := maps.Clone(named)
	for _, pid := range proctest.Descendants(os.Getpid()) {
		if st, ok := proctest.ReadStat(pid); ok && (st.Comm == "kube-apiserver" || st.Comm == "etcd") {
			pids[st.Comm] = pid
		}
	}
	out := map[string]float64{}
	for name, pid := range pids {
		st, ok := proctest.ReadStat(pid)
		if !ok {
			return nil, fmt.Errorf("reading /proc/%d/stat of %s", pid, name)
		}
		out[name] = st.CPU.Seconds()
	}
	return out, nil
}
