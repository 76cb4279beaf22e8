package images_test

import (
	"errors"
	"io"
	"net"
	"sync"
	"testing"
)

// relay forwards loopback TCP connections to a target and counts the bytes
// sent back to the client. It can cut every connection once a number of
// bytes went through, and refuse connections while broken.
type relay struct {
	ln     net.Listener
	target string

	mu       sync.Mutex
	down     int64 // bytes target -> client since the last reset
	conns    int   // connections accepted since the last reset
	cutAfter int64 // 0: never
	stall    bool  // at cutAfter, stop forwarding but keep connections
	onCut    func()
	broken   bool
	stalled  chan struct{} // closed by heal and at cleanup
	open     map[net.Conn]bool
	wg       sync.WaitGroup
}

func startRelay(t *testing.T, target string) *relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{ln: ln, target: target, open: map[net.Conn]bool{}, stalled: make(chan struct{})}
	r.wg.Add(1)
	go r.accept()
	t.Cleanup(func() {
		r.heal()
		ln.Close()
		r.mu.Lock()
		for c := range r.open {
			c.Close()
		}
		r.mu.Unlock()
		r.wg.Wait()
	})
	return r
}

func (r *relay) addr() string { return r.ln.Addr().String() }

// cut makes the relay cut all connections once n more bytes went to
// clients, call onCut, and refuse connections until heal. With stall, it
// stops forwarding instead, keeping the connections open until heal.
func (r *relay) cut(n int64, stall bool, onCut func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.down, r.conns, r.cutAfter, r.stall, r.onCut = 0, 0, n, stall, onCut
}

// breakNow refuses connections until heal.
func (r *relay) breakNow() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.broken = true
}

// heal forwards again and resets the counters.
func (r *relay) heal() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.down, r.conns, r.cutAfter, r.onCut, r.broken = 0, 0, 0, nil, false
	if r.stall {
		close(r.stalled)
		r.stalled, r.stall = make(chan struct{}), false
	}
}

// counts returns the bytes sent to clients and connections accepted since
// the last reset.
func (r *relay) counts() (int64, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.down, r.conns
}

func (r *relay) accept() {
	defer r.wg.Done()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		r.mu.Lock()
		r.conns++
		broken := r.broken
		if !broken {
			r.open[c] = true
		}
		r.mu.Unlock()
		if broken {
			// A reset, not an EOF: containerd's resolver retries EOFs
			// itself, with real sleeps.
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
			continue
		}
		r.wg.Add(1)
		go r.serve(c)
	}
}

func (r *relay) serve(c net.Conn) {
	defer r.wg.Done()
	defer r.forget(c)
	up, err := net.Dial("tcp", r.target)
	if err != nil {
		return
	}
	defer up.Close()
	go func() {
		io.Copy(up, c)
		up.Close()
	}()
	buf := make([]byte, 16<<10)
	for {
		n, err := up.Read(buf)
		if n > 0 {
			allowed, cut, stalled := r.account(int64(n))
			if _, werr := c.Write(buf[:allowed]); werr != nil {
				return
			}
			if stalled != nil {
				<-stalled
				return
			}
			if cut {
				r.cutAll()
				return
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				return
			}
			return
		}
	}
}

// account counts n bytes toward the cut and returns how many may go
// through, whether the cut is reached, and when stalling what to wait for.
func (r *relay) account(n int64) (int64, bool, chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stall && r.cutAfter == 0 && r.broken {
		return 0, true, r.stalled // another connection during the stall
	}
	if r.cutAfter > 0 && r.down+n >= r.cutAfter {
		allowed := r.cutAfter - r.down
		r.down = r.cutAfter
		r.cutAfter = 0
		r.broken = true
		if r.onCut != nil {
			go r.onCut()
		}
		if r.stall {
			return allowed, true, r.stalled
		}
		return allowed, true, nil
	}
	r.down += n
	return n, false, nil
}

func (r *relay) cutAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for c := range r.open {
		c.Close()
	}
}

func (r *relay) forget(c net.Conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.open, c)
	c.Close()
}
