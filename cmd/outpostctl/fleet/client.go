// Package fleet is the control plane's side of the Outpost MQTT protocol
// (docs/protocol.md), for operators and tools: read what the broker retains
// about the fleet (online flags, status reports, desired documents), publish
// a node's or a group's next desired document, signed or not, wait until the
// nodes report it observed, and follow their events. cmd/outpostctl is its
// command line.
//
// A Client is one MQTT connection with a clean session and a random client
// id ("outpostctl-<hex>", never a node's name: a node's client id is its
// name and a second client with it would take its session). It subscribes at
// QoS 0 only: a connected QoS 0 subscriber loses nothing on TCP, and a
// burst of a thousand retained reports at QoS 1 would overflow the broker's
// per-client queue (mosquitto's max_queued_messages) and be cut short.
//
// MQTT has no "end of retained messages". To know it has every retained
// message of a subscription, the client publishes a marker on its own topic
// {prefix}/ctl/{clientID}/sync right after the SUBACK and waits for it to
// come back: the broker sends a client's messages in order and queued the
// retained ones before the marker. Where the broker's ACL forbids the
// marker, the client falls back to waiting for a quiet period
// (Options.Quiet).
package fleet

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/rs/zerolog"

	"github.com/outpost-edge/outpost/sync/mqttlink"
	"github.com/outpost-edge/outpost/sync/protocol"
)

// Sentinel errors; every error of the package that is not the context's or
// the broker's wraps one of them.
var (
	// ErrInvalid: bad configuration, target, manifest or key.
	ErrInvalid = errors.New("invalid")
	// ErrBroker: the broker could not be reached or refused an operation.
	ErrBroker = errors.New("broker")
	// ErrPending: some nodes did not observe the generation in time.
	ErrPending = errors.New("not observed")
	// ErrRejected: a node rejected the document (its Warning event says why).
	ErrRejected = errors.New("rejected")
)

// Options tune a Client. The zero value is usable.
type Options struct {
	// ClientID defaults to "outpostctl-" and 8 random hex digits.
	ClientID string
	// Quiet is how long a subscription must stay silent before its retained
	// messages are taken as complete when the sync marker does not come
	// back (default 2s).
	Quiet  time.Duration
	Logger zerolog.Logger
}

// Client is a connection to the broker on the control plane's behalf.
type Client struct {
	c      mqtt.Client
	prefix string
	id     string
	opts   Options
	log    zerolog.Logger

	markerSeq atomic.Uint64
	mu        sync.Mutex
	markers   map[string]chan struct{} // pending sync markers by payload
	markerOn  bool                     // subscribed to the marker topic
	// routes holds the handlers of each subscribed filter: paho keeps one
	// handler per filter and an UNSUBSCRIBE ends the filter for the whole
	// connection, so overlapping subscriptions (a Watcher and a Fleet read)
	// share one route and the last to close unsubscribes.
	routes  map[string]map[uint64]func(Message)
	routeID uint64
	// subMu orders SUBSCRIBE and UNSUBSCRIBE of the same filter.
	subMu sync.Mutex

	lost     chan struct{} // closed when the connection is lost
	lostOnce sync.Once
	lostErr  error
}

