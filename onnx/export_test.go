package onnx

import (
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/catmark/catmark/engine/ref"
	"github.com/catmark/catmark/model"
	"github.com/catmark/catmark/nn"
	"google.golang.org/protobuf/encoding/protowire"
)

// message is a decoded protobuf message: each field number's values, varints as uint64 and
// length-delimited fields as []byte.
type message map[protowire.Number][]any

// decode reads b's fields.
func decode(t *testing.T, b []byte) message {
	t.Helper()
	m := message{}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			t.Fatalf("bad tag: %v", protowire.ParseError(n))
		}
		b = b[n:]
		var v any
		switch typ {
		case protowire.VarintType:
			v, n = protowire.ConsumeVarint(b)
		case protowire.BytesType:
			v, n = protowire.ConsumeBytes(b)
		default:
			t.Fatalf("field %d: wire type %d, this package writes only varints and bytes", num, typ)
		}
		if n < 0 {
			t.Fatalf("field %d: %v", num, protowire.ParseError(n))
		}
		m[num] = append(m[num], v)
		b = b[n:]
	}
	return m
}

// sub decodes the i-th value of field num as a message.
func (m message) sub(t *testing.T, num protowire.Number, i int) message {
	return decode(t, m[num][i].([]byte))
}

// str returns field num's first value as a string ("" when absent).
func (m message) str(num protowire.Number) string {
	if len(m[num]) == 0 {
		return ""
	}
	return string(m[num][0].([]byte))
}

// The shipped refine network's file carries, at onnx.proto's field numbers, the IR version, the
// opset, the input "image" N×3×S×S, the outputs, one node per output name and the metadata.
func TestMarshalFields(t *testing.T) {
	b := ref.New()
	data, err := fs.ReadFile(model.Shipped, model.RefineFile)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.LoadBytes(b, model.RefineFile, data)
	if err != nil {
		t.Fatal(err)
	}
	om, err := Export(m)
	if err != nil {
		t.Fatal(err)
	}
	pm := decode(t, om.Marshal())
	if got := pm[1][0].(uint64); got != IRVersion {
		t.Errorf("ir_version %d, want %d", got, IRVersion)
	}
	if op := pm.sub(t, 8, 0); op[2][0].(uint64) != Opset || op.str(1) != "" {
		t.Errorf("opset_import %v, want the default domain at %d", op, Opset)
	}
	var keys []string
	for i := range pm[14] {
		keys = append(keys, pm.sub(t, 14, i).str(1))
	}
	if want := []string{"catmark.input", "catmark.outputs", "catmark.landmarks", "catmark.model_spec"}; !slices.Equal(keys, want) {
		t.Errorf("metadata keys %q, want %q", keys, want)
	}
	g := pm.sub(t, 7, 0)
	in := g.sub(t, 11, 0)
	if in.str(1) != Input {
		t.Errorf("input %q, want %q", in.str(1), Input)
	}
	shape := in.sub(t, 2, 0).sub(t, 1, 0).sub(t, 2, 0)
	var dims []string
	for i := range shape[1] {
		d := shape.sub(t, 1, i)
		if p := d.str(2); p != "" {
			dims = append(dims, p)
		} else {
			dims = append(dims, strconv.FormatUint(d[1][0].(uint64), 10))
		}
	}
	size := strconv.Itoa(m.Spec.Size)
	if want := []string{"N", "3", size, size}; !slices.Equal(dims, want) {
		t.Errorf("input dims %q, want %q", dims, want)
	}
	var outs []string
	for i := range g[12] {
		outs = append(outs, g.sub(t, 12, i).str(1))
	}
	if want := []string{Points, Heatmaps, Face}; !slices.Equal(outs, want) {
		t.Errorf("outputs %q, want %q", outs, want)
	}
	made := map[string]bool{}
	for i := range g[1] {
		for _, o := range g.sub(t, 1, i)[2] {
			made[string(o.([]byte))] = true
		}
	}
	for _, o := range outs {
		if !made[o] {
			t.Errorf("no node makes output %q", o)
		}
	}
	if len(g[5]) != len(om.Graph.Initializers) || len(g[1]) != len(om.Graph.Nodes) {
		t.Errorf("%d initializers and %d nodes encoded, the graph has %d and %d", len(g[5]), len(g[1]), len(om.Graph.Initializers), len(om.Graph.Nodes))
	}
}

// oddLayer is a layer the exporter does not know.
type oddLayer struct{ nn.Sigmoid }

// A layer the exporter cannot write is an error that names its type.
func TestExportRejectsUnknownLayers(t *testing.T) {
	b := ref.New()
	for _, c := range []struct {
		layers []nn.Layer
		want   string
	}{
		{[]nn.Layer{&oddLayer{}}, "*onnx.oddLayer"},
		{[]nn.Layer{nn.NewBatchNorm2d(b, "bn", 3, false)}, "*nn.BatchNorm2d"},
		{[]nn.Layer{nn.NewSequential(b, nn.NewMaxPool2d(b, 3, 2, 1), &oddLayer{})}, "*onnx.oddLayer"},
		{[]nn.Layer{nn.NewSum(b, true, nn.NewSequential(b, nn.NewUpsample2x(b), &oddLayer{}))}, "*onnx.oddLayer"},
		{[]nn.Layer{nn.NewSum(b, true, nn.NewUpsample2x(b))}, "nn.Sum branch 0 gives 3×64×64 values, the first term 3×32×32"},
	} {
		e := &exporter{b: b, used: map[string]bool{}}
		err := e.walk(value{name: Input, c: 3, h: 32, w: 32}, c.layers)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("walk(%T…) = %v, want an error naming %s", c.layers[0], err, c.want)
		}
	}
}
