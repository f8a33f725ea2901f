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
// prints the time until all are Ready (after the last create too), the controller's
// writes and reads per Tenant by verb and resource, its reconciles per object, its peak
// memory and CPU, and the writes of a second pass (a restarted controller on the
// converged cluster), which must be zero.
//
// The counts do not depend on the machine's load, but for the Tenant's: the floor is
// 18 writes per Tenant. The Tenant: 1 finalizer patch (its Secrets live in another
// namespace, where no owner reference reaches), 2 signing-key Secrets (the current key
// and the next one, published before it signs), 1 snapshot part, 1 status. Each
// Connection and API: 1 status (4). Each Client: 3 (9): its credentials' digest recorded
// in status before the Secret holding them is written (so that a crash between them
// cannot leave credentials that look planted), the Secret, and Ready once it is written.
// A Tenant that compiles while its children still arrive writes its snapshot and status
// once more per pass; how many passes depends on how fast it compiles.
//
// Writes are counted by the API server (apiserver_request_total for write verbs), less
// the benchmark's own creates; the lease of leader election is off.
package main

import (
	"bytes"
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"golang.org/x/crypto/bcrypt"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
	"github.com/gatehouse-dev/gatehouse/test/kubetest"
	"github.com/gatehouse-dev/gatehouse/test/proctest"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

const operatorNamespace = snapshot.DefaultNamespace

func main() {
	cfg := config{}
	flag.IntVar(&cfg.tenants, "tenants", 1000, "Tenants to apply")
	flag.StringVar(&cfg.algorithm, "algorithm", "RS256", "signing algorithm of the Tenants: RS256, PS256 or ES256")
	flag.StringVar(&cfg.gatehouse, "gatehouse", "bin/gatehouse", "the gatehouse binary")
	flag.StringVar(&cfg.logs, "logs", "", "a directory to keep the controllers' logs in (default: none kept)")
	timeout := flag.Duration("timeout", 15*time.Minute, "give up after this long")
	flag.Parse()
	// The benchmark's own watches have nothing to say; without a logger controller-runtime
	// complains with a stack trace.
	ctrllog.SetLogger(logr.Discard())
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	_, err := run(ctx, os.Stdout, cfg)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-reconcile:", err)
		os.Exit(1)
	}
}

// config is what a run applies, and with which controller.
type config struct {
	tenants   int
	algorithm string
	gatehouse string
	logs      string
}

// result is what a run measured.
type result struct {
	tenants int
	created int
	// applied is the time until the last create, elapsed until all were Ready.
	applied, elapsed time.Duration
	// writes and reads are the controller's requests until all were Ready, by verb and
	// resource; idleWrites are those of a restarted controller on the converged cluster.
	writes, reads requests
	idleWrites    float64
	// reconciles are by controller, until all were Ready.
	reconciles map[string]float64
}

