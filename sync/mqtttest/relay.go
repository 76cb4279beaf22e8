package mqtttest

import (
	"errors"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// MQTT control packet types (the high nibble of the fixed header).
const (
	Connect    = 1
	Connack    = 2
	Publish    = 3
	Puback     = 4
	Subscribe  = 8
	Suback     = 9
	Pingreq    = 12
	Pingresp   = 13
	Disconnect = 14
)

// Relay is a TCP proxy on a loopback port in front of a target address. It
// counts the bytes and the MQTT control packets in each direction, and
// when each connection was accepted. When the target refuses, the accepted
// connection is closed at once: to the client it is a failed attempt, and it
// is counted as one.
type Relay struct {
	ln     net.Listener
	target string

	up, down         atomic.Int64 // bytes client->target, target->client
	upPkts, downPkts packetCounts
	mu               sync.Mutex
	accepts          []time.Time
	conns            map[net.Conn]struct{}
	closed           bool
	wg               sync.WaitGroup
}

// NewRelay listens on a free loopback port and relays to target (host:port).
func NewRelay(tb testing.TB, target string) *Relay {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	r := &Relay{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	r.wg.Add(1)
	go r.serve()
	tb.Cleanup(r.Close)
	return r
}

// URL is the relay's tcp:// URL.
func (r *Relay) URL() string { return "tcp://" + r.ln.Addr().String() }

// Bytes returns the bytes relayed so far: client to target, target to client.
func (r *Relay) Bytes() (up, down int64) { return r.up.Load(), r.down.Load() }

// Packets returns how many MQTT packets of type typ went each way.
func (r *Relay) Packets(typ int) (up, down int64) {
	return r.upPkts[typ&15].Load(), r.downPkts[typ&15].Load()
}

// ResetCounts zeroes the byte and packet counters (not the accept times).
func (r *Relay) ResetCounts() {
	r.up.Store(0)
	r.down.Store(0)
	for i := range r.upPkts {
		r.upPkts[i].Store(0)
		r.downPkts[i].Store(0)
	}
}

// Accepts returns when each connection was accepted, in order.
func (r *Relay) Accepts() []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.accepts)
}

// PeakPerSecond is the largest number of connections accepted in any window
// of one second starting at or after since.
func PeakPerSecond(accepts []time.Time, since time.Time) int {
	i := 0
	for i < len(accepts) && accepts[i].Before(since) {
		i++
	}
	peak := 0
	for lo, hi := i, i; hi < len(accepts); hi++ {
		for accepts[hi].Sub(accepts[lo]) >= time.Second {
			lo++
		}
		peak = max(peak, hi-lo+1)
	}
	return peak
}

// Close stops accepting and closes every relayed connection.
func (r *Relay) Close() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	for c := range r.conns {
		c.Close()
	}
	r.mu.Unlock()
	r.ln.Close()
	r.wg.Wait()
}

func (r *Relay) serve() {
	defer r.wg.Done()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		r.mu.Lock()
		r.accepts = append(r.accepts, time.Now())
		if r.closed {
			r.mu.Unlock()
			c.Close()
			return
		}
		r.conns[c] = struct{}{}
		r.wg.Add(1)
		r.mu.Unlock()
		go r.relay(c)
	}
}

func (r *Relay) track(c net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.conns[c] = struct{}{}
	return true
}

func (r *Relay) forget(cs ...net.Conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range cs {
		delete(r.conns, c)
		c.Close()
	}
}

func (r *Relay) relay(client net.Conn) {
	defer r.wg.Done()
	target, err := net.DialTimeout("tcp", r.target, 5*time.Second)
	if err != nil {
		r.forget(client)
		return
	}
	if !r.track(target) {
		target.Close()
		r.forget(client)
		return
	}
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn, n *atomic.Int64, pk *packetCounts) {
		w := &countingWriter{w: dst, n: n, frames: frameParser{counts: pk}}
		_, _ = io.Copy(w, src)
		// One side ended: end both, as a broker or client crash would.
		r.forget(client, target)
		done <- struct{}{}
	}
	go pipe(target, client, &r.up, &r.upPkts)
	go pipe(client, target, &r.down, &r.downPkts)
	<-done
	<-done
}

type packetCounts [16]atomic.Int64

type countingWriter struct {
	w      io.Writer
	n      *atomic.Int64
	frames frameParser
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	c.frames.feed(p[:n])
	if err == nil && n < len(p) {
		err = errors.New("short write")
	}
	return n, err
}

// frameParser follows MQTT's framing (a type byte, a variable-length
// remaining length, then that many bytes) across reads, counting packets.
type frameParser struct {
	counts    *packetCounts
	state     int // 0: type byte, 1: remaining length, 2: body
	typ       byte
	remaining int
	mul       int
}

func (f *frameParser) feed(p []byte) {
	for len(p) > 0 {
		switch f.state {
		case 0:
			f.typ, f.remaining, f.mul, f.state = p[0]>>4, 0, 1, 1
			p = p[1:]
		case 1:
			b := p[0]
			p = p[1:]
			f.remaining += int(b&127) * f.mul
			f.mul *= 128
			if b&128 == 0 {
				f.counts[f.typ].Add(1)
				f.state = 0
				if f.remaining > 0 {
					f.state = 2
				}
			}
		case 2:
			n := min(f.remaining, len(p))
			p = p[n:]
			if f.remaining -= n; f.remaining == 0 {
				f.state = 0
			}
		}
	}
}
