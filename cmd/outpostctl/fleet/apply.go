package fleet

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/sync/protocol"
)

// Target is the document a command addresses: one node's, or one group's.
type Target struct {
	Node  string
	Group string
}

// Validate wants exactly one of Node and Group, a valid topic level.
func (t Target) Validate() error {
	switch {
	case (t.Node == "") == (t.Group == ""):
		return fmt.Errorf("%w: name a node or a group, not both or neither", ErrInvalid)
	case t.Node != "":
		if err := protocol.ValidLevel(t.Node); err != nil {
			return fmt.Errorf("%w: node name: %w", ErrInvalid, err)
		}
	default:
		if err := protocol.ValidLevel(t.Group); err != nil {
			return fmt.Errorf("%w: group name: %w", ErrInvalid, err)
		}
	}
	return nil
}

// Source is the source name the node reports the target's generation under
// ("remote:node", "remote:group/<name>").
func (t Target) Source() string {
	if t.Group != "" {
		return "remote:group/" + t.Group
	}
	return "remote:node"
}

func (t Target) String() string {
	if t.Group != "" {
		return "group/" + t.Group
	}
	return "node/" + t.Node
}

// DesiredTopic is the target's desired topic under prefix.
func (t Target) DesiredTopic(prefix string) string {
	if t.Group != "" {
		return prefix + "/groups/" + t.Group + "/" + protocol.TopicDesired
	}
	return prefix + "/nodes/" + t.Node + "/" + protocol.TopicDesired
}

// Doc describes a desired document as the broker retains it.
type Doc struct {
	// Present is false when nothing is retained on the topic.
	Present    bool
	Generation int64
	// KeyID names the signing key of a Signed envelope (not verified here).
	KeyID string
	// Payload is the retained message as published.
	Payload []byte
	// State is the decoded document; nil when it does not decode (then Err
	// says why, and Generation is read leniently when it can be).
	State *api.NodeState
	Err   error
}

// ParseDoc reads a desired payload retained on topic. Signatures are not
// checked (the control plane reads its own documents), their target is: a
// Signed envelope for another topic does not decode, as on a node.
func ParseDoc(topic string, payload []byte) Doc {
	d := Doc{Present: len(payload) > 0, Payload: payload}
	if !d.Present {
		return d
	}
	doc, err := protocol.Decode(payload, nil, topic)
	if err == nil {
		d.State, d.Generation, d.KeyID = doc.State, doc.State.Generation, doc.KeyID
		return d
	}
	d.Err = err
	// Lenient: the generation of a document the node would reject still
	// orders the next one.
	data := payload
	var env protocol.Signed
	if json.Unmarshal(payload, &env) == nil && env.Kind == protocol.KindSigned {
		d.KeyID = env.KeyID
		data, _ = base64.StdEncoding.DecodeString(env.Payload)
	}
	var g struct {
		Generation int64 `json:"generation"`
	}
	if json.Unmarshal(data, &g) == nil {
		d.Generation = g.Generation
	}
	return d
}

// Current reads the document retained on t's desired topic.
func (c *Client) Current(ctx context.Context, t Target) (Doc, error) {
	if err := t.Validate(); err != nil {
		return Doc{}, err
	}
	msgs, err := c.Retained(ctx, t.DesiredTopic(c.prefix))
	if err != nil {
		return Doc{}, err
	}
	if len(msgs) == 0 {
		return Doc{}, nil
	}
	return ParseDoc(t.DesiredTopic(c.prefix), msgs[len(msgs)-1].Payload), nil
}

// ApplyOptions tune Apply.
type ApplyOptions struct {
	// Signer signs the document; nil publishes it unsigned.
	Signer *Signer
	// Force publishes a new generation even when the pods and services are
	// those of the current document.
	Force bool
	// DryRun computes the payload and publishes nothing.
	DryRun bool
	// Reset publishes a generation reset: generation 1 with resetFrom set
	// to the generation the target's nodes report stored (else the
	// retained document's), which a node takes even though it is lower.
	// Nodes honour it only signed by a trusted key: Signer is required.
	Reset bool
	// ResetFrom, with Reset, names the stuck generation instead (a group
	// whose members are stuck at different ones needs one reset each).
	ResetFrom int64
}