// Dial connects to the first broker of cfg that accepts (cfg is the agent's
// mqtt section; only the connection keys and prefix are used).
func Dial(ctx context.Context, cfg mqttlink.Config, opts Options) (*Client, error) {
	if len(cfg.Brokers) == 0 {
		return nil, fmt.Errorf("%w: no broker configured", ErrInvalid)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if cfg.Prefix == "" {
		cfg.Prefix = protocol.DefaultPrefix
	}
	tlsCfg, err := cfg.TLS.Config()
	if err != nil {
		return nil, err
	}
	if opts.ClientID == "" {
		var b [4]byte
		_, _ = rand.Read(b[:])
		opts.ClientID = "outpostctl-" + hex.EncodeToString(b[:])
	}
	if opts.Quiet <= 0 {
		opts.Quiet = 2 * time.Second
	}
	log := opts.Logger
	if reflect.ValueOf(log).IsZero() {
		log = zerolog.Nop()
	}
	c := &Client{prefix: cfg.Prefix, id: opts.ClientID, opts: opts, markers: map[string]chan struct{}{},
		routes: map[string]map[uint64]func(Message){},
		lost:   make(chan struct{}), log: log.With().Str("component", "fleet").Logger()}
	timeout := cfg.ConnectTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	keepAlive := cfg.KeepAlive
	if keepAlive <= 0 {
		keepAlive = 30 * time.Second
	}
	mo := mqtt.NewClientOptions().
		SetClientID(opts.ClientID).
		SetUsername(cfg.Username).
		SetPassword(cfg.Password).
		SetTLSConfig(tlsCfg).
		SetCleanSession(true).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetOrderMatters(true).
		SetKeepAlive(keepAlive).
		SetConnectTimeout(timeout).
		SetWriteTimeout(timeout).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			c.lostOnce.Do(func() { c.lostErr = err; close(c.lost) })
		})
	for _, b := range cfg.Brokers {
		mo.AddBroker(b)
	}
	c.c = mqtt.NewClient(mo)
	if err := c.wait(ctx, c.c.Connect()); err != nil {
		c.c.Disconnect(0)
		return nil, fmt.Errorf("%w: connect to %v: %w", ErrBroker, cfg.Brokers, err)
	}
	return c, nil
}

// Close disconnects.
func (c *Client) Close() { c.c.Disconnect(250) }

// Lost is closed when the connection is lost; the client does not
// reconnect (dial a new one).
func (c *Client) Lost() <-chan struct{} { return c.lost }

// LostErr is why the connection was lost, once Lost is closed.
func (c *Client) LostErr() error {
	select {
	case <-c.lost:
		return fmt.Errorf("%w: connection lost: %w", ErrBroker, c.lostErr)
	default:
		return nil
	}
}

// Prefix is the topic prefix in use.
func (c *Client) Prefix() string { return c.prefix }

