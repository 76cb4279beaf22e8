package mqttlink

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/url"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"golang.org/x/sync/errgroup"

	"github.com/outpost-edge/outpost/internal/backoff"
	"github.com/outpost-edge/outpost/store"
	"github.com/outpost-edge/outpost/sync/desired"
	"github.com/outpost-edge/outpost/sync/protocol"
)

// inboundDepth bounds the messages received and not yet applied. paho's
// router blocks when it is full, which only slows the broker down.
const inboundDepth = 64

// shutdownWait bounds the goodbye (online=false) on a clean stop.
const shutdownWait = 2 * time.Second

// connection runs one connection from attempt to loss. up is how long it
// was established (0 when it never was).
func (l *Link) connection(ctx context.Context) (up time.Duration, err error) {
	tlsCfg, err := l.cfg.tlsConfig()
	if err != nil {
		return 0, err
	}
	sess := &sessionStore{st: l.st, log: l.log}
	defer sess.Close()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	inbound := make(chan mqtt.Message, inboundDepth)
	lost := make(chan error, 1)

	will, _ := json.Marshal(protocol.Online{Online: false, Node: l.p.NodeName, Instance: l.p.InstanceID})
	opts := mqtt.NewClientOptions().
		SetClientID(l.p.NodeName).
		SetUsername(l.cfg.Username).
		SetPassword(l.cfg.Password).
		SetTLSConfig(tlsCfg).
		SetCleanSession(false).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetResumeSubs(false).
		SetOrderMatters(true).
		SetAutoAckDisabled(true).
		SetStore(sess).
		SetKeepAlive(l.cfg.KeepAlive).
		SetPingTimeout(min(l.cfg.KeepAlive, 10*time.Second)).
		SetConnectTimeout(l.cfg.ConnectTimeout).
		SetWriteTimeout(l.cfg.ConnectTimeout).
		SetMaxResumePubInFlight(32).
		SetBinaryWill(l.topics.Online(), will, 1, true).
		SetConnectionAttemptHandler(func(broker *url.URL, c *tls.Config) *tls.Config {
			l.setState(func(s *State) { s.Broker = broker.Redacted() })
			return c
		}).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			select {
			case lost <- err:
			default:
			}
		}).
		// Messages may arrive before the subscriptions are renewed (the
		// session queued them): one default handler takes every message.
		SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) {
			select {
			case inbound <- m:
			case <-sctx.Done(): // not acknowledged: the broker redelivers it
			}
		})
	for _, b := range l.cfg.Brokers {
		opts.AddBroker(b)
	}
	client := mqtt.NewClient(opts)

	l.setState(func(s *State) { s.State, s.Since, s.NextAttempt = StateConnecting, l.p.Clock.Now(), time.Time{} })
	tok := client.Connect()
	select {
	case <-tok.Done():
	case <-ctx.Done():
		client.Disconnect(0)
		return 0, ctx.Err()
	}
	if err := tok.Error(); err != nil {
		return 0, fmt.Errorf("%w: %w", ErrConnect, err)
	}
	began := l.p.Clock.Now()
	sessionPresent := tok.(*mqtt.ConnectToken).SessionPresent()
	l.setState(func(s *State) {
		s.State, s.Since, s.LastConnect, s.LastError = StateConnected, began, began, ""
	})
	l.log.Info().Bool("sessionPresent", sessionPresent).Msg("mqtt link connected")
	defer func() {
		up = l.p.Clock.Now().Sub(began)
		l.setState(func(s *State) { s.LastDisconnect = l.p.Clock.Now() })
	}()

	pub := publisher{client}
	// Subscriptions live in the broker's session: renew them only when it
	// has none, or once per process (the groups may have changed).
	if !l.subscribed || !sessionPresent {
		if err := l.subscribe(sctx, client); err != nil {
			client.Disconnect(0)
			return 0, err
		}
		l.subscribed = true
	}
	// Bounded: seen never to complete after the broker dropped the
	// session under the link (another client took the client id with a
	// clean session) while paho resent stored packets; nothing else would
	// end this connection, whose loops are not started yet.
	hctx, hcancel := context.WithTimeout(sctx, l.cfg.ConnectTimeout)
	err = pub.Publish(l.topics.Online(), 1, true, l.helloPayload())(hctx)
	hcancel()
	if err != nil {
		client.Disconnect(0)
		return 0, fmt.Errorf("publish online: %w", err)
	}

	// The first loop to fail ends the connection and the others.
	g, gctx := errgroup.WithContext(sctx)
	g.Go(func() error { l.receive(gctx, client, inbound); return nil })
	g.Go(func() error { return l.runStatus(gctx, pub) })
	g.Go(func() error { return l.drainer.Run(gctx, pub) })

	select {
	case err = <-lost:
		err = fmt.Errorf("%w: %w", ErrConnectionLost, err)
	case <-gctx.Done():
		if ctx.Err() != nil { // a clean stop
			cancel()
			g.Wait()
			l.goodbye(client)
			return 0, nil
		}
		client.Disconnect(0)
		cancel()
		return 0, g.Wait()
	}
	cancel()
	g.Wait()
	return 0, err
}