// ApplyResult is what Apply did.
type ApplyResult struct {
	Target     Target
	Generation int64
	Previous   int64
	// Unchanged: the current document already holds these pods and
	// services (and the same signing key); nothing was published and
	// Generation is the current one.
	Unchanged bool
	// Payload is the published message (or the current one when
	// unchanged); SHA256 its hex digest, which a node's rejection event names.
	Payload []byte
	SHA256  string
	// ResetFrom is the generation a reset frees (0: not a reset).
	ResetFrom int64
}

// Apply publishes state as t's next document: retained, QoS 1, generation
// one above the highest of the retained document's and, for a node
// target or a target with no retained document (cleared, or lost by the
// broker), the generation its nodes report: a node rejects a generation
// not above what it stored. state's own generation is ignored; state is
// not modified.
//
// Two operators applying to one target at once can both read generation n
// and publish n+1: the broker keeps the last, and nodes that already stored
// the first reject the second (same generation, other content:
// StaleGeneration). WaitResult reports the rejection when the node's event
// or a report of n+1 from before the publish reaches it first; a report of
// n+1 that comes first counts as observed. Serialize applies to one target.
func (c *Client) Apply(ctx context.Context, t Target, state *api.NodeState, opts ApplyOptions) (ApplyResult, error) {
	res := ApplyResult{Target: t}
	cur, err := c.Current(ctx, t)
	if err != nil {
		return res, err
	}
	res.Previous = cur.Generation
	if opts.Reset {
		if err := c.resetGeneration(ctx, t, cur, opts, &res); err != nil {
			return res, err
		}
	} else {
		if !opts.Force && cur.State != nil && sameContent(cur.State, state) && cur.KeyID == opts.Signer.keyID() {
			res.Unchanged, res.Generation, res.Payload = true, cur.Generation, cur.Payload
			res.SHA256 = digest(res.Payload)
			return res, nil
		}
		highest := cur.Generation
		if t.Node != "" || !cur.Present {
			reported, err := c.reportedGeneration(ctx, t)
			if err != nil {
				return res, err
			}
			highest = max(highest, reported)
		}
		if highest >= api.MaxGeneration {
			return res, fmt.Errorf("%w: %s is at generation %d, the end of the range (%d): no higher generation exists; publish a signed reset (outpostctl apply --reset --key K)",
				ErrInvalid, t, highest, int64(api.MaxGeneration))
		}
		res.Generation = max(highest, 0) + 1
	}
	topic := t.DesiredTopic(c.prefix)
	doc := state
	if res.ResetFrom != 0 {
		reset := *state
		reset.ResetFrom = res.ResetFrom
		doc = &reset
	}
	if res.Payload, err = Encode(topic, doc, res.Generation, opts.Signer); err != nil {
		return res, err
	}
	res.SHA256 = digest(res.Payload)
	if opts.DryRun {
		return res, nil
	}
	tok := c.c.Publish(topic, 1, true, res.Payload)
	if err := c.wait(ctx, tok); err != nil {
		return res, fmt.Errorf("%w: publish %s generation %d: %w", ErrBroker, t, res.Generation, err)
	}
	c.log.Info().Str("target", t.String()).Int64("generation", res.Generation).Int("bytes", len(res.Payload)).Msg("desired document published")
	return res, nil
}

// Encode renders state with generation gen as the payload of topic, a full
// desired topic, signed for that topic when s is not nil, and checks it as
// a node will: a payload Encode returns decodes (protocol.Decode) on every
// node of this version that reads it on topic.
func Encode(topic string, state *api.NodeState, gen int64, s *Signer) ([]byte, error) {
	ns := *state
	ns.APIVersion, ns.Kind, ns.Generation = api.GroupVersion, api.KindNodeState, gen
	doc, err := json.Marshal(&ns)
	if err != nil {
		return nil, fmt.Errorf("%w: encode: %w", ErrInvalid, err)
	}
	if _, err := api.ParseNodeState(doc); err != nil {
		return nil, fmt.Errorf("%w: the document would be rejected: %w", ErrInvalid, err)
	}
	payload := doc
	if s != nil {
		if payload, err = s.Sign(topic, doc); err != nil {
			return nil, err
		}
	}
	if len(payload) > protocol.MaxPayloadBytes {
		return nil, fmt.Errorf("%w: the message is %d bytes, more than the %d a node takes", ErrInvalid, len(payload), protocol.MaxPayloadBytes)
	}
	return payload, nil
}

