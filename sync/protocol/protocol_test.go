package protocol

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/outpost-edge/outpost/internal/testenv"

	"github.com/outpost-edge/outpost/api"
)

func TestDecode(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	_, other, _ := ed25519.GenerateKey(nil)
	keys := Keys{"k1": pub}
	const topic = "outpost/v1/nodes/n1/desired"
	sign := func(id string, k ed25519.PrivateKey, d []byte) []byte {
		b, err := Sign(id, k, topic, d)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tampered := func() []byte {
		var env Signed
		_ = json.Unmarshal(sign("k1", priv, testenv.NodeStateDoc(3, "a")), &env)
		env.Payload = base64.StdEncoding.EncodeToString(testenv.NodeStateDoc(3, "evil"))
		b, _ := json.Marshal(env)
		return b
	}()
	tests := []struct {
		name     string
		payload  []byte
		keys     Keys
		want     error  // nil: accepted
		pods     string // accepted: the pod names
		verified bool
		msg      string // part of the error text
	}{
		{"plain without keys", testenv.NodeStateDoc(2, "a", "b"), nil, nil, "a,b", false, ""},
		{"signed without keys is unwrapped", sign("k9", other, testenv.NodeStateDoc(2, "a")), nil, nil, "a", false, ""},
		{"signed with keys", sign("k1", priv, testenv.NodeStateDoc(4, "x")), keys, nil, "x", true, ""},
		{"empty", nil, nil, ErrEmpty, "", false, "empty payload"},
		{"empty with keys", []byte{}, keys, ErrEmpty, "", false, ""},
		{"unsigned with keys", testenv.NodeStateDoc(2, "a"), keys, ErrSignature, "", false, "not a Signed envelope"},
		{"unknown key", sign("k2", priv, testenv.NodeStateDoc(2, "a")), keys, ErrSignature, "", false, `"k2" is not trusted`},
		{"forged", sign("k1", other, testenv.NodeStateDoc(2, "a")), keys, ErrSignature, "", false, "does not verify"},
		{"tampered payload", tampered, keys, ErrSignature, "", false, "does not verify"},
		{"envelope with extra field", []byte(`{"apiVersion":"outpost.dev/v1","kind":"Signed","keyId":"k1","target":"outpost/v1/nodes/n1/desired","payload":"","signature":"","x":1}`), keys, ErrSignature, "", false, "unknown field"},
		{"oversized", make([]byte, MaxPayloadBytes+1), nil, ErrTooLarge, "", false, "more than"},
		{"malformed json", []byte(`{"apiVersion":"outpost.dev/v1","kind":"NodeState",`), nil, ErrInvalid, "", false, "cannot parse"},
		{"invalid spec", []byte(`{"apiVersion":"outpost.dev/v1","kind":"NodeState","generation":1,"pods":[{"metadata":{"name":"a"},"spec":{"containers":[{"name":"c"}]}}]}`),
			nil, ErrInvalid, "", false, "pods[a].spec.containers[0].image"},
		{"generation above the range", testenv.NodeStateDoc(1<<53, "a"), nil, ErrInvalid, "", false, "generation: must be at most"},
		{"signed invalid spec", sign("k1", priv, []byte(`{"apiVersion":"outpost.dev/v1","kind":"NodeState","generation":0}`)), keys, ErrInvalid, "", false, "generation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Decode(tt.payload, tt.keys, topic)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				var names []string
				for _, p := range d.State.Pods {
					names = append(names, p.Metadata.Name)
				}
				if got := strings.Join(names, ","); got != tt.pods || d.Verified != tt.verified {
					t.Fatalf("pods %q verified %v, want %q %v", got, d.Verified, tt.pods, tt.verified)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Decode = %v, want %v", err, tt.want)
			}
			if Reason(err) != tt.want.Error() {
				t.Fatalf("Reason = %s, want %s", Reason(err), tt.want)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("error %q does not mention %q", err, tt.msg)
			}
		})
	}
}

