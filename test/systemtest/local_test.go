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

package systemtest_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
	"github.com/gatehouse-dev/gatehouse/test/kubetest"
	"github.com/gatehouse-dev/gatehouse/test/proctest"
	"github.com/gatehouse-dev/gatehouse/test/systemtest"
	"github.com/gatehouse-dev/gatehouse/tokenserver/tokenclient"
)

// TestMakeRun runs the README's first command, pastes the curl it prints, gets a token
// with 'gatehouse token' too, deletes and recreates as users do (which needs the
// garbage collector and the namespace controller of its kube-controller-manager), and
// presses Ctrl-C: everything must stop.
func TestMakeRun(t *testing.T) {
	root := kubetest.RepoRoot()
	run := exec.Command("make", "-s", "run", "LOCAL_FLAGS=--port=0") //nolint:noctx // stopped with SIGINT like a terminal does
	run.Dir = root
	run.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // the "terminal" sends SIGINT to the whole group
	stdout, err := run.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	run.Stderr = &stderr
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	t.Cleanup(func() { // after a failure, leave nothing behind either
		for _, pid := range append(proctest.Descendants(run.Process.Pid), run.Process.Pid) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})

	curl, progress, rest := readUntilCurl(t, stdout, exited, run)
	if !strings.Contains(progress, "==> Starting kube-apiserver, etcd and kube-controller-manager") || !strings.Contains(progress, "==> Waiting for the Tenant") {
		t.Errorf("make run showed no progress before the curl:\n%s", progress)
	}

	tokenURL, body := parseCurl(t, curl)
	out, err := exec.Command("sh", "-c", curl).Output() //nolint:gosec,noctx // the command make run printed for people to paste
	if err != nil {
		t.Fatalf("running the printed curl: %v", err)
	}
	var answer tokenclient.Response
	if err := json.Unmarshal(out, &answer); err != nil || !isJWT(answer.AccessToken) || answer.TokenType != "Bearer" {
		t.Fatalf("the printed curl got no token: %v (%d bytes answered)", err, len(out))
	}

	t.Run("gatehouse token", func(t *testing.T) {
		testTokenCommand(t, root, tokenURL, body)
	})
	t.Run("deletion converges", func(t *testing.T) {
		clusterOf(t, printedKubeconfig(t, progress)).CheckDeletionConverges(t, "deletion")
	})

	descendants := proctest.Descendants(run.Process.Pid)
	running := map[string]int{}
	for _, pid := range descendants {
		if st, ok := proctest.ReadStat(pid); ok {
			running[st.Comm]++
		}
	}
	// The kernel keeps 15 bytes of a command's name; the controller and the token server
	// are both gatehouse.
	for comm, want := range map[string]int{"etcd": 1, "kube-apiserver": 1, "kube-controller": 1, "gatehouse": 2} {
		if running[comm] != want {
			t.Errorf("%d %s processes under make run, want %d (running: %v)", running[comm], comm, want, running)
		}
	}
	if err := syscall.Kill(-run.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	go func() { exited <- run.Wait() }()
	select {
	case err := <-exited:
		// make re-raises the SIGINT it got once its recipe has stopped, as in a terminal.
		if exitErr := (*exec.ExitError)(nil); err != nil && (!errors.As(err, &exitErr) || exitErr.Sys().(syscall.WaitStatus).Signal() != syscall.SIGINT) {
			t.Errorf("make run after Ctrl-C: %v\n%s", err, stderr.String())
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("make run did not stop within 2 minutes of Ctrl-C")
	}
	if stopped := <-rest; !strings.Contains(stopped, "==> Stopping the control plane") || strings.Contains(stderr.String(), "local:") {
		t.Errorf("make run did not stop cleanly:\n%s\n%s", stopped, stderr.String())
	}
	for _, pid := range descendants {
		if alive(pid) {
			t.Errorf("process %d (%s) is still running after Ctrl-C", pid, commandOf(pid))
		}
	}
}

// readUntilCurl returns the curl line make run prints, the progress before it, and a
// channel that yields the output after it once make run closes its output.
func readUntilCurl(t *testing.T, stdout io.Reader, exited chan error, run *exec.Cmd) (curl, progress string, rest <-chan string) {
	t.Helper()
	lines := make(chan string)
	go func() {
		scanner := bufio.NewScanner(stdout)
		for scanner.Scan() {
			lines <- scanner.Text()
		}
		close(lines)
	}()
	timeout := time.After(10 * time.Minute) // a fresh machine builds gatehouse first
	var seen strings.Builder
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				exited <- run.Wait()
				t.Fatalf("make run ended before printing a curl: %v\n%s", <-exited, seen.String())
			}
			if strings.HasPrefix(line, "curl ") {
				after := make(chan string, 1)
				go func() { // keep draining so make run never blocks on a full pipe
					var b strings.Builder
					for line := range lines {
						b.WriteString(line + "\n")
					}
					after <- b.String()
				}()
				return line, seen.String(), after
			}
			seen.WriteString(line + "\n")
		case <-timeout:
			t.Fatalf("make run printed no curl within 10 minutes:\n%s", seen.String())
		}
	}
}

