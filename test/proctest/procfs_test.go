package proctest

import (
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"
)

func TestReadStatAndDescendants(t *testing.T) {
	p, err := Start(exec.Command("sh", "-c", "sleep 30 & wait"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = p.Stop(time.Second) })
	pid := p.Pid()
	st, ok := ReadStat(pid)
	if !ok || st.Comm != "sh" || st.PPID != os.Getpid() || st.State == 'Z' {
		t.Fatalf("ReadStat(%d) = %+v, %v; want sh, child of %d, running", pid, st, ok, os.Getpid())
	}
	// The shell's sleep is a grandchild of the test.
	var sleep int
	for deadline := time.Now().Add(10 * time.Second); sleep == 0 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		for _, d := range Descendants(os.Getpid()) {
			if s, ok := ReadStat(d); ok && s.Comm == "sleep" && s.PPID == pid {
				sleep = d
			}
		}
	}
	if sleep == 0 {
		t.Fatalf("no sleep below the shell %d among the descendants %v", pid, Descendants(os.Getpid()))
	}
	if d := Descendants(os.Getpid()); !slices.Contains(d, pid) || slices.Index(d, pid) > slices.Index(d, sleep) {
		t.Errorf("Descendants = %v; want the shell %d before its child %d", d, pid, sleep)
	}
	if _, ok := ReadStat(-1); ok {
		t.Error("ReadStat of no process succeeded")
	}
}

func TestReadMemory(t *testing.T) {
	p, err := Start(exec.Command("sleep", "30"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = p.Stop(time.Second) })
	m, ok := ReadMemory(p.Pid())
	if !ok || m.RSS <= 0 || m.PeakRSS < m.RSS {
		t.Errorf("ReadMemory(%d) = %+v, %v; want a resident set no larger than its peak", p.Pid(), m, ok)
	}
	if _, ok := ReadMemory(-1); ok {
		t.Error("ReadMemory of no process succeeded")
	}
}