func TestCheckReset(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	const topic = "outpost/v1/nodes/n1/desired"
	reset := []byte(`{"apiVersion":"outpost.dev/v1","kind":"NodeState","generation":1,"resetFrom":9223372036854775807}`)
	signed, err := Sign("k1", priv, topic, reset)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		payload []byte
		keys    Keys
		ok      bool
	}{
		{"signed reset, trusted key", signed, Keys{"k1": pub}, true},
		{"plain reset without keys", reset, nil, false},
		{"signed reset without keys (unverified)", signed, nil, false},
		{"no reset without keys", testenv.NodeStateDoc(2, "a"), nil, true},
	}
	for _, tt := range tests {
		d, err := Decode(tt.payload, tt.keys, topic)
		if err != nil {
			t.Fatalf("%s: Decode: %v", tt.name, err)
		}
		if err := d.CheckReset(); (err == nil) != tt.ok || err != nil && !errors.Is(err, ErrSignature) {
			t.Errorf("%s: CheckReset = %v, want ok %v", tt.name, err, tt.ok)
		}
	}
}

func TestInvalidErrorKeepsFieldPaths(t *testing.T) {
	_, err := Decode([]byte(`{"apiVersion":"outpost.dev/v1","kind":"NodeState","generation":1,"pods":[{"metadata":{"name":"a"},"spec":{}}]}`), nil, "outpost/v1/nodes/n1/desired")
	var ie *InvalidError
	if !errors.As(err, &ie) || len(ie.Errs) == 0 || ie.Errs[0].Path == "" {
		t.Fatalf("err = %#v, want an InvalidError with paths", err)
	}
	if !errors.Is(err, api.ErrInvalid) {
		t.Fatal("not api.ErrInvalid")
	}
}

func TestParseKeys(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(nil)
	good := base64.StdEncoding.EncodeToString(pub)
	tests := []struct {
		name string
		in   map[string]string
		ok   bool
	}{
		{"one key", map[string]string{"a": good}, true},
		{"none", nil, true},
		{"not base64", map[string]string{"a": "!!"}, false},
		{"short", map[string]string{"a": base64.StdEncoding.EncodeToString(pub[:5])}, false},
		{"empty id", map[string]string{"": good}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseKeys(tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("ParseKeys = %v, want ok %v", err, tt.ok)
			}
		})
	}
}

func TestTopics(t *testing.T) {
	tp, err := NewTopics("", "n1")
	if err != nil {
		t.Fatal(err)
	}
	if got := tp.NodeDesired(); got != "outpost/v1/nodes/n1/desired" {
		t.Fatalf("NodeDesired = %s", got)
	}
	tests := []struct {
		topic string
		ok    bool
		group string
	}{
		{"outpost/v1/nodes/n1/desired", true, ""},
		{"outpost/v1/groups/edge/desired", true, "edge"},
		{"outpost/v1/nodes/n2/desired", false, ""},
		{"outpost/v1/groups/edge/status", false, ""},
		{"outpost/v1/groups/a/b/desired", false, ""},
		{"other/groups/edge/desired", false, ""},
	}
	for _, tt := range tests {
		got, ok := tp.ParseDesired(tt.topic)
		if ok != tt.ok || got.Group != tt.group {
			t.Errorf("ParseDesired(%s) = %+v %v, want %q %v", tt.topic, got, ok, tt.group, tt.ok)
		}
	}
	for _, bad := range [][2]string{{"a/+/b", "n"}, {"/a", "n"}, {"a/", "n"}, {"a", "n/1"}, {"a", "#"}, {"$SYS", "n"}, {"a", ""}} {
		if _, err := NewTopics(bad[0], bad[1]); !errors.Is(err, ErrTopic) {
			t.Errorf("NewTopics(%q, %q) = %v, want ErrTopic", bad[0], bad[1], err)
		}
	}
}

func TestEventPayload(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{`{"type":"Normal","reason":"R"}`, `{"node":"n\"1","seq":7,"type":"Normal","reason":"R"}`, true},
		{` {} `, `{"node":"n\"1","seq":7}`, true},
		{`[1]`, "", false},
		{`{"a":`, "", false},
	}
	for _, tt := range tests {
		got, err := EventPayload(`n"1`, 7, []byte(tt.in))
		if (err == nil) != tt.ok || string(got) != tt.want {
			t.Errorf("EventPayload(%s) = %s, %v; want %s", tt.in, got, err, tt.want)
			continue
		}
		if tt.ok {
			if seq, err := EventSeq(got); err != nil || seq != 7 {
				t.Errorf("EventSeq = %d, %v", seq, err)
			}
		}
	}
}
