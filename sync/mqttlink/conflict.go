package mqttlink

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/sync/protocol"
)

// ReasonNodeNameConflict is the warning event of a detected name conflict.
const ReasonNodeNameConflict = api.NodeNameConflict

// conflictEvidence is how many messages naming another instance make a
// conflict. One is not enough: the Last Will of this device's previous
// instance (a reflashed data dir draws a new instance id) is queued in the
// broker's session and delivered once at the first connection. Two devices
// that share a name share the MQTT client id too, so each connection takes
// the other's over and brings its Last Will: evidence keeps coming.
const conflictEvidence = 2

// NameConflict is another device claiming this node's name.
type NameConflict struct {
	// OtherInstance is the other device's instance id.
	OtherInstance string    `json:"otherInstance"`
	Since         time.Time `json:"since"`
}

// conflictWatch reads the node's own online topic for other instances.
type conflictWatch struct {
	mine     string
	detected chan struct{} // closed at detection; it stays for the process

	mu       sync.Mutex
	evidence int
	other    string
}

// observe counts an online message; it reports the other instance id when
// this message makes the conflict (once per process).
//
// Counted: a message of another instance delivered live (a Last Will the
// broker publishes as our connection takes the other's over, or its
// online message), and a retained one that says the other is online. A
// retained offline message of another instance is the past of this name
// (a reflashed device's previous instance), not a conflict.
func (w *conflictWatch) observe(o protocol.Online, retained bool) (string, bool) {
	if w.mine == "" || o.Instance == "" || o.Instance == w.mine || (retained && !o.Online) {
		return "", false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.evidence++
	w.other = o.Instance
	if w.evidence != conflictEvidence {
		return "", false
	}
	close(w.detected)
	return o.Instance, true
}

// otherInstance is the other device's instance id once a conflict was detected.
func (w *conflictWatch) otherInstance() string {
	select {
	case <-w.detected:
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.other
	default:
		return ""
	}
}

// onOnline handles a message on the node's own online topic.
func (l *Link) onOnline(ctx context.Context, client mqtt.Client, m mqtt.Message) {
	var o protocol.Online
	if err := json.Unmarshal(m.Payload(), &o); err != nil {
		l.log.Warn().Err(err).Msg("unreadable message on the node's online topic, ignored")
		return
	}
	other, now := l.conflict.observe(o, m.Retained())
	if !now {
		if o.Instance != "" && o.Instance != l.p.InstanceID {
			l.log.Info().Str("otherInstance", o.Instance).Bool("retained", m.Retained()).Bool("online", o.Online).
				Msg("online message of another instance of this node name")
		}
		return
	}
	since := l.p.Clock.Now().UTC()
	msg := fmt.Sprintf("another device (instance %s) uses the node name %q, this one is instance %s: "+
		"remote documents for this name are no longer applied and its status no longer published (stored pods keep running); "+
		"give each device its own nodeName and restart", other, l.p.NodeName, l.p.InstanceID)
	l.log.Error().Str("otherInstance", other).Msg(msg)
	ev := api.Event{Type: api.EventWarning, Reason: ReasonNodeNameConflict, Object: "node", Message: msg, Time: since}
	// Detected once per process: recorded even when the connection that
	// brought it is ending (the other device took it over).
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := l.st.RecordEvent(ctx, ev); err != nil {
		l.log.Error().Err(err).Msg("recording event")
	}
	l.setState(func(s *State) { s.NameConflict = &NameConflict{OtherInstance: other, Since: since} })
	// Say it where the operator looks first (outpostctl get nodes), not
	// waiting for the publish: the receive loop must not stall.
	client.Publish(l.topics.Online(), 1, true, l.helloPayload())
}

// helloPayload is the retained online message of a connected node.
func (l *Link) helloPayload() []byte {
	now := l.p.Clock.Now().UTC()
	b, _ := json.Marshal(protocol.Online{Online: true, Node: l.p.NodeName, Time: &now, AgentVersion: l.p.AgentVersion,
		Instance: l.p.InstanceID, NameConflict: l.conflict.otherInstance()})
	return b
}

// runStatus publishes status snapshots until ctx ends or a name conflict
// is detected: the retained status of this name is no longer this node's
// to overwrite.
func (l *Link) runStatus(ctx context.Context, pub publisher) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-l.conflict.detected:
			cancel()
		case <-ctx.Done():
		}
	}()
	select {
	case <-l.conflict.detected:
		return nil
	default:
	}
	return l.status.Run(ctx, pub)
}