func run(ctx context.Context, out io.Writer, cfg config) (*result, error) {
	env, err := kubetest.Start(kubetest.WithScheme(identityv1alpha1.NewScheme()))
	if err != nil {
		return nil, err
	}
	defer func() { _ = env.Stop() }()
	c := env.Client
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operatorNamespace}}); err != nil {
		return nil, err
	}
	dir := cfg.logs
	if dir == "" {
		if dir, err = os.MkdirTemp("", "bench-reconcile"); err != nil {
			return nil, err
		}
		defer func() { _ = os.RemoveAll(dir) }()
	}
	kubeconfig := filepath.Join(dir, "kubeconfig")
	admin, err := env.KubeConfig()
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(kubeconfig, admin, 0o600); err != nil {
		return nil, err
	}
	apiserver, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		return nil, err
	}

	watched, err := watchObjects(ctx, env)
	if err != nil {
		return nil, err
	}
	ctl, err := startController(cfg.gatehouse, kubeconfig, filepath.Join(dir, "controller-1.log"))
	if err != nil {
		return nil, err
	}
	before, err := apiserverRequests(ctx, apiserver)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "applying %d %s tenants, each with 2 connections (2 users), 2 APIs and 3 clients...\n", cfg.tenants, cfg.algorithm)
	res := &result{tenants: cfg.tenants}
	start := time.Now()
	created, err := createTenants(ctx, c, cfg.tenants, cfg.algorithm)
	res.created = int(created.total())
	if err != nil {
		return nil, err
	}
	res.applied = time.Since(start)
	if err := waitAllReady(ctx, watched, cfg.tenants); err != nil {
		return nil, err
	}
	res.elapsed = time.Since(start)
	after, err := apiserverRequests(ctx, apiserver)
	if err != nil {
		return nil, err
	}
	res.writes, res.reads = after.less(before).less(created).split()
	peak, err := ctl.peakRSS()
	if err != nil {
		return nil, err
	}
	cpu, err := cpuSeconds(map[string]int{"controller": ctl.proc.Pid()})
	if err != nil {
		return nil, err
	}
	if m, err := ctl.metrics(); err == nil {
		res.reconciles = m.reconciles
	}
	res.print(out)
	fmt.Fprintf(out, "controller peak memory:     %.1f MiB (VmHWM)\n", float64(peak)/(1<<20))
	fmt.Fprintf(out, "CPU seconds until Ready:    controller %.1f, kube-apiserver %.1f, etcd %.1f (of %.0f on %d cores)\n",
		cpu["controller"], cpu["kube-apiserver"], cpu["etcd"], res.elapsed.Seconds()*float64(runtime.NumCPU()), runtime.NumCPU())

	// Second pass: a new controller process, empty caches, nothing changed. The first
	// one is stopped only once idle, as Ready does not mean every status is written.
	if err := ctl.waitIdle(ctx, cfg.tenants); err != nil {
		return nil, err
	}
	ctl.stop()
	second, err := startController(cfg.gatehouse, kubeconfig, filepath.Join(dir, "controller-2.log"))
	if err != nil {
		return nil, err
	}
	defer second.stop()
	secondBefore, err := apiserverRequests(ctx, apiserver)
	if err != nil {
		return nil, err
	}
	secondStart := time.Now()
	if err := second.waitIdle(ctx, cfg.tenants); err != nil {
		return nil, err
	}
	secondAfter, err := apiserverRequests(ctx, apiserver)
	if err != nil {
		return nil, err
	}
	idle, _ := secondAfter.less(secondBefore).split()
	res.idleWrites = idle.total()
	fmt.Fprintf(out, "second pass (restart):      %.0f writes, idle after %v\n", res.idleWrites, time.Since(secondStart).Round(time.Millisecond))
	return res, nil
}

// print reports the pace and the counts: writes and reads per Tenant by kind, and
// reconciles per object of each kind. The counts do not depend on the machine's load.
func (r *result) print(out io.Writer) {
	n := float64(r.tenants)
	fmt.Fprintf(out, "objects created:            %d in %v (the API server's pace on this machine)\n", r.created, r.applied.Round(time.Millisecond))
	fmt.Fprintf(out, "all Ready after:            %v from the first create, %v after the last\n", r.elapsed.Round(time.Millisecond), (r.elapsed - r.applied).Round(time.Millisecond))
	fmt.Fprintf(out, "controller writes:          %.0f (%.0f writes/s), %.2f per tenant: %s\n",
		r.writes.total(), r.writes.total()/r.elapsed.Seconds(), r.writes.total()/n, r.writes.perTenant(n))
	fmt.Fprintf(out, "controller reads (GET):     %.2f per tenant: %s\n", r.reads.total()/n, r.reads.perTenant(n))
	if r.reconciles != nil {
		fmt.Fprintf(out, "reconciles:                 %.0f tenant, %.0f connection, %.0f api, %.0f client; per object %.2f, %.2f, %.2f, %.2f\n",
			r.reconciles["tenant"], r.reconciles["connection"], r.reconciles["api"], r.reconciles["client"],
			r.reconciles["tenant"]/n, r.reconciles["connection"]/(2*n), r.reconciles["api"]/(2*n), r.reconciles["client"]/(3*n))
	}
}

