package localapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"gopkg.in/yaml.v3"

	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/internal/atomicfile"
)

// object is one pod or service of an applied manifest, as its file's bytes.
type object struct {
	key  objKey
	data []byte
}

// splitObjects cuts a valid manifest into one document per pod and service,
// in document order. Each keeps the text it was written with (comments,
// key order, no defaults added); one that cannot stand alone that way (an
// alias to another document's anchor) is written as the parsed object in
// JSON, which is YAML too.
func splitObjects(data []byte, ns *api.NodeState) ([]object, error) {
	docs, err := decodeDocs(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", api.ErrInvalid, err)
	}
	pods := map[string]*api.Pod{}
	for i := range ns.Pods {
		pods[ns.Pods[i].Metadata.Name] = &ns.Pods[i]
	}
	services := map[string]*api.Service{}
	for i := range ns.Services {
		services[ns.Services[i].Metadata.Name] = &ns.Services[i]
	}
	var out []object
	add := func(key objKey, n *yaml.Node) error {
		var parsed any = pods[key.name]
		if key.kind == kindService {
			parsed = services[key.name]
		}
		text, err := encodeDocs([]*yaml.Node{n})
		if err != nil || !standsAlone(text, key) {
			if text, err = json.MarshalIndent(parsed, "", "  "); err != nil {
				return err
			}
			text = append(text, '\n')
		}
		out = append(out, object{key: key, data: text})
		return nil
	}
	for _, doc := range docs {
		m := doc.Content[0]
		switch scalar(mapValue(m, "kind")) {
		case api.KindPod:
			if err := add(objKey{kindPod, nameOf(m)}, doc); err != nil {
				return nil, err
			}
		case api.KindService:
			if err := add(objKey{kindService, nameOf(m)}, doc); err != nil {
				return nil, err
			}
		case api.KindNodeState:
			for _, it := range items(m, "pods") {
				if err := add(objKey{kindPod, nameOf(it)}, withTypeMeta(it, api.KindPod)); err != nil {
					return nil, err
				}
			}
			for _, it := range items(m, "services") {
				if err := add(objKey{kindService, nameOf(it)}, withTypeMeta(it, api.KindService)); err != nil {
					return nil, err
				}
			}
		}
	}
	return out, nil
}

// standsAlone reports whether text parses as exactly the object key.
func standsAlone(text []byte, key objKey) bool {
	ns, err := api.ParseManifest(text)
	if err != nil {
		return false
	}
	switch key.kind {
	case kindPod:
		return len(ns.Pods) == 1 && len(ns.Services) == 0 && ns.Pods[0].Metadata.Name == key.name
	default:
		return len(ns.Services) == 1 && len(ns.Pods) == 0 && ns.Services[0].Metadata.Name == key.name
	}
}

// withTypeMeta returns a NodeState item as a standalone document: with
// apiVersion and kind in front when the item left them out.
func withTypeMeta(item *yaml.Node, kind string) *yaml.Node {
	if item.Kind != yaml.MappingNode {
		return item
	}
	n := *item
	var head []*yaml.Node
	if mapValue(item, "apiVersion") == nil {
		head = append(head, str("apiVersion"), str(api.CoreVersion))
	}
	if mapValue(item, "kind") == nil {
		head = append(head, str("kind"), str(kind))
	}
	n.Content = append(head, item.Content...)
	return &n
}

func str(v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v} }

// objectKeys lists the pods and services a manifest file holds, valid or not.
func objectKeys(data []byte) ([]objKey, error) {
	docs, err := decodeDocs(data)
	if err != nil {
		return nil, err
	}
	var keys []objKey
	for _, doc := range docs {
		m := doc.Content[0]
		switch scalar(mapValue(m, "kind")) {
		case api.KindPod:
			keys = append(keys, objKey{kindPod, nameOf(m)})
		case api.KindService:
			keys = append(keys, objKey{kindService, nameOf(m)})
		case api.KindNodeState:
			for _, it := range items(m, "pods") {
				keys = append(keys, objKey{kindPod, nameOf(it)})
			}
			for _, it := range items(m, "services") {
				keys = append(keys, objKey{kindService, nameOf(it)})
			}
		}
	}
	return keys, nil
}

