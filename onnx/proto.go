package onnx

import (
	"encoding/binary"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// The ONNX messages this package writes, a subset of onnx.proto
// (https://github.com/onnx/onnx/blob/main/onnx/onnx.proto): only the fields an inference graph
// of float32 tensors needs. Marshal encodes them in the protobuf wire format with the field
// numbers of onnx.proto, given beside each field.

// IR and operator-set versions the exported models declare: opset 17 needs IR version 8.
const (
	IRVersion = 8
	Opset     = 17
)

// ONNX data types (TensorProto.DataType).
const (
	Float = 1
	Int64 = 7
)

// Model is an ONNX ModelProto.
type Model struct {
	Producer string      // producer_name = 2
	Doc      string      // doc_string = 6
	Graph    Graph       // graph = 7
	Metadata [][2]string // metadata_props = 14: key = 1, value = 2
	// ir_version = 1 is IRVersion; opset_import = 8 is the default domain at Opset.
}

// Graph is an ONNX GraphProto.
type Graph struct {
	Name         string      // name = 2
	Nodes        []Node      // node = 1, in topological order
	Initializers []Tensor    // initializer = 5: the weights and constants
	Doc          string      // doc_string = 10
	Inputs       []ValueInfo // input = 11
	Outputs      []ValueInfo // output = 12
}

// Node is an ONNX NodeProto of the default domain.
type Node struct {
	Inputs, Outputs []string // input = 1, output = 2
	Name            string   // name = 3
	Op              string   // op_type = 4
	Attrs           []Attr   // attribute = 5
}

// Attr is an ONNX AttributeProto holding one int (Ints nil and Str empty), a list of ints or a
// string.
type Attr struct {
	Name string  // name = 1
	Int  int64   // i = 3, type = 20 INT (2)
	Ints []int64 // ints = 8, type = 20 INTS (7)
	Str  string  // s = 4, type = 20 STRING (3)
}

// Ints returns a list-of-ints attribute.
func Ints(name string, v ...int64) Attr { return Attr{Name: name, Ints: append([]int64{}, v...)} }

// Int returns an int attribute.
func Int(name string, v int64) Attr { return Attr{Name: name, Int: v} }

// Str returns a string attribute; v must not be empty.
func Str(name, v string) Attr { return Attr{Name: name, Str: v} }

// Tensor is an ONNX TensorProto of Float (Floats) or Int64 (Int64s) values, stored as raw
// little-endian data.
type Tensor struct {
	Name   string    // name = 8
	Dims   []int64   // dims = 1
	Floats []float32 // data_type = 2 FLOAT, raw_data = 9
	Int64s []int64   // data_type = 2 INT64, raw_data = 9
}

// ValueInfo is an ONNX ValueInfoProto of a float32 tensor: a graph input or output.
type ValueInfo struct {
	Name string // name = 1
	Dims []Dim  // type = 2: tensor_type = 1 {elem_type = 1 FLOAT, shape = 2 {dim = 1}}
	Doc  string // doc_string = 3
}

// Dim is one dimension of a ValueInfo: a fixed size, or a named symbolic one (Param, e.g. "N").
type Dim struct {
	Value int64  // dim_value = 1
	Param string // dim_param = 2
}

// Marshal returns m in the protobuf wire format: the bytes of a .onnx file.
func (m *Model) Marshal() []byte {
	var b []byte
	b = appendVarint(b, 1, IRVersion)
	b = appendString(b, 2, m.Producer)
	b = appendString(b, 6, m.Doc)
	b = appendMessage(b, 7, m.Graph.marshal())
	b = appendMessage(b, 8, appendVarint(nil, 2, Opset)) // domain = 1 empty: the default domain
	for _, kv := range m.Metadata {
		b = appendMessage(b, 14, appendString(appendString(nil, 1, kv[0]), 2, kv[1]))
	}
	return b
}

func (g *Graph) marshal() []byte {
	var b []byte
	for _, n := range g.Nodes {
		b = appendMessage(b, 1, n.marshal())
	}
	b = appendString(b, 2, g.Name)
	for _, t := range g.Initializers {
		b = appendMessage(b, 5, t.marshal())
	}
	b = appendString(b, 10, g.Doc)
	for _, v := range g.Inputs {
		b = appendMessage(b, 11, v.marshal())
	}
	for _, v := range g.Outputs {
		b = appendMessage(b, 12, v.marshal())
	}
	return b
}

func (n *Node) marshal() []byte {
	var b []byte
	for _, s := range n.Inputs {
		b = protowire.AppendString(protowire.AppendTag(b, 1, protowire.BytesType), s)
	}
	for _, s := range n.Outputs {
		b = protowire.AppendString(protowire.AppendTag(b, 2, protowire.BytesType), s)
	}
	b = appendString(b, 3, n.Name)
	b = appendString(b, 4, n.Op)
	for _, a := range n.Attrs {
		b = appendMessage(b, 5, a.marshal())
	}
	return b
}

func (a *Attr) marshal() []byte {
	b := appendString(nil, 1, a.Name)
	if a.Ints != nil {
		for _, v := range a.Ints {
			b = protowire.AppendVarint(protowire.AppendTag(b, 8, protowire.VarintType), uint64(v))
		}
		return appendVarint(b, 20, 7)
	}
	if a.Str != "" {
		return appendVarint(appendString(b, 4, a.Str), 20, 3)
	}
	b = protowire.AppendVarint(protowire.AppendTag(b, 3, protowire.VarintType), uint64(a.Int))
	return appendVarint(b, 20, 2)
}

func (t *Tensor) marshal() []byte {
	var b []byte
	for _, d := range t.Dims {
		b = protowire.AppendVarint(protowire.AppendTag(b, 1, protowire.VarintType), uint64(d))
	}
	var raw []byte
	if t.Int64s != nil {
		b = appendVarint(b, 2, Int64)
		for _, v := range t.Int64s {
			raw = binary.LittleEndian.AppendUint64(raw, uint64(v))
		}
	} else {
		b = appendVarint(b, 2, Float)
		raw = make([]byte, 0, 4*len(t.Floats))
		for _, v := range t.Floats {
			raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(v))
		}
	}
	b = appendString(b, 8, t.Name)
	return protowire.AppendBytes(protowire.AppendTag(b, 9, protowire.BytesType), raw)
}

