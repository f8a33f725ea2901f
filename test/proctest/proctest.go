// Package proctest runs the servers that tests start as child processes: slapd, Samba,
// kube-controller-manager and gatehouse itself, on free loopback ports. A child dies with
// the test binary, so a killed test never leaves a server holding its ports.
//
// It imports nothing but the standard library, so that the tests of every package,
// the token server's included, may use it.
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
	output Buffer
}

// Start starts cmd in a process group of its own. Its standard output and error go to
// cmd.Stdout when the caller set one (such as a log file, for a process that runs for
// hours), else they are kept for Output. A cmd.SysProcAttr.Credential is kept, for a
// server that refuses to run as root (PostgreSQL).
func Start(cmd *exec.Cmd) (*Process, error) {
	p := &Process{cmd: cmd, exited: make(chan struct{})}
	if cmd.Stdout == nil {
		cmd.Stdout = &p.output
	}
	cmd.Stderr = cmd.Stdout
	attr := &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if cmd.SysProcAttr != nil {
		// The kernel sets the parent-death signal after the credentials change, so it
		// survives them.
		attr.Credential = cmd.SysProcAttr.Credential
	}
	cmd.SysProcAttr = attr
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

// Wait waits until the process has exited and returns its exit error.
func (p *Process) Wait() error {
	<-p.exited
	return p.err
}

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

// Output is what the process has written so far, unless Start sent it elsewhere.
func (p *Process) Output() string { return p.output.String() }

// Buffer collects what several writers write at once: a process's two pipes, a logger's
// concurrent handlers.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(data []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(data)
}

// String is what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
