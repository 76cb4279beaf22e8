package protocol

import (
	"errors"
	"fmt"

	"github.com/outpost-edge/outpost/api"
)

// MaxPayloadBytes bounds a desired-topic message: a document of
// api.MaxDocumentBytes in a Signed envelope (base64 grows it by a third)
// plus room for the envelope's other fields.
const MaxPayloadBytes = api.MaxDocumentBytes/3*4 + 64<<10

// Reasons a document is rejected; each is the Reason of the Warning event.
var (
	// ErrEmpty: an empty payload (a cleared retained message). It never
	// means "delete everything": that is a NodeState with no pods.
	ErrEmpty = errors.New("EmptyDocument")
	// ErrTooLarge: the payload exceeds MaxPayloadBytes or the document api.MaxDocumentBytes.
	ErrTooLarge = errors.New("DocumentTooLarge")
	// ErrSignature: unsigned while keys are trusted, unknown key, bad
	// envelope, signed for another topic, or forged.
	ErrSignature = errors.New("SignatureRejected")
	// ErrInvalid: not a valid NodeState (syntax, schema or spec).
	ErrInvalid = errors.New("InvalidDocument")
)

// Document is a decoded, validated desired-state document.
type Document struct {
	State *api.NodeState
	// KeyID names the key that signed it; empty for an unsigned document.
	KeyID string
	// Verified is true when the signature was checked against a trusted key.
	Verified bool
}

// Decode turns a payload that arrived on topic (the full desired topic)
// into a document. With trusted keys, only a Signed envelope that verifies
// and names topic as its target is accepted. Without, a plain NodeState is
// accepted, and so is a Signed envelope that names topic (unwrapped, its
// signature unchecked): a control plane may start signing before its nodes
// trust its key. A generation reset (resetFrom) needs more: CheckReset.
// Errors wrap one of ErrEmpty, ErrTooLarge, ErrSignature or
// ErrInvalid; an ErrInvalid error also holds the api.ErrorList with the
// field paths.
func Decode(payload []byte, keys Keys, topic string) (Document, error) {
	switch {
	case len(payload) == 0:
		return Document{}, fmt.Errorf("%w: empty payload ignored; to remove every pod publish a NodeState without pods", ErrEmpty)
	case len(payload) > MaxPayloadBytes:
		return Document{}, fmt.Errorf("%w: payload is %d bytes, more than the %d allowed", ErrTooLarge, len(payload), MaxPayloadBytes)
	}
	var d Document
	data := payload
	switch {
	case len(keys) > 0:
		if !isEnvelope(payload) {
			return Document{}, fmt.Errorf("%w: trusted keys are configured and the document is not a %s envelope", ErrSignature, KindSigned)
		}
		var err error
		if data, d.KeyID, err = open(payload, keys, topic); err != nil {
			return Document{}, err
		}
		d.Verified = true
	case isEnvelope(payload):
		var err error
		if data, d.KeyID, err = open(payload, nil, topic); err != nil {
			return Document{}, err
		}
	}
	if len(data) > api.MaxDocumentBytes {
		return Document{}, fmt.Errorf("%w: document is %d bytes, more than the %d allowed", ErrTooLarge, len(data), api.MaxDocumentBytes)
	}
	ns, err := api.ParseNodeState(data)
	if err != nil {
		return Document{}, &InvalidError{Errs: api.AsErrorList(err)}
	}
	d.State = ns
	return d, nil
}

// CheckReset refuses a generation reset (a document with resetFrom) that is
// not Verified: a reset goes back in generations, and without a trusted
// signature it would undo the replay protection for anyone who can publish,
// so a node without trusted keys takes none. A node calls it after Decode;
// a control plane reading its own documents need not.
func (d Document) CheckReset() error {
	if d.State != nil && d.State.ResetFrom != 0 && !d.Verified {
		return fmt.Errorf("%w: resetFrom: a generation reset is honoured only when signed by a trusted key, and this node has no mqtt.trustedKeys", ErrSignature)
	}
	return nil
}

// InvalidError holds the field errors of a document that is not a valid NodeState.
type InvalidError struct {
	Errs api.ErrorList
}

func (e *InvalidError) Error() string { return ErrInvalid.Error() + ": " + e.Errs.Error() }

// Unwrap makes errors.Is match both ErrInvalid and api.ErrInvalid.
func (e *InvalidError) Unwrap() []error { return []error{ErrInvalid, e.Errs} }

// Reason returns the event reason of a Decode error ("InvalidDocument" when unknown).
func Reason(err error) string {
	for _, r := range []error{ErrEmpty, ErrTooLarge, ErrSignature, ErrInvalid} {
		if errors.Is(err, r) {
			return r.Error()
		}
	}
	return ErrInvalid.Error()
}
