package api

import (
	"fmt"

	"gopkg.in/yaml.v3"
)

// Caps on what one document may hold. They keep a hostile or mistaken
// document from exhausting a small device; the operator docs list them.
const (
	// MaxDocumentBytes caps the size of one manifest file or message.
	MaxDocumentBytes = 4 << 20
	// MaxGeneration caps a document's generation at 2^53-1, the largest
	// integer a JSON number carries exactly in every language (JavaScript's
	// Number.MAX_SAFE_INTEGER). A node refuses anything above it, so no
	// document can push a source to the end of int64, where no later
	// generation could be higher (docs/protocol.md, "Generation reset").
	MaxGeneration = 1<<53 - 1
	// MaxPods caps the pods of one document (kubelet's default max-pods).
	MaxPods = 110
	// MaxServices caps the services of one document.
	MaxServices = 1000
	// MaxContainers caps init plus regular containers of one pod.
	MaxContainers = 16
	// MaxPortsPerContainer caps the ports of one container or service.
	MaxPorts = 64
	// MaxVolumes caps the volumes of one pod.
	MaxVolumes = 64
	// MaxEnv caps the env entries of one container.
	MaxEnv = 256
	// MaxAnnotationBytes caps the total size of an object's annotations (as Kubernetes).
	MaxAnnotationBytes = 256 << 10
)

// ParseNodeState decodes, defaults and validates the document a control plane
// sends: exactly one `kind: NodeState` document with a generation > 0.
func ParseNodeState(data []byte) (*NodeState, error) {
	ns, isNodeState, err := decodeManifest(data)
	if err != nil {
		return nil, err
	}
	if !isNodeState {
		return nil, ErrorList{{Path: "kind", Msg: "must be NodeState"}}
	}
	return finish(ns, true)
}

// ParseManifest decodes, defaults and validates a manifest file: either one
// NodeState document or any number of `kind: Pod` / `kind: Service`
// documents, in JSON or YAML. A stream of Pods and Services comes back as a
// NodeState with generation 0: the caller (the static source) assigns one.
func ParseManifest(data []byte) (*NodeState, error) {
	ns, isNodeState, err := decodeManifest(data)
	if err != nil {
		return nil, err
	}
	return finish(ns, isNodeState)
}

func finish(ns *NodeState, requireGeneration bool) (*NodeState, error) {
	SetDefaults(ns)
	if errs := Validate(ns, requireGeneration); len(errs) > 0 {
		return nil, errs
	}
	return ns, nil
}

// decodeManifest strictly decodes data without defaulting or validating.
func decodeManifest(data []byte) (ns *NodeState, isNodeState bool, err error) {
	if len(data) > MaxDocumentBytes {
		return nil, false, ErrorList{{Msg: fmt.Sprintf("document is %d bytes, more than the %d allowed", len(data), MaxDocumentBytes)}}
	}
	defer func() {
		// The YAML parser is third-party code; a panic on hostile input must
		// become an error, never take the agent down.
		if r := recover(); r != nil {
			ns, isNodeState, err = nil, false, ErrorList{{Msg: fmt.Sprintf("cannot parse document: %v", r)}}
		}
	}()
	docs, err := parseDocuments(data)
	if err != nil {
		return nil, false, ErrorList{{Msg: "cannot parse document: " + err.Error()}}
	}
	if len(docs) == 0 {
		return nil, false, ErrorList{{Msg: "document is empty"}}
	}
	d := &decoder{}
	ns = &NodeState{}
	for i, doc := range docs {
		kind := mapValue(doc, "kind")
		switch {
		case kind == nil || kind.Kind != yaml.ScalarNode || kind.Value == "":
			d.fail(doc, docPath(i, len(docs), "kind"), "required: one of NodeState, Pod, Service")
		case kind.Value == KindNodeState:
			if len(docs) > 1 {
				d.fail(doc, docPath(i, len(docs), "kind"), "a NodeState must be the only document in its file")
				continue
			}
			d.decode(doc, reflectValue(ns), "")
			if ns.APIVersion != GroupVersion {
				d.fail(mapValue(doc, "apiVersion"), "apiVersion", "must be %s", GroupVersion)
			}
			isNodeState = true
		case kind.Value == KindPod:
			var p Pod
			d.decode(doc, reflectValue(&p), "pods["+elemKey(doc, len(ns.Pods), true)+"]")
			ns.Pods = append(ns.Pods, p)
		case kind.Value == KindService:
			var s Service
			d.decode(doc, reflectValue(&s), "services["+elemKey(doc, len(ns.Services), true)+"]")
			ns.Services = append(ns.Services, s)
		default:
			d.fail(kind, docPath(i, len(docs), "kind"), "%q is not supported: one of NodeState, Pod, Service", kind.Value)
		}
	}
	if len(d.errs) > 0 {
		return nil, false, d.errs
	}
	if !isNodeState {
		ns.APIVersion, ns.Kind = GroupVersion, KindNodeState
	}
	return ns, isNodeState, nil
}

func docPath(i, n int, field string) string {
	if n == 1 {
		return field
	}
	return fmt.Sprintf("documents[%d].%s", i, field)
}
