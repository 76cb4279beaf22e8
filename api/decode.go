package api

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
)

// decoder walks a YAML node tree (JSON is parsed as YAML) into Go values,
// strictly: every field must be one the Go type declares, every scalar must
// have the right type. It collects every problem with its path and line
// instead of stopping at the first, and it never panics on input.
type decoder struct {
	errs ErrorList
	// steps counts decoded nodes. Aliases let a small document expand to a
	// huge one ("billion laughs"), so the work is bounded, not just the size.
	steps    int
	overflow bool
}

// Bounds on decoding work and on the error list.
const (
	maxDecodeSteps = 2_000_000
	maxErrors      = 200
)

func (d *decoder) fail(n *yaml.Node, path, format string, args ...any) {
	if len(d.errs) >= maxErrors {
		if !d.overflow {
			d.overflow = true
			d.errs = append(d.errs, &FieldError{Msg: fmt.Sprintf("too many errors, stopped after %d", maxErrors)})
		}
		return
	}
	line := 0
	if n != nil {
		line = n.Line
	}
	d.errs = append(d.errs, &FieldError{Path: path, Line: line, Msg: fmt.Sprintf(format, args...)})
}

var (
	quantityType    = reflect.TypeOf(Quantity{})
	intOrStringType = reflect.TypeOf(IntOrString{})
	podType         = reflect.TypeOf(Pod{})
	serviceType     = reflect.TypeOf(Service{})
)

// resolve follows aliases and unwraps document nodes.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && i < 64; i++ {
		switch n.Kind {
		case yaml.AliasNode:
			n = n.Alias
		case yaml.DocumentNode:
			if len(n.Content) == 0 {
				return nil
			}
			n = n.Content[0]
		default:
			return n
		}
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if d.steps++; d.steps > maxDecodeSteps {
		if d.steps == maxDecodeSteps+1 {
			d.errs = append(d.errs, &FieldError{Path: path, Msg: "document expands too far (aliases?): more than 2000000 values"})
		}
		return
	}
	n = resolve(n)
	if isNull(n) {
		return // absent and null leave the zero value, as encoding/json does
	}
	switch v.Type() {
	case quantityType:
		d.decodeQuantity(n, v, path)
		return
	case intOrStringType:
		d.decodeIntOrString(n, v, path)
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		elem := reflect.New(v.Type().Elem())
		d.decode(n, elem.Elem(), path)
		v.Set(elem)
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.Slice:
		d.decodeSlice(n, v, path)
	case reflect.Map:
		d.decodeMap(n, v, path)
	case reflect.String:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
			d.fail(n, path, "must be a string, not %s", describe(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
			d.fail(n, path, "must be true or false, not %s", describe(n))
			return
		}
		var b bool
		if err := n.Decode(&b); err != nil {
			d.fail(n, path, "must be true or false")
			return
		}
		v.SetBool(b)
	case reflect.Int32, reflect.Int64:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
			d.fail(n, path, "must be an integer, not %s", describe(n))
			return
		}
		var i int64
		if err := n.Decode(&i); err != nil || v.OverflowInt(i) {
			d.fail(n, path, "integer %s is out of range", n.Value)
			return
		}
		v.SetInt(i)
	default:
		d.fail(n, path, "cannot decode into %s", v.Type())
	}
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "an object"
	case yaml.SequenceNode:
		return "a list"
	}
	switch n.Tag {
	case "!!str":
		return "a string"
	case "!!int", "!!float":
		return "a number (" + n.Value + ")"
	case "!!bool":
		return "a boolean (" + n.Value + ")"
	}
	return strconv.Quote(n.Value)
}

func (d *decoder) decodeQuantity(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!str" && n.Tag != "!!int" && n.Tag != "!!float") {
		d.fail(n, path, "must be a quantity such as 500m or 64Mi, not %s", describe(n))
		return
	}
	q, err := ParseQuantity(n.Value)
	if err != nil {
		d.fail(n, path, "%v", err)
		return
	}
	v.Set(reflect.ValueOf(q))
}

func (d *decoder) decodeIntOrString(n *yaml.Node, v reflect.Value, path string) {
	switch {
	case n.Kind == yaml.ScalarNode && n.Tag == "!!str":
		v.Set(reflect.ValueOf(FromString(n.Value)))
	case n.Kind == yaml.ScalarNode && n.Tag == "!!int":
		var i int32
		if err := n.Decode(&i); err != nil {
			d.fail(n, path, "integer %s is out of range", n.Value)
			return
		}
		v.Set(reflect.ValueOf(FromInt(i)))
	default:
		d.fail(n, path, "must be a port number or name, not %s", describe(n))
	}
}

