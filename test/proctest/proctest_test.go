package proctest

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestStartSendsOutputWhereAsked(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	tests := []struct {
		name       string
		stdout     *os.File
		wantOutput string
		wantLog    string
	}{
		{name: "kept for Output", wantOutput: "out\nerr\n"},
		{name: "to the caller's log", stdout: logFile, wantLog: "out\nerr\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command("sh", "-c", "echo out; echo err >&2; exit 3")
			if tt.stdout != nil {
				cmd.Stdout = tt.stdout
			}
			p, err := Start(cmd)
			if err != nil {
				t.Fatal(err)
			}
			var exitErr *exec.ExitError
			if err := p.Wait(); !errors.As(err, &exitErr) || exitErr.ExitCode() != 3 {
				t.Errorf("Wait() = %v, want exit status 3", err)
			}
			if got := p.Output(); got != tt.wantOutput {
				t.Errorf("Output() = %q, want %q", got, tt.wantOutput)
			}
			if tt.stdout != nil {
				data, err := os.ReadFile(logPath)
				if err != nil {
					t.Fatal(err)
				}
				if string(data) != tt.wantLog {
					t.Errorf("the log holds %q, want %q", data, tt.wantLog)
				}
			}
		})
	}
}

func TestFreeAddressIsFreeLoopback(t *testing.T) {
	addr := MustFreeAddress(t)
	if !strings.HasPrefix(addr, "127.0.0.1:") || strings.HasSuffix(addr, ":0") {
		t.Fatalf("MustFreeAddress() = %q, want 127.0.0.1 with a port", addr)
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		_ = c.Close()
		t.Fatalf("something listens on %s", addr)
	}
	l, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", addr)
	if err != nil {
		t.Fatalf("the free address %s cannot be listened on: %v", addr, err)
	}
	_ = l.Close()
}

// TestFreeAddressNeverTwice: two servers a test starts never get the same address, even
// when the kernel offers a closed listener's port again.
func TestFreeAddressNeverTwice(t *testing.T) {
	seen := map[string]bool{}
	for range 2000 {
		addr := MustFreeAddress(t)
		if seen[addr] {
			t.Fatalf("%s handed out twice", addr)
		}
		seen[addr] = true
	}
}
