package pgtest

import (
	"bytes"
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
)

// Proxy forwards TCP connections to PostgreSQL until it is cut: then it
// closes every connection and refuses new ones until it is restored. It can
// also break the one connection that sends a given message.
type Proxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]bool
	trap  *trap
	wg    sync.WaitGroup
}

// trap breaks the connection whose client sends bytes containing pattern:
// before forwarding them, or just after.
type trap struct {
	pattern []byte
	forward bool
	sprung  chan struct{}
}

func startProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(func() {
		ln.Close()
		p.Cut()
		p.wg.Wait()
	})
	return p
}

func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.cut {
			p.mu.Unlock()
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns[c], p.conns[up] = true, true
		p.wg.Add(2)
		go p.pipeClient(up, c)
		go p.pipe(c, up)
		p.mu.Unlock()
	}
}

func (p *Proxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	io.Copy(dst, src)
	dst.Close()
	src.Close()
}

// pipeClient forwards what the client sends, springing the trap.
func (p *Proxy) pipeClient(dst, src net.Conn) {
	defer p.wg.Done()
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 64<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			tr := p.trap
			if tr != nil && bytes.Contains(buf[:n], tr.pattern) {
				p.trap = nil
			} else {
				tr = nil
			}
			p.mu.Unlock()
			if tr != nil && tr.forward {
				dst.Write(buf[:n])
			}
			if tr != nil {
				close(tr.sprung)
				return
			}
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// Trap breaks the next connection that sends pattern, after forwarding it
// when forward is set. The returned channel is closed when it happened.
func (p *Proxy) Trap(pattern string, forward bool) <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.trap = &trap{pattern: []byte(pattern), forward: forward, sprung: make(chan struct{})}
	return p.trap.sprung
}

// Cut closes every connection and refuses new ones.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

// Restore accepts connections again.
func (p *Proxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = false
}

// Through starts a Proxy to the PostgreSQL server of rawURL, stopped when
// the test ends, and returns rawURL with its host replaced by the proxy's.
func Through(t testing.TB, rawURL string) (string, *Proxy) {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	target := u.Host
	if u.Port() == "" {
		target = net.JoinHostPort(u.Hostname(), "5432")
	}
	p := startProxy(t, target)
	u.Host = p.ln.Addr().String()
	return u.String(), p
}