func (v *ValueInfo) marshal() []byte {
	var shape []byte
	for _, d := range v.Dims {
		var dim []byte
		if d.Param != "" {
			dim = appendString(dim, 2, d.Param)
		} else {
			dim = protowire.AppendVarint(protowire.AppendTag(dim, 1, protowire.VarintType), uint64(d.Value))
		}
		shape = protowire.AppendBytes(protowire.AppendTag(shape, 1, protowire.BytesType), dim)
	}
	tensor := appendVarint(nil, 1, Float)
	tensor = protowire.AppendBytes(protowire.AppendTag(tensor, 2, protowire.BytesType), shape)
	b := appendString(nil, 1, v.Name)
	b = appendMessage(b, 2, appendMessage(nil, 1, tensor))
	return appendString(b, 3, v.Doc)
}

// appendVarint appends field num with value v, unless v is 0 (a proto default).
func appendVarint(b []byte, num protowire.Number, v int64) []byte {
	if v == 0 {
		return b
	}
	return protowire.AppendVarint(protowire.AppendTag(b, num, protowire.VarintType), uint64(v))
}

// appendString appends field num holding s, unless s is empty.
func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	return protowire.AppendString(protowire.AppendTag(b, num, protowire.BytesType), s)
}

// appendMessage appends field num holding the encoded message msg (even when empty).
func appendMessage(b []byte, num protowire.Number, msg []byte) []byte {
	return protowire.AppendBytes(protowire.AppendTag(b, num, protowire.BytesType), msg)
}
