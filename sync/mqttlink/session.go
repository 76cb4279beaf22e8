package mqttlink

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
	"github.com/rs/zerolog"

	"github.com/outpost-edge/outpost/store"
	"github.com/outpost-edge/outpost/sync/protocol"
)

// sessionStore is paho's message store on the store's session bucket: a
// QoS 1 publish stays there from the moment it is handed to the client until
// its PUBACK, across reconnections and restarts, and the client resends it
// (in the order it was first stored) on the next connection.
//
// Every connection gets its own sessionStore over the same bucket: once a
// connection is over its store is closed, so a late write from the dead
// client (paho may still run an ack after the loss) cannot touch the packets
// the next client owns.
type sessionStore struct {
	st  *store.Store
	log zerolog.Logger

	mu     sync.Mutex
	opened bool
}

var _ mqtt.Store = (*sessionStore)(nil)

func (s *sessionStore) isOpen() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opened
}

func (s *sessionStore) Open() {
	s.mu.Lock()
	s.opened = true
	s.mu.Unlock()
}

func (s *sessionStore) Close() {
	s.mu.Lock()
	s.opened = false
	s.mu.Unlock()
}

// Paho's Store has no error returns: a failure is logged, and the packet
// behaves as if kept in memory only.

func (s *sessionStore) Put(key string, p packets.ControlPacket) {
	if !s.isOpen() {
		return
	}
	var buf bytes.Buffer
	if err := p.Write(&buf); err != nil {
		s.log.Error().Err(err).Str("key", key).Msg("encoding session packet")
		return
	}
	if err := s.st.SessionPut(context.Background(), key, buf.Bytes()); err != nil {
		s.log.Error().Err(err).Str("key", key).Msg("storing session packet")
	}
}

func (s *sessionStore) Get(key string) packets.ControlPacket {
	if !s.isOpen() {
		return nil
	}
	data, err := s.st.SessionGet(context.Background(), key)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			s.log.Error().Err(err).Str("key", key).Msg("reading session packet")
		}
		return nil
	}
	p, err := packets.ReadPacket(bytes.NewReader(data))
	if err != nil {
		s.log.Error().Err(err).Str("key", key).Msg("decoding session packet, dropped")
		s.Del(key)
		return nil
	}
	return p
}

func (s *sessionStore) All() []string {
	if !s.isOpen() {
		return nil
	}
	es, err := s.st.SessionEntries(context.Background())
	if err != nil {
		s.log.Error().Err(err).Msg("listing session packets")
		return nil
	}
	keys := make([]string, len(es))
	for i, e := range es {
		keys[i] = e.Key
	}
	return keys
}

func (s *sessionStore) Del(key string) {
	if !s.isOpen() {
		return
	}
	if err := s.st.SessionDelete(context.Background(), key); err != nil {
		s.log.Error().Err(err).Str("key", key).Msg("deleting session packet")
	}
}

func (s *sessionStore) Reset() {
	if err := s.st.SessionReset(context.Background()); err != nil {
		s.log.Error().Err(err).Msg("resetting session packets")
	}
}

// reconcile runs before a client connects. An event the previous client had
// taken (it is in the session store) is resent by the new client; it must
// not be sent again from the outbox. The drainer hands events over in
// outbox order, so every outbox message up to the highest event seq in the
// session store was handed over: they leave the outbox.
func reconcile(ctx context.Context, st *store.Store, topics protocol.Topics, log zerolog.Logger) {
	es, err := st.SessionEntries(ctx)
	if err != nil {
		log.Error().Err(err).Msg("reading session packets")
		return
	}
	var high uint64
	for _, e := range es {
		if !strings.HasPrefix(e.Key, "o.") {
			continue
		}
		p, err := packets.ReadPacket(bytes.NewReader(e.Data))
		if err != nil {
			continue
		}
		pub, ok := p.(*packets.PublishPacket)
		if !ok || pub.TopicName != topics.Events() {
			continue
		}
		if seq, err := protocol.EventSeq(pub.Payload); err == nil && seq > high {
			high = seq
		}
	}
	if high == 0 {
		return
	}
	if err := st.Ack(ctx, high); err != nil {
		log.Warn().Err(err).Uint64("seq", high).Msg("events in the session store are not in the outbox")
		return
	}
	log.Debug().Uint64("seq", high).Msg("outbox acknowledged up to the events the session store resends")
}