// goodbye marks the node offline on a clean stop (a clean DISCONNECT
// suppresses the Last Will) and disconnects.
func (l *Link) goodbye(client mqtt.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownWait)
	defer cancel()
	now := l.p.Clock.Now().UTC()
	bye, _ := json.Marshal(protocol.Online{Online: false, Node: l.p.NodeName, Time: &now, Reason: "shutdown",
		Instance: l.p.InstanceID, NameConflict: l.conflict.otherInstance()})
	if err := (publisher{client}).Publish(l.topics.Online(), 1, true, bye)(ctx); err != nil {
		l.log.Warn().Err(err).Msg("publishing offline on shutdown")
	}
	client.Disconnect(250)
	l.log.Info().Msg("mqtt link stopped")
}

func (l *Link) subscribe(ctx context.Context, client mqtt.Client) error {
	filters := map[string]byte{l.topics.NodeDesired(): 1}
	if l.p.InstanceID != "" {
		// Its own online topic: another instance there is another
		// device claiming the name (conflict.go).
		filters[l.topics.Online()] = 1
	}
	for g := range l.groups {
		filters[l.topics.GroupDesired(g)] = 1
	}
	tok := client.SubscribeMultiple(filters, nil)
	select {
	case <-tok.Done():
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := tok.Error(); err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	var denied []string
	for topic, code := range tok.(*mqtt.SubscribeToken).Result() {
		if code == 0x80 {
			denied = append(denied, topic)
		}
	}
	if len(denied) > 0 {
		// A broker ACL problem: the link stays up (status and events still
		// flow) and says so.
		err := fmt.Errorf("broker refused subscriptions %v", denied)
		l.log.Error().Err(err).Msg("subscribe")
		l.setState(func(s *State) { s.LastError = err.Error() })
	}
	return nil
}

// Pauses between attempts to store a document while the store fails (a
// full disk): the broker redelivers an unacknowledged message only on the
// next connection, so the link retries it itself, jittered, until it is
// stored.
const (
	storeRetryMin = time.Second
	storeRetryMax = 10 * time.Second
)

// receive applies desired documents in arrival order, per source the newest
// of those waiting (desired.Inbox), and acknowledges each only once the
// receiver says so. A document the store could not take is retried until
// it is stored (or a newer one for its source arrives and wins).
func (l *Link) receive(ctx context.Context, client mqtt.Client, inbound <-chan mqtt.Message) {
	var in desired.Inbox
	pol := &backoff.Policy{Min: storeRetryMin, Max: storeRetryMax}
	var retry <-chan time.Time
	for {
		if in.Len() == 0 || retry != nil {
			select {
			case <-ctx.Done():
				return
			case m := <-inbound:
				l.take(ctx, client, &in, m)
			case <-retry:
				retry = nil
			}
		}
		// Take everything that arrived meanwhile: a burst collapses.
		for more := true; more; {
			select {
			case m := <-inbound:
				l.take(ctx, client, &in, m)
			default:
				more = false
			}
		}
		if retry != nil {
			continue
		}
		err := l.recv.Settle(ctx, &in)
		switch {
		case err == nil:
			pol = &backoff.Policy{Min: storeRetryMin, Max: storeRetryMax}
		case ctx.Err() != nil:
			return // not acknowledged: redelivered on the next connection
		default:
			l.setState(func(s *State) { s.LastError = err.Error() })
			wait := pol.Next()
			l.log.Warn().Err(err).Dur("retryIn", wait).Msg("document not stored, will retry")
			retry = l.p.Clock.After(wait)
		}
	}
}

// take puts m in the inbox, or acknowledges and drops it when this node
// does not read its topic or another device claims its name.
func (l *Link) take(ctx context.Context, client mqtt.Client, in *desired.Inbox, m mqtt.Message) {
	if m.Topic() == l.topics.Online() {
		l.onOnline(ctx, client, m)
		in.Skip(m)
		return
	}
	target, ok := l.topics.ParseDesired(m.Topic())
	if ok && target.Group != "" && !l.groups[target.Group] {
		// A subscription left in the broker's session by an older
		// configuration (clean session is off): drop it, or every
		// reconnection brings that group's retained document again.
		l.unsubscribeStale(client, m.Topic())
		ok = false
	}
	if !ok {
		l.setState(func(s *State) { s.Ignored++ })
		l.log.Info().Str("topic", m.Topic()).Msg("message on a topic this node does not read, acknowledged and ignored")
		in.Skip(m)
		return
	}
	if other := l.conflict.otherInstance(); other != "" && target.Group == "" {
		// Which device the node's document was meant for cannot be
		// told; a group's is for every member, this device included.
		l.setState(func(s *State) { s.ConflictDropped++ })
		l.log.Warn().Str("topic", m.Topic()).Str("otherInstance", other).Msg("document not applied: another device uses this node name")
		in.Skip(m)
		return
	}
	src := store.SourceNode
	if target.Group != "" {
		src, _ = store.GroupSource(target.Group) // checked in New
	}
	in.Put(src, m)
}

// unsubscribeStale unsubscribes from topic once per process, without
// holding up the messages behind it.
func (l *Link) unsubscribeStale(client mqtt.Client, topic string) {
	l.mu.Lock()
	_, tried := l.unsubscribed[topic]
	if !tried {
		l.unsubscribed[topic] = false
	}
	l.mu.Unlock()
	if tried {
		return
	}
	go func() {
		tok := client.Unsubscribe(topic)
		ok := tok.WaitTimeout(shutdownWait) && tok.Error() == nil
		l.mu.Lock()
		if ok {
			l.unsubscribed[topic] = true
		} else {
			delete(l.unsubscribed, topic) // try again at its next message
		}
		l.mu.Unlock()
		if !ok {
			l.log.Warn().Err(tok.Error()).Str("topic", topic).Msg("unsubscribing from a group no longer configured")
			return
		}
		l.log.Info().Str("topic", topic).Msg("unsubscribed from a group no longer configured")
	}()
}

// publisher adapts a paho client to report.Publisher.
type publisher struct{ c mqtt.Client }

func (p publisher) Publish(topic string, qos byte, retain bool, payload []byte) func(context.Context) error {
	tok := p.c.Publish(topic, qos, retain, payload)
	return func(ctx context.Context) error {
		select {
		case <-tok.Done():
			return tok.Error()
		case <-ctx.Done():
			// An acknowledgement that arrived together with the end wins.
			select {
			case <-tok.Done():
				return tok.Error()
			default:
				return ctx.Err()
			}
		}
	}
}