// parseCurl takes the token URL and the JSON body out of the printed command.
func parseCurl(t *testing.T, curl string) (string, map[string]string) {
	t.Helper()
	fields := strings.Split(curl, "'")
	// curl -s -X POST '<url>' -H '<header>' -d '<json>'
	if len(fields) != 7 {
		t.Fatalf("unexpected curl command shape: %d quoted parts", len(fields)/2)
	}
	var body map[string]string
	if err := json.Unmarshal([]byte(fields[5]), &body); err != nil {
		t.Fatalf("the curl's body is not JSON: %v", err)
	}
	for _, key := range []string{"username", "password", "client_id", "client_secret", "audience"} {
		if body[key] == "" {
			t.Errorf("the curl's body has no %s", key)
		}
	}
	return fields[1], body
}

// printedKubeconfig is the administrator's kubeconfig that make run printed.
func printedKubeconfig(t *testing.T, progress string) string {
	t.Helper()
	for line := range strings.Lines(progress) {
		if path, ok := strings.CutPrefix(strings.TrimSpace(line), "kubeconfig:"); ok {
			return strings.TrimSpace(path)
		}
	}
	t.Fatalf("make run printed no kubeconfig:\n%s", progress)
	return ""
}

// clusterOf is a client of the API server of kubeconfig.
func clusterOf(t *testing.T, kubeconfig string) systemtest.Cluster {
	t.Helper()
	// The client logs through controller-runtime, which warns with a stack trace when
	// no logger is set.
	ctrllog.SetLogger(logr.Discard())
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: identityv1alpha1.NewScheme()})
	if err != nil {
		t.Fatal(err)
	}
	return systemtest.Cluster{Client: c}
}

// testTokenCommand gets a token with 'gatehouse token' from a credentials directory laid
// out like the mounted Secret.
func testTokenCommand(t *testing.T, root, tokenURL string, body map[string]string) {
	dir := t.TempDir()
	files := map[string]string{
		tokenclient.FileClientID:     body["client_id"],
		tokenclient.FileClientSecret: body["client_secret"],
		tokenclient.FileTokenURL:     tokenURL,
		"password":                   body["password"] + "\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	gatehouse := filepath.Join(root, "bin", "gatehouse")
	tests := []struct {
		name     string
		args     []string
		env      []string
		wantCode int
		check    func(out string) bool
	}{
		{"password file", []string{"--password-file", filepath.Join(dir, "password")}, nil, 0, isJWT},
		{"password from the environment, JSON", []string{"--json"}, []string{"GATEHOUSE_PASSWORD=" + body["password"]}, 0,
			func(out string) bool {
				var r tokenclient.Response
				return json.Unmarshal([]byte(out), &r) == nil && isJWT(r.AccessToken) && isJWT(r.IDToken)
			}},
		{"wrong password", nil, []string{"GATEHOUSE_PASSWORD=wrong"}, 1, func(out string) bool { return out == "" }},
		{"unknown audience", []string{"--audience", "https://nowhere.example"}, []string{"GATEHOUSE_PASSWORD=" + body["password"]}, 1,
			func(out string) bool { return out == "" }},
		{"no password", nil, nil, 2, func(out string) bool { return out == "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"token", "--credentials-dir", dir, "--username", body["username"],
				"--scope", "openid " + body["scope"]}, tt.args...)
			cmd := exec.CommandContext(context.Background(), gatehouse, args...) //nolint:gosec // the binary make run built
			cmd.Env = append(os.Environ(), tt.env...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			code := 0
			if exitErr := (*exec.ExitError)(nil); errors.As(err, &exitErr) {
				code = exitErr.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.wantCode || !tt.check(strings.TrimSpace(string(out))) {
				t.Errorf("exit %d (want %d), %d bytes out; stderr: %s", code, tt.wantCode, len(out), stderr.String())
			}
		})
	}
}

func isJWT(s string) bool {
	return strings.Count(s, ".") == 2 && len(s) > 40
}

// alive reports whether pid still runs; a zombie waiting to be reaped has stopped.
func alive(pid int) bool {
	s, ok := proctest.ReadStat(pid)
	return ok && s.State != 'Z' && s.State != 'X'
}

func commandOf(pid int) string {
	data, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	return strings.ReplaceAll(string(data), "\x00", " ")
}
