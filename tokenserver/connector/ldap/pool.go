package ldap

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// pool keeps at most cap(slots) connections open for one role (service searches or user
// binds): idle ones wait in idle, and every open connection, idle or in use, holds a slot.
type pool struct {
	dial        func(context.Context) (*ldap.Conn, error)
	idle        chan *pooledConn
	slots       chan struct{}
	keepIdle    bool
	idleTimeout time.Duration
	maxWait     time.Duration
	now         func() time.Time

	mu     sync.Mutex
	closed bool
}

type pooledConn struct {
	*ldap.Conn
	idleSince time.Time
}

// poolSettings are the settings shared by the pools of a directory.
type poolSettings struct {
	keepIdle    bool
	idleTimeout time.Duration
	// maxWait bounds the wait for a connection when all are in use.
	maxWait time.Duration
	now     func() time.Time
}

func newPool(size int, s poolSettings, dial func(context.Context) (*ldap.Conn, error)) *pool {
	return &pool{
		dial:        dial,
		idle:        make(chan *pooledConn, size),
		slots:       make(chan struct{}, size),
		keepIdle:    s.keepIdle,
		idleTimeout: s.idleTimeout,
		maxWait:     s.maxWait,
		now:         s.now,
	}
}

// get returns an idle connection when allowIdle and one is healthy, or dials a new one
// when the pool has room; otherwise it waits for either, at most maxWait. reused says the
// connection was idle, so a network error on it may only mean the server dropped it.
func (p *pool) get(ctx context.Context, allowIdle bool) (c *pooledConn, reused bool, err error) {
	idle := p.idle
	if !allowIdle {
		idle = nil
	}
	wait := time.NewTimer(p.maxWait)
	defer wait.Stop()
	for {
		select {
		case c := <-idle:
			if p.healthy(c) {
				return c, true, nil
			}
			p.discard(c)
			continue
		default:
		}
		select {
		case c := <-idle:
			if p.healthy(c) {
				return c, true, nil
			}
			p.discard(c)
		case p.slots <- struct{}{}:
			conn, err := p.dial(ctx)
			if err != nil {
				<-p.slots
				return nil, false, err
			}
			return &pooledConn{Conn: conn}, false, nil
		case <-ctx.Done():
			return nil, false, ctx.Err()
		case <-wait.C:
			return nil, false, errors.New("all connections stayed busy")
		}
	}
}

// healthy tells whether an idle connection is worth reusing: its reader has not seen the
// server close it, and it has not been idle so long that a server or firewall may have
// dropped it silently.
func (p *pool) healthy(c *pooledConn) bool {
	return !c.IsClosing() && p.now().Sub(c.idleSince) < p.idleTimeout
}

// put returns a connection that worked to the pool, or closes it when the pool keeps no
// idle connections or is closed.
func (p *pool) put(c *pooledConn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || !p.keepIdle {
		p.discardLocked(c)
		return
	}
	c.idleSince = p.now()
	p.idle <- c // never blocks: every open connection holds one of cap(idle) slots.
}

// discard closes a connection and frees its slot.
func (p *pool) discard(c *pooledConn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.discardLocked(c)
}

func (p *pool) discardLocked(c *pooledConn) {
	_ = c.Close()
	<-p.slots
}

// close closes the idle connections; connections in use are closed when put back.
func (p *pool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for {
		select {
		case c := <-p.idle:
			p.discardLocked(c)
		default:
			return
		}
	}
}