// resetGeneration sets res for a reset of t: generation 1, from the
// generation the nodes report (the node's, or the highest of a group's),
// else the retained document's.
func (c *Client) resetGeneration(ctx context.Context, t Target, cur Doc, opts ApplyOptions, res *ApplyResult) error {
	if opts.Signer == nil {
		return fmt.Errorf("%w: a generation reset must be signed (--key): nodes honour it only from a trusted key", ErrInvalid)
	}
	res.ResetFrom = opts.ResetFrom
	if res.ResetFrom == 0 {
		reported, err := c.reportedGeneration(ctx, t)
		if err != nil {
			return err
		}
		res.ResetFrom = reported
	}
	if res.ResetFrom == 0 {
		res.ResetFrom = cur.Generation
	}
	if res.ResetFrom <= 0 {
		return fmt.Errorf("%w: nothing to reset: no node reports a generation of %s and no document is retained", ErrInvalid, t)
	}
	res.Generation = 1
	return nil
}

// reportedGeneration is the highest generation of t's document that its
// nodes (the node, or every node for a group) report having stored.
func (c *Client) reportedGeneration(ctx context.Context, t Target) (int64, error) {
	f, err := c.Fleet(ctx, t.Node)
	if err != nil {
		return 0, err
	}
	var highest int64
	for _, v := range f.Nodes {
		if v.Report != nil {
			highest = max(highest, v.Report.ObservedGenerations[t.Source()])
		}
	}
	return highest, nil
}

// sameContent compares the pods and services of two documents.
func sameContent(a, b *api.NodeState) bool {
	enc := func(ns *api.NodeState) []byte {
		data, _ := json.Marshal(struct {
			P []api.Pod     `json:"p"`
			S []api.Service `json:"s"`
		}{ns.Pods, ns.Services})
		return data
	}
	return bytes.Equal(enc(a), enc(b))
}

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Manifest is one manifest file's content and its name for messages.
type Manifest struct {
	Name string
	Data []byte
}

// Assemble builds one NodeState from manifest files (each a NodeState or a
// stream of Pods and Services, parsed with api.ParseManifest): their pods and
// services together, in file order. Every file's problems are reported, by
// file name; a name carried by two files is an error. The result has
// generation 0: Apply sets it.
func Assemble(files []Manifest) (*api.NodeState, error) {
	out := &api.NodeState{TypeMeta: api.TypeMeta{APIVersion: api.GroupVersion, Kind: api.KindNodeState}}
	var errs []error
	podFrom, svcFrom := map[string]string{}, map[string]string{}
	for _, f := range files {
		ns, err := api.ParseManifest(f.Data)
		if err != nil {
			for _, fe := range api.AsErrorList(err) {
				errs = append(errs, fmt.Errorf("%s: %w", f.Name, fe))
			}
			continue
		}
		for _, p := range ns.Pods {
			if prev, dup := podFrom[p.Metadata.Name]; dup {
				errs = append(errs, fmt.Errorf("%s: pods[%s]: also defined in %s", f.Name, p.Metadata.Name, prev))
				continue
			}
			podFrom[p.Metadata.Name] = f.Name
			out.Pods = append(out.Pods, p)
		}
		for _, s := range ns.Services {
			if prev, dup := svcFrom[s.Metadata.Name]; dup {
				errs = append(errs, fmt.Errorf("%s: services[%s]: also defined in %s", f.Name, s.Metadata.Name, prev))
				continue
			}
			svcFrom[s.Metadata.Name] = f.Name
			out.Services = append(out.Services, s)
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, errors.Join(errs...))
	}
	// The whole document has caps of its own (pods per document...).
	if errs := api.Validate(out, false); len(errs) > 0 {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, errs)
	}
	return out, nil
}