// wait waits for a paho token or ctx.
func (c *Client) wait(ctx context.Context, tok mqtt.Token) error {
	select {
	case <-tok.Done():
		return tok.Error()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Message is one message a subscription received.
type Message struct {
	Topic    string
	Payload  []byte
	Retained bool
}

// subscription is a live QoS 0 subscription; Close ends it.
type subscription struct {
	c       *Client
	id      uint64
	filters []string
}

// subscribe subscribes to filters and returns once the retained messages
// they hold were handed to fn (see the package doc); fn then keeps
// receiving every new message until Close. fn runs on the client's
// delivery goroutine, one message at a time, and must not block. Another
// subscription of the same filter may hand fn the retained messages again.
func (c *Client) subscribe(ctx context.Context, filters []string, fn func(Message)) (*subscription, error) {
	var last atomic.Int64 // unix nanos of the last message
	last.Store(time.Now().UnixNano())
	if err := c.subscribeMarker(ctx); err != nil {
		return nil, err
	}
	c.subMu.Lock()
	c.mu.Lock()
	c.routeID++
	s := &subscription{c: c, id: c.routeID, filters: filters}
	m := make(map[string]byte, len(filters))
	for _, f := range filters {
		m[f] = 0
		if c.routes[f] == nil {
			c.routes[f] = map[uint64]func(Message){}
		}
		c.routes[f][s.id] = func(msg Message) {
			last.Store(time.Now().UnixNano())
			fn(msg)
		}
	}
	c.mu.Unlock()
	// Subscribing again to a filter already held is what makes the broker
	// send its retained messages again, for the new subscriber.
	tok := c.c.SubscribeMultiple(m, c.route)
	err := c.wait(ctx, tok)
	c.subMu.Unlock()
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("%w: subscribe %v: %w", ErrBroker, filters, err)
	}
	for topic, code := range tok.(*mqtt.SubscribeToken).Result() {
		if code == 0x80 {
			s.Close()
			return nil, fmt.Errorf("%w: the broker refused the subscription to %s (ACL?)", ErrBroker, topic)
		}
	}
	if err := c.sync(ctx, &last); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// route hands a message to every subscription of every filter it matches.
func (c *Client) route(_ mqtt.Client, msg mqtt.Message) {
	m := Message{Topic: msg.Topic(), Payload: msg.Payload(), Retained: msg.Retained()}
	c.mu.Lock()
	var fns []func(Message)
	for f, subs := range c.routes {
		if topicMatches(f, m.Topic) {
			for _, fn := range subs {
				fns = append(fns, fn)
			}
		}
	}
	c.mu.Unlock()
	for _, fn := range fns {
		fn(m)
	}
}

// topicMatches reports whether topic matches the MQTT filter (+ and #).
func topicMatches(filter, topic string) bool {
	fs, ts := strings.Split(filter, "/"), strings.Split(topic, "/")
	for i, f := range fs {
		if f == "#" {
			return true
		}
		if i >= len(ts) || (f != "+" && f != ts[i]) {
			return false
		}
	}
	return len(fs) == len(ts)
}

// Close ends the subscription; a filter no other subscription holds is
// unsubscribed. Messages already under way may still reach fn.
func (s *subscription) Close() {
	c := s.c
	c.subMu.Lock()
	defer c.subMu.Unlock()
	c.mu.Lock()
	var unsub []string
	for _, f := range s.filters {
		delete(c.routes[f], s.id)
		if len(c.routes[f]) == 0 {
			delete(c.routes, f)
			unsub = append(unsub, f)
		}
	}
	c.mu.Unlock()
	if len(unsub) > 0 {
		c.c.Unsubscribe(unsub...).WaitTimeout(5 * time.Second)
	}
}

func (c *Client) markerTopic() string { return c.prefix + "/ctl/" + c.id + "/sync" }

func (c *Client) subscribeMarker(ctx context.Context) error {
	c.mu.Lock()
	on := c.markerOn
	c.mu.Unlock()
	if on {
		return nil
	}
	tok := c.c.Subscribe(c.markerTopic(), 0, func(_ mqtt.Client, msg mqtt.Message) {
		c.mu.Lock()
		if ch, ok := c.markers[string(msg.Payload())]; ok {
			close(ch)
			delete(c.markers, string(msg.Payload()))
		}
		c.mu.Unlock()
	})
	if err := c.wait(ctx, tok); err != nil {
		return fmt.Errorf("%w: subscribe %s: %w", ErrBroker, c.markerTopic(), err)
	}
	// A refused marker subscription is no error: sync falls back to quiet.
	c.mu.Lock()
	c.markerOn = true
	c.mu.Unlock()
	return nil
}

// sync returns once the marker published now came back, or once no message
// arrived for Quiet (last holds the time of the last one).
func (c *Client) sync(ctx context.Context, last *atomic.Int64) error {
	payload := strconv.FormatUint(c.markerSeq.Add(1), 10)
	back := make(chan struct{})
	c.mu.Lock()
	c.markers[payload] = back
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.markers, payload)
		c.mu.Unlock()
	}()
	c.c.Publish(c.markerTopic(), 0, false, payload)
	tick := time.NewTicker(c.opts.Quiet / 10)
	defer tick.Stop()
	for {
		select {
		case <-back:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
			if time.Since(time.Unix(0, last.Load())) >= c.opts.Quiet {
				c.log.Debug().Msg("sync marker did not come back, took a quiet period as the end of the retained messages")
				return nil
			}
		}
	}
}

// Retained returns the retained messages under filters, in arrival order.
func (c *Client) Retained(ctx context.Context, filters ...string) ([]Message, error) {
	var (
		mu  sync.Mutex
		out []Message
	)
	s, err := c.subscribe(ctx, filters, func(m Message) {
		if m.Retained {
			mu.Lock()
			out = append(out, m)
			mu.Unlock()
		}
	})
	if err != nil {
		return nil, err
	}
	s.Close()
	mu.Lock()
	defer mu.Unlock()
	return out, nil
}
