package protocol

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/outpost-edge/outpost/internal/testenv"
)

const (
	nodeA       = "outpost/v1/nodes/gw-1/desired"
	nodeB       = "outpost/v1/nodes/gw-2/desired"
	groupA      = "outpost/v1/groups/edge/desired"
	groupB      = "outpost/v1/groups/core/desired"
	otherPrefix = "acme/prod/groups/edge/desired"
)

// envelope signs d for target and lets edit change the JSON object before
// it is encoded (edit may delete fields).
func envelope(t *testing.T, priv ed25519.PrivateKey, target string, d []byte, edit func(map[string]any)) []byte {
	t.Helper()
	b, err := Sign("k1", priv, target, d)
	if err != nil {
		t.Fatal(err)
	}
	if edit == nil {
		return b
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	if b, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	return b
}

// A signature names its target: the document is accepted on that topic
// only, whether or not the node trusts keys.
func TestDecodeTarget(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	keys := Keys{"k1": pub}
	d := testenv.NodeStateDoc(5, "a")
	signed := func(target string) []byte { return envelope(t, priv, target, d, nil) }
	set := func(k string, v any) func(map[string]any) { return func(m map[string]any) { m[k] = v } }
	tests := []struct {
		name     string
		payload  []byte
		topic    string // the topic it arrived on
		keys     Keys
		want     error // nil: accepted
		verified bool
		msg      []string // parts of the error text
	}{
		{"node document on its topic", signed(nodeA), nodeA, keys, nil, true, nil},
		{"group document on its topic", signed(groupA), groupA, keys, nil, true, nil},
		{"other prefix on its topic", signed(otherPrefix), otherPrefix, keys, nil, true, nil},
		{"on its topic without keys", signed(groupA), groupA, nil, nil, false, nil},

		{"node to another node", signed(nodeA), nodeB, keys, ErrSignature, false, []string{`for topic "` + nodeA + `"`, `arrived on "` + nodeB + `"`}},
		{"node to another node without keys", signed(nodeA), nodeB, nil, ErrSignature, false, []string{nodeA, nodeB}},
		{"group A to group B", signed(groupA), groupB, keys, ErrSignature, false, []string{groupA, groupB}},
		{"group A to group B without keys", signed(groupA), groupB, nil, ErrSignature, false, []string{groupA, groupB}},
		{"same group under another prefix", signed(groupA), otherPrefix, keys, ErrSignature, false, []string{groupA, otherPrefix}},
		{"node to group", signed(nodeA), groupA, keys, ErrSignature, false, []string{nodeA, groupA}},
		{"group to node", signed(groupA), nodeA, keys, ErrSignature, false, []string{groupA, nodeA}},
		{"target a prefix of the topic", signed("outpost/v1/nodes/gw-1"), nodeA, keys, ErrSignature, false, []string{"arrived on"}},

		{"target spelled TARGET", bytes.Replace(signed(nodeA), []byte(`"target"`), []byte(`"TARGET"`), 1), nodeA, keys, ErrSignature, false, []string{`unknown field "TARGET"`}},
		{"target twice", bytes.Replace(signed(nodeA), []byte(`"target":`), []byte(`"target":"`+nodeB+`","target":`), 1), nodeA, keys, ErrSignature, false, []string{`"target" appears twice`}},
		{"missing target", envelope(t, priv, nodeA, d, func(m map[string]any) { delete(m, "target") }), nodeA, keys, ErrSignature, false, []string{"no target"}},
		{"missing target without keys", envelope(t, priv, nodeA, d, func(m map[string]any) { delete(m, "target") }), nodeA, nil, ErrSignature, false, []string{"no target"}},
		{"empty target", envelope(t, priv, nodeA, d, set("target", "")), nodeA, keys, ErrSignature, false, []string{"no target"}},
		{"wildcard target", envelope(t, priv, nodeA, d, set("target", "outpost/v1/nodes/+/desired")), "outpost/v1/nodes/+/desired", keys, ErrSignature, false, []string{"wildcard"}},
		{"target not a string", envelope(t, priv, nodeA, d, set("target", 7)), nodeA, keys, ErrSignature, false, []string{"envelope"}},

		// Editing the target to match where it is replayed breaks the signature.
		{"tampered target", envelope(t, priv, groupA, d, set("target", groupB)), groupB, keys, ErrSignature, false, []string{"does not verify"}},
		// Without keys nothing is verified: only the target is compared.
		{"tampered target without keys is not verified", envelope(t, priv, groupA, d, set("target", groupB)), groupB, nil, nil, false, nil},
		// The v0 signature (over the payload alone) does not verify.
		{"signature over the payload alone", envelope(t, priv, nodeA, d, set("signature", base64.StdEncoding.EncodeToString(ed25519.Sign(priv, d)))),
			nodeA, keys, ErrSignature, false, []string{"does not verify"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode(tt.payload, tt.keys, tt.topic)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				if got.State.Generation != 5 || got.Verified != tt.verified {
					t.Fatalf("generation %d verified %v, want 5 %v", got.State.Generation, got.Verified, tt.verified)
				}
				return
			}
			if !errors.Is(err, tt.want) || Reason(err) != tt.want.Error() {
				t.Fatalf("Decode = %v, want %v", err, tt.want)
			}
			for _, m := range tt.msg {
				if !strings.Contains(err.Error(), m) {
					t.Fatalf("error %q does not mention %q", err, m)
				}
			}
		})
	}
}

// The signed message is rebuilt here from its documented form, byte by
// byte, as another language would.
func TestSignedMessage(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	d := testenv.NodeStateDoc(3, "web")
	want := append([]byte("outpost-signed-v1\x00outpost/v1/groups/edge/desired\x00"), d...)
	if got := SignedMessage(groupA, d); !bytes.Equal(got, want) {
		t.Fatalf("SignedMessage = %q, want %q", got, want)
	}
	var env Signed
	if err := json.Unmarshal(envelope(t, priv, groupA, d, nil), &env); err != nil {
		t.Fatal(err)
	}
	payload, _ := base64.StdEncoding.DecodeString(env.Payload)
	sig, _ := base64.StdEncoding.DecodeString(env.Signature)
	if env.Target != groupA || !bytes.Equal(payload, d) {
		t.Fatalf("envelope target %q payload %q", env.Target, payload)
	}
	if !ed25519.Verify(pub, want, sig) {
		t.Fatal("the signature does not verify over the documented message")
	}
	if ed25519.Verify(pub, d, sig) {
		t.Fatal("the signature verifies over the bare payload")
	}
}

func TestSignNeedsTarget(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(nil)
	tests := []struct {
		name, target string
		ok           bool
	}{
		{"node topic", nodeA, true},
		{"empty", "", false},
		{"NUL", "outpost/v1/nodes/a\x00b/desired", false},
		{"single-level wildcard", "outpost/v1/groups/+/desired", false},
		{"multi-level wildcard", "outpost/v1/#", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Sign("k1", priv, tt.target, testenv.NodeStateDoc(1))
			if tt.ok != (err == nil) || (err != nil && !errors.Is(err, ErrSignature)) {
				t.Fatalf("Sign(%q) = %v, want ok %v", tt.target, err, tt.ok)
			}
		})
	}
}
