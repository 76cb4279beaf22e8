package protocol

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/outpost-edge/outpost/api"
)

// Signed is the envelope of a signed desired-state document. Signature is
// ed25519 over SignedMessage(Target, the bytes Payload decodes to); those
// bytes are a NodeState JSON document.
type Signed struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	KeyID      string `json:"keyId"`
	// Target is the full topic the document is published on
	// ({prefix}/nodes/{node}/desired or {prefix}/groups/{group}/desired).
	// It is signed: a document is accepted only on the topic it names.
	Target string `json:"target"`
	// Payload and Signature are standard base64 (RFC 4648, with padding).
	Payload   string `json:"payload"`
	Signature string `json:"signature"`
}

// SignedDomain opens every signed message; it keeps these signatures apart
// from anything else the key might sign.
const SignedDomain = "outpost-signed-v1"

// SignedMessage is what an envelope's signature covers: SignedDomain, a NUL
// byte, the target topic, a NUL byte, then the payload bytes exactly. A
// topic holds no NUL, so the target cannot be confused with the payload.
func SignedMessage(target string, doc []byte) []byte {
	msg := make([]byte, 0, len(SignedDomain)+1+len(target)+1+len(doc))
	msg = append(msg, SignedDomain...)
	msg = append(msg, 0)
	msg = append(msg, target...)
	msg = append(msg, 0)
	return append(msg, doc...)
}

// validTarget accepts a topic a document can be published on: not empty,
// no NUL, no wildcard.
func validTarget(target string) error {
	switch {
	case target == "":
		return fmt.Errorf("%w: envelope has no target topic", ErrSignature)
	case strings.ContainsAny(target, "\x00+#"):
		return fmt.Errorf("%w: envelope target %q holds NUL or an MQTT wildcard", ErrSignature, target)
	}
	return nil
}

// Keys are the trusted public keys by key id. An empty set accepts unsigned documents.
type Keys map[string]ed25519.PublicKey

// ParseKeys decodes {keyId: base64 public key}.
func ParseKeys(in map[string]string) (Keys, error) {
	keys := make(Keys, len(in))
	var errs []error
	for _, id := range slices.Sorted(maps.Keys(in)) {
		if id == "" {
			errs = append(errs, fmt.Errorf("%w: empty key id", ErrSignature))
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(in[id])
		if err != nil || len(raw) != ed25519.PublicKeySize {
			errs = append(errs, fmt.Errorf("%w: key %q: want the base64 of a %d-byte ed25519 public key",
				ErrSignature, id, ed25519.PublicKeySize))
			continue
		}
		keys[id] = ed25519.PublicKey(raw)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return keys, nil
}

// Sign wraps doc (NodeState JSON) in a Signed envelope for target, the full
// topic it will be published on; the control plane's side, used by tests
// and outpostctl.
func Sign(keyID string, priv ed25519.PrivateKey, target string, doc []byte) ([]byte, error) {
	if keyID == "" || len(priv) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("%w: sign needs a key id and an ed25519 private key", ErrSignature)
	}
	if err := validTarget(target); err != nil {
		return nil, err
	}
	return json.Marshal(Signed{
		APIVersion: api.GroupVersion,
		Kind:       KindSigned,
		KeyID:      keyID,
		Target:     target,
		Payload:    base64.StdEncoding.EncodeToString(doc),
		Signature:  base64.StdEncoding.EncodeToString(ed25519.Sign(priv, SignedMessage(target, doc))),
	})
}

// isEnvelope reports whether data is a JSON object of kind Signed.
func isEnvelope(data []byte) bool {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return false
	}
	var tm api.TypeMeta
	return json.Unmarshal(data, &tm) == nil && tm.Kind == KindSigned
}

// open decodes an envelope strictly, checks that it names topic, the topic
// it arrived on, as its target and, when keys is not nil, checks its
// signature; it returns the signed bytes.
func open(data []byte, keys Keys, topic string) (doc []byte, keyID string, err error) {
	if err := exactKeys(data, envelopeKeys); err != nil {
		return nil, "", fmt.Errorf("%w: envelope: %w", ErrSignature, err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var env Signed
	if err := dec.Decode(&env); err != nil {
		return nil, "", fmt.Errorf("%w: envelope: %w", ErrSignature, err)
	}
	if dec.More() {
		return nil, "", fmt.Errorf("%w: envelope: data after the JSON object", ErrSignature)
	}
	if env.APIVersion != api.GroupVersion || env.Kind != KindSigned {
		return nil, "", fmt.Errorf("%w: envelope: want apiVersion %s and kind %s", ErrSignature, api.GroupVersion, KindSigned)
	}
	if err := validTarget(env.Target); err != nil {
		return nil, env.KeyID, err
	}
	if env.Target != topic {
		// Checked with or without keys: a document for another topic is
		// misdelivered, or replayed there.
		return nil, env.KeyID, fmt.Errorf("%w: envelope is for topic %q and arrived on %q", ErrSignature, env.Target, topic)
	}
	doc, err = base64.StdEncoding.DecodeString(env.Payload)
	if err != nil {
		return nil, env.KeyID, fmt.Errorf("%w: envelope payload is not base64: %w", ErrSignature, err)
	}
	if keys == nil {
		return doc, env.KeyID, nil
	}
	pub, ok := keys[env.KeyID]
	if !ok {
		return nil, env.KeyID, fmt.Errorf("%w: key id %q is not trusted", ErrSignature, env.KeyID)
	}
	sig, err := base64.StdEncoding.DecodeString(env.Signature)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return nil, env.KeyID, fmt.Errorf("%w: signature is not the base64 of %d bytes", ErrSignature, ed25519.SignatureSize)
	}
	if !ed25519.Verify(pub, SignedMessage(env.Target, doc), sig) {
		return nil, env.KeyID, fmt.Errorf("%w: signature does not verify with key %q", ErrSignature, env.KeyID)
	}
	return doc, env.KeyID, nil
}

// envelopeKeys are the envelope's field names, exactly as spelled.
var envelopeKeys = []string{"apiVersion", "kind", "keyId", "target", "payload", "signature"}

// exactKeys checks that data's top-level object names each of its keys
// once, spelled as in keys: Go's decoder matches names case-insensitively
// and keeps the last of duplicates, which a verifier in another language
// may read differently.
func exactKeys(data []byte, keys []string) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return errors.New("not a JSON object")
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		if !slices.Contains(keys, key) {
			return fmt.Errorf("unknown field %q", key)
		}
		if seen[key] {
			return fmt.Errorf("field %q appears twice", key)
		}
		seen[key] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return err
		}
	}
	return nil
}