func (d *decoder) decodeSlice(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.SequenceNode {
		d.fail(n, path, "must be a list, not %s", describe(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	named := v.Type().Elem() == podType || v.Type().Elem() == serviceType
	for i, item := range n.Content {
		d.decode(item, s.Index(i), path+"["+elemKey(item, i, named)+"]")
	}
	v.Set(s)
}

// elemKey names a list element in a path: pods and services by their name,
// everything else by index.
func elemKey(item *yaml.Node, i int, named bool) string {
	if named {
		if meta := mapValue(resolve(item), "metadata"); meta != nil {
			if name := mapValue(meta, "name"); name != nil && name.Kind == yaml.ScalarNode && name.Value != "" && len(name.Value) <= 253 {
				return name.Value
			}
		}
	}
	return strconv.Itoa(i)
}

// mapValue returns the value of key in a mapping node, or nil.
func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return resolve(n.Content[i+1])
		}
	}
	return nil
}

func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "must be an object, not %s", describe(n))
		return
	}
	if v.Type().Key().Kind() != reflect.String {
		d.fail(n, path, "cannot decode into %s", v.Type())
		return
	}
	m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := resolve(n.Content[i])
		if k == nil || k.Kind != yaml.ScalarNode {
			d.fail(n.Content[i], path, "keys must be strings")
			continue
		}
		if m.MapIndex(reflect.ValueOf(k.Value).Convert(v.Type().Key())).IsValid() {
			d.fail(k, path+"."+k.Value, "duplicate key")
			continue
		}
		elem := reflect.New(v.Type().Elem()).Elem()
		d.decode(n.Content[i+1], elem, path+"."+k.Value)
		m.SetMapIndex(reflect.ValueOf(k.Value).Convert(v.Type().Key()), elem)
	}
	v.Set(m)
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "must be an object, not %s", describe(n))
		return
	}
	fields := fieldsOf(v.Type())
	seen := make(map[string]bool, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := resolve(n.Content[i])
		if k == nil || k.Kind != yaml.ScalarNode {
			d.fail(n.Content[i], path, "keys must be strings")
			continue
		}
		name := k.Value
		fpath := joinPath(path, name)
		if seen[name] {
			d.fail(k, fpath, "duplicate field")
			continue
		}
		seen[name] = true
		idx, ok := fields[name]
		if !ok {
			d.unknownField(v.Type(), k, n.Content[i+1], fpath)
			continue
		}
		d.decode(n.Content[i+1], v.FieldByIndex(idx), fpath)
	}
}

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// unknownField reports a field the type does not declare: "not supported" for
// Kubernetes fields Outpost deliberately leaves out, "unknown field" otherwise.
// A few fields that tools write with empty values are accepted and ignored.
func (d *decoder) unknownField(t reflect.Type, key, val *yaml.Node, path string) {
	if ignoredEmpty[t.Name()+"."+key.Value] && isEmpty(resolve(val)) {
		return
	}
	if reason, ok := unsupported[t.Name()+"."+key.Value]; ok {
		if reason == "" {
			d.fail(key, path, "not supported")
		} else {
			d.fail(key, path, "not supported (%s)", reason)
		}
		return
	}
	d.fail(key, path, "unknown field")
}

func isEmpty(n *yaml.Node) bool {
	return isNull(n) || (n.Kind == yaml.MappingNode && len(n.Content) == 0)
}

var fieldCache sync.Map // reflect.Type -> map[string][]int

// fieldsOf maps each json name of t (embedded structs flattened) to its field index.
func fieldsOf(t reflect.Type) map[string][]int {
	if m, ok := fieldCache.Load(t); ok {
		return m.(map[string][]int)
	}
	m := map[string][]int{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			for sub, idx := range fieldsOf(f.Type) {
				m[sub] = append([]int{i}, idx...)
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		m[name] = []int{i}
	}
	fieldCache.Store(t, m)
	return m
}

// parseDocuments splits data (JSON, or YAML with any number of documents) into
// non-empty document roots.
func parseDocuments(data []byte) ([]*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []*yaml.Node
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		if root := resolve(&doc); root != nil && !isNull(root) {
			docs = append(docs, root)
		}
	}
}

func reflectValue(ptr any) reflect.Value { return reflect.ValueOf(ptr).Elem() }