// removeObject rewrites file without the object key, or removes the file
// when nothing else is left in it.
func removeObject(file string, key objKey) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	docs, err := decodeDocs(data)
	if err != nil {
		return err
	}
	kind, list := api.KindPod, "pods"
	if key.kind == kindService {
		kind, list = api.KindService, "services"
	}
	var keep []*yaml.Node
	for _, doc := range docs {
		m := doc.Content[0]
		switch scalar(mapValue(m, "kind")) {
		case kind:
			if nameOf(m) == key.name {
				continue
			}
		case api.KindNodeState:
			if seq := mapValue(m, list); seq != nil && seq.Kind == yaml.SequenceNode {
				var rest []*yaml.Node
				for _, it := range seq.Content {
					if nameOf(it) != key.name {
						rest = append(rest, it)
					}
				}
				seq.Content = rest
			}
		}
		keep = append(keep, doc)
	}
	if len(keep) == 0 {
		if err := os.Remove(file); err != nil {
			return err
		}
		return atomicfile.SyncDir(filepath.Dir(file))
	}
	var out []byte
	if filepath.Ext(file) == ".json" && len(keep) == 1 {
		var v any
		if err := keep[0].Decode(&v); err != nil {
			return err
		}
		if out, err = json.MarshalIndent(v, "", "  "); err != nil {
			return err
		}
		out = append(out, '\n')
	} else if out, err = encodeDocs(keep); err != nil {
		return err
	}
	return writeAtomic(file, out)
}

// decodeDocs parses a YAML (or JSON) stream into its non-empty documents,
// each a document node holding a mapping.
func decodeDocs(data []byte) (docs []*yaml.Node, err error) {
	defer func() {
		// Third-party parser: a panic on odd input is an error here.
		if r := recover(); r != nil {
			docs, err = nil, fmt.Errorf("cannot parse: %v", r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		if n.Kind != yaml.DocumentNode || len(n.Content) == 0 {
			continue
		}
		if n.Content[0].Kind != yaml.MappingNode {
			return nil, fmt.Errorf("line %d: a document must be a mapping", n.Content[0].Line)
		}
		docs = append(docs, &n)
	}
}

// encodeDocs writes documents as YAML separated by ---; one written as
// JSON (flow style) becomes block style, for files a person reads.
func encodeDocs(docs []*yaml.Node) ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	for _, d := range docs {
		root := d
		if d.Kind == yaml.DocumentNode && len(d.Content) > 0 {
			root = d.Content[0]
		}
		if root.Style&yaml.FlowStyle != 0 {
			blockStyle(d)
		}
		if err := enc.Encode(d); err != nil {
			return nil, err
		}
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// blockStyle turns flow collections into block ones and drops the quotes
// of scalars; the encoder quotes again a string that would read as another
// type plain.
func blockStyle(n *yaml.Node) {
	switch n.Kind {
	case yaml.MappingNode, yaml.SequenceNode:
		n.Style &^= yaml.FlowStyle
	case yaml.ScalarNode:
		n.Style &^= yaml.DoubleQuotedStyle | yaml.SingleQuotedStyle
	}
	for _, c := range n.Content {
		blockStyle(c)
	}
}

// mapValue returns the value of key in mapping n, or nil.
func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func scalar(n *yaml.Node) string {
	if n == nil || n.Kind != yaml.ScalarNode {
		return ""
	}
	return n.Value
}

func nameOf(m *yaml.Node) string { return scalar(mapValue(mapValue(m, "metadata"), "name")) }

func items(m *yaml.Node, key string) []*yaml.Node {
	seq := mapValue(m, key)
	if seq == nil || seq.Kind != yaml.SequenceNode {
		return nil
	}
	return seq.Content
}