// createTenants creates the objects with 16 workers and returns the creates it made,
// by resource.
func createTenants(ctx context.Context, c client.Client, n int, algorithm string) (requests, error) {
	hash, err := bcrypt.GenerateFromPassword([]byte(strconv.FormatInt(time.Now().UnixNano(), 36)), bcrypt.MinCost)
	if err != nil {
		return nil, err
	}
	var (
		mu       sync.Mutex
		created  = requests{}
		firstErr error
		wg       sync.WaitGroup
	)
	work := make(chan int)
	for range 16 {
		wg.Go(func() {
			for i := range work {
				for _, o := range tenantObjects(fmt.Sprintf("bench-%04d", i), algorithm, string(hash)) {
					err := c.Create(ctx, o)
					resource, rerr := resourceOf(c, o)
					mu.Lock()
					// A failed create is a request too.
					created["POST "+resource]++
					if err = cmp.Or(err, rerr); err != nil && firstErr == nil {
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

// resourceOf is the resource of o's kind, as the API server's metrics name it.
func resourceOf(c client.Client, o client.Object) (string, error) {
	gvk, err := c.GroupVersionKindFor(o)
	if err != nil {
		return "", err
	}
	m, err := c.RESTMapper().RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return "", err
	}
	return m.Resource.Resource, nil
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

// requests counts API server requests by verb and resource ("PATCH clients/status").
type requests map[string]float64

// writeVerbs are the verbs that change state.
var writeVerbs = map[string]bool{"POST": true, "PUT": true, "PATCH": true, "APPLY": true, "DELETE": true, "DELETECOLLECTION": true}

// apiserverRequests reads the API server's requests so far (apiserver_request_total),
// those that failed included: a conflict costs the API server too. Events are reports,
// not state; leases are the API server's own heartbeats (the controller runs without
// leader election here); watches and lists are the informers'.
func apiserverRequests(ctx context.Context, cs *kubernetes.Clientset) (requests, error) {
	raw, err := cs.RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, err
	}
	families, err := parseMetrics(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	out := requests{}
	for _, m := range families["apiserver_request_total"].GetMetric() {
		l := labelsOf(m)
		if l["resource"] == "events" || l["resource"] == "leases" || (!writeVerbs[l["verb"]] && l["verb"] != "GET") {
			continue
		}
		key := l["verb"] + " " + l["resource"]
		if l["subresource"] != "" {
			key += "/" + l["subresource"]
		}
		out[key] += m.GetCounter().GetValue()
	}
	return out, nil
}

// less is r less the counts of other: the requests made since other was read, or those
// not made by the benchmark itself.
func (r requests) less(other requests) requests {
	out := requests{}
	for k, v := range r {
		if d := v - other[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

// split separates the writes from the reads (GETs), and sums the writes by verb too.
func (r requests) split() (writes, reads requests) {
	writes, reads = requests{}, requests{}
	for k, v := range r {
		verb, _, _ := strings.Cut(k, " ")
		if verb == "GET" {
			reads[k] = v
		} else {
			writes[k] = v
		}
	}
	return writes, reads
}

func (r requests) total() float64 {
	var sum float64
	for _, v := range r {
		sum += v
	}
	return sum
}

// perTenant lists the counts divided by n, largest first.
func (r requests) perTenant(n float64) string {
	keys := slices.Collect(maps.Keys(r))
	slices.SortFunc(keys, func(a, b string) int { return cmp.Or(cmp.Compare(r[b], r[a]), strings.Compare(a, b)) })
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %.2f", k, r[k]/n))
	}
	return strings.Join(parts, ", ")
}

func parseMetrics(r io.Reader) (map[string]*dto.MetricFamily, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(r)
}

func labelsOf(m *dto.Metric) map[string]string {
	out := make(map[string]string, len(m.GetLabel()))
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
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
		if m.reconciles["tenant"] >= float64(tenants) && m.queued == 0 && m.active == 0 {
			quiet++
		} else {
			quiet = 0
		}
	}
	return nil
}

// controllerMetrics are the controller's reconciles so far, by controller, and its
// queued and running ones.
type controllerMetrics struct {
	reconciles     map[string]float64
	queued, active float64
}

func (p *controllerProcess) metrics() (controllerMetrics, error) {
	resp, err := http.Get("http://" + p.metricsAddr + "/metrics")
	if err != nil {
		return controllerMetrics{}, err
	}
	defer func() { _ = resp.Body.Close() }()
	families, err := parseMetrics(resp.Body)
	if err != nil {
		return controllerMetrics{}, err
	}
	out := controllerMetrics{reconciles: map[string]float64{}}
	for _, m := range families["controller_runtime_reconcile_total"].GetMetric() {
		out.reconciles[labelsOf(m)["controller"]] += m.GetCounter().GetValue()
	}
	for _, m := range families["workqueue_depth"].GetMetric() {
		out.queued += m.GetGauge().GetValue()
	}
	for _, m := range families["controller_runtime_active_workers"].GetMetric() {
		out.active += m.GetGauge().GetValue()
	}
	return out, nil
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
