package main

import (
	"flag"
	"io"
	"os"
	"testing"
)

// TestHelpSucceeds: asking any subcommand for its flags is not an error.
func TestHelpSucceeds(t *testing.T) {
	stderr := os.Stderr
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	os.Stderr = devnull // the flag package prints the usage there
	defer func() { os.Stderr = stderr }()
	for _, c := range commands {
		if code := c.run([]string{"-h"}); code != 0 {
			t.Errorf("gatehouse %s -h exited %d, want 0", c.name, code)
		}
	}
}

// TestTokenServerMemoryLimitFlag: the flag takes a Kubernetes quantity, as the Pod
// spec's memory limit is written, and refuses one too small to derive caps from.
func TestTokenServerMemoryLimitFlag(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		want    int64
		wantErr bool
	}{
		{nil, 512 << 20, false},
		{[]string{"--token-server-memory-limit=1Gi"}, 1 << 30, false},
		{[]string{"--token-server-memory-limit=536870912"}, 512 << 20, false},
		{[]string{"--token-server-memory-limit=64Mi"}, 64 << 20, false},
		{[]string{"--token-server-memory-limit=63Mi"}, 0, true},
		{[]string{"--token-server-memory-limit=lots"}, 0, true},
	} {
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		limit := tokenServerMemoryLimitFlag(fs)
		err := fs.Parse(tc.args)
		if tc.wantErr {
			if err == nil {
				t.Errorf("%v: accepted", tc.args)
			}
			continue
		}
		if err != nil || *limit != tc.want {
			t.Errorf("%v: %d, %v; want %d", tc.args, *limit, err, tc.want)
		}
	}
}

func TestTokenServerRefusesUntrustworthyProxies(t *testing.T) {
	for _, value := range []string{"ingress.local", "10.0.0.0/33", "10.0.0.1:80"} {
		if code := runTokenServer([]string{"--trusted-proxies=" + value}); code != 2 {
			t.Errorf("--trusted-proxies=%s: exit code %d, want 2 (usage)", value, code)
		}
	}
}

// TestPostgresDSN: the connection string comes from the file when one is named, else
// from the environment, and its absence is an error.
func TestPostgresDSN(t *testing.T) {
	file := t.TempDir() + "/dsn"
	if err := os.WriteFile(file, []byte("postgres://from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(postgresDSNEnv, "postgres://from-env")
	for _, tc := range []struct {
		file, env, want string
		wantErr         bool
	}{
		{file: file, env: "postgres://from-env", want: "postgres://from-file"},
		{env: "postgres://from-env", want: "postgres://from-env"},
		{wantErr: true},
		{file: file + ".missing", env: "postgres://from-env", wantErr: true},
	} {
		t.Setenv(postgresDSNEnv, tc.env)
		got, err := postgresDSN(tc.file)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("file %q, env %q: %q, %v; want %q (error %v)", tc.file, tc.env, got, err, tc.want, tc.wantErr)
		}
	}
}
