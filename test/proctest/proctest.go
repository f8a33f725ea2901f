// Package proctest runs the servers that tests start as child processes: slapd, Samba,
// and gatehouse itself. A child dies with the test binary, so a killed test never leaves
// a server holding its ports.
package proctest

import (
	"bytes"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Process is a running child process whose output is kept.
type Process struct {
	cmd    *exec.Cmd
	exited chan struct{}
	err    error
	output lockedBuffer
}

// Start starts cmd in a process group of its own, with its standard output and error
// kept for Output.
func Start(cmd *exec.Cmd) (*Process, error) {
	p := &Process{cmd: cmd, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = &p.output, &p.output
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// Pid is the process's id, for ReadStat and ReadMemory.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Exited is closed when the process has exited.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Stop sends SIGTERM and waits up to grace for the process to exit; then it kills the
// whole process group. It reports whether the process exited within grace, and its exit
// error.
func (p *Process) Stop(grace time.Duration) (clean bool, err error) {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return true, p.err
	case <-time.After(grace):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.exited
		return false, p.err
	}
}

// Signal sends sig to the process, such as SIGSTOP and SIGCONT to pause and resume it,
// or SIGKILL to make it crash.
func (p *Process) Signal(sig syscall.Signal) error {
	return p.cmd.Process.Signal(sig)
}

// Output is what the process has written so far.
func (p *Process) Output() string { return p.output.String() }

// lockedBuffer collects output written from two pipes at once.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(data []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(data)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
