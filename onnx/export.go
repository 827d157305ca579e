// Package onnx writes catmark's landmark networks as ONNX models (https://onnx.ai), so that they
// run under any ONNX runtime: on phones, in browsers, from other languages.
//
// Export walks a model.Model's layers and emits a float32, NCHW graph at operator set 17
// (IR version 8) with a dynamic batch dimension "N" and, for a landmark model (stage "whole" or
// "crop"), a fixed input side S (Spec.Size):
//
//	image     N×3×S×S  input: RGB planes, each 8-bit value v given as v/255 (0…1); the model's
//	                   normalisation ((x − mean)/std, imgproc.NormNamed) is the graph's first step
//	points    N×9×2    the nine points (landmark.Names order) as (x, y), normalised to the input:
//	                   0…1 across the whole photo (stage "whole") or across the face crop ("crop"),
//	                   what model.Model.Predict decodes
//	face      N×1      the face presence in (0, 1); only for a model with Spec.Presence
//	heatmaps  N×9×h×w  an integral head's heatmap logits (model.Model.Heatmaps); points is their
//	                   soft-argmax, cell (i, j) standing for (j/(w−1), i/(h−1))
//	bins      N×18×B   a SimCC head's bin logits, coordinate by coordinate (x0, y0, x1, …)
//
// A centers model (stage "centers", model.CentersFile) is fully convolutional: its input is
// N×3×H×W, the photo letterboxed (model.NewLetterbox), H and W symbolic and multiples of
// model.CentersAlign, and its outputs are the raw maps model.DecodeCenters reads, one cell every
// model.CentersStride pixels (h = H/8, w = W/8), split by meaning:
//
//	heatmap   N×1×h×w   the logit of "a face's centre is in this cell" (sigmoid: presence)
//	offset    N×2×h×w   the centre's x and y inside its cell, in cells (0…1)
//	log_size  N×1×h×w   ln(side/8), side the face box's side in input pixels
//	angle     N×2×h×w   cos θ and sin θ of the face's angle
//	points    N×18×h×w  the nine points (x0, y0, …) less the centre, over side
//
// Their channels in this order are model.CentersChannels maps, the layout DecodeCenters takes.
//
// Batch norms are folded into the convolutions before them. A layer the walk does not know is
// an error that names its type. The model's doc_string and its metadata_props ("catmark.input",
// "catmark.outputs", "catmark.landmarks", "catmark.model_spec") say the same for whoever opens
// the file. The protobuf messages are written by this package (proto.go) with protowire.
package onnx

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"github.com/catmark/catmark/engine"
	"github.com/catmark/catmark/imgproc"
	"github.com/catmark/catmark/internal/atomicfile"
	"github.com/catmark/catmark/landmark"
	"github.com/catmark/catmark/model"
	"github.com/catmark/catmark/nn"
)

// Names of the graph's input and outputs.
const (
	Input    = "image"
	Points   = "points"
	Face     = "face"
	Heatmaps = "heatmaps"
	Bins     = "bins"

	// A centers model's outputs (Points is its fifth).
	Heatmap = "heatmap"
	Offset  = "offset"
	LogSize = "log_size"
	Angle   = "angle"
)

// WriteFile exports m (Export) to path, atomically.
func WriteFile(path string, m *model.Model) error {
	om, err := Export(m)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, om.Marshal())
}

// Export returns m's network as an ONNX model (see the package comment).
func Export(m *model.Model) (*Model, error) {
	s := m.Spec
	norm, err := imgproc.NormNamed(s.Norm)
	if err != nil {
		return nil, fmt.Errorf("onnx: %w", err)
	}
	e := &exporter{b: m.B, presence: s.Presence, centers: s.Stage == model.Centers, used: map[string]bool{Input: true}}
	x := e.normalise(value{name: Input, c: 3, h: s.Size, w: s.Size}, norm)
	if err := e.walk(x, m.Net.Layers()); err != nil {
		return nil, err
	}
	spec, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	in, out := e.describe(s, norm)
	kind := "landmark network"
	if e.centers {
		kind = "face-finding network"
	}
	e.g.Name = "catmark_" + string(s.Stage)
	side := []Dim{{Value: int64(s.Size)}, {Value: int64(s.Size)}}
	if e.centers {
		side = []Dim{{Param: "H"}, {Param: "W"}}
	}
	e.g.Inputs = []ValueInfo{{Name: Input, Dims: append([]Dim{{Param: "N"}, {Value: 3}}, side...), Doc: in}}
	return &Model{
		Producer: "catmark",
		Doc:      fmt.Sprintf("catmark %s-stage %s (ResNet-%d, width %d, %s head). Input %s. Outputs: %s", s.Stage, kind, s.Depth, s.Width, headName(s.Head), in, out),
		Graph:    e.g,
		Metadata: [][2]string{
			{"catmark.input", in},
			{"catmark.outputs", out},
			{"catmark.landmarks", strings.Join(landmark.Names[:], ",")},
			{"catmark.model_spec", string(spec)},
		},
	}, nil
}

func headName(h string) string {
	if h == "" {
		return "pool"
	}
	return h
}

// describe returns the text of the input and of the outputs for the doc strings and metadata.
func (e *exporter) describe(s model.Spec, norm imgproc.Norm) (in, out string) {
	what := "the whole photo"
	if s.Stage == model.Crop {
		what = fmt.Sprintf("the face crop (the square around the points' bounding box, its longer side grown by %g of it on each side)", s.Margin)
	}
	in = fmt.Sprintf("%s: float32 N×3×%d×%d RGB planes (NCHW) of %s resized to %d×%d (aspect not kept, bilinear), "+
		"each 8-bit value v given as v/255 in [0, 1]; the graph normalises them itself, (x − mean)/std with mean %v and std %v (%q)",
		Input, s.Size, s.Size, what, s.Size, s.Size, norm.Mean, norm.Std, s.Norm)
	if e.centers {
		in = fmt.Sprintf("%s: float32 N×3×H×W RGB planes (NCHW) of the whole photo letterboxed: resized with its aspect kept (bilinear), "+
			"centred and padded with the colour %v; H = W = %d for a photo up to 4:3, its long side longer for a wider one (at most %d×), "+
			"H and W multiples of %d; each 8-bit value v given as v/255 in [0, 1]; the graph normalises them itself, (x − mean)/std with mean %v and std %v (%q)",
			Input, model.PadColor, s.Size, model.MaxStretch, model.CentersAlign, norm.Mean, norm.Std, s.Norm)
	}
	var parts []string
	for _, o := range e.g.Outputs {
		parts = append(parts, o.Name+": "+o.Doc)
	}
	return in, strings.Join(parts, "; ")
}

// value is a tensor of the graph being built: N×C×H×W, or N×C rows when H = 0.
type value struct {
	name    string
	c, h, w int
}

type exporter struct {
	b        engine.Backend
	presence bool
	centers  bool // a centers model: its last layer's maps are the outputs (centerMaps)
	g        Graph
	used     map[string]bool
}

// unique returns base, or base with a number appended when a value already has that name.
func (e *exporter) unique(base string) string {
	name := base
	for i := 2; e.used[name]; i++ {
		name = fmt.Sprintf("%s_%d", base, i)
	}
	e.used[name] = true
	return name
}

// node adds an operator whose one output is named after name and returns that name.
func (e *exporter) node(op, name string, inputs []string, attrs ...Attr) string {
	out := e.unique(name)
	e.g.Nodes = append(e.g.Nodes, Node{Op: op, Name: out, Inputs: inputs, Outputs: []string{out}, Attrs: attrs})
	return out
}

// floats adds a float32 initializer and returns its name.
func (e *exporter) floats(name string, data []float32, dims ...int64) string {
	name = e.unique(name)
	e.g.Initializers = append(e.g.Initializers, Tensor{Name: name, Dims: dims, Floats: data})
	return name
}

// int64s adds an int64 vector initializer (a shape or slice bounds) and returns its name.
func (e *exporter) int64s(name string, v ...int64) string {
	name = e.unique(name)
	e.g.Initializers = append(e.g.Initializers, Tensor{Name: name, Dims: []int64{int64(len(v))}, Int64s: v})
	return name
}

// output declares the value called name a graph output of dims N×dims.
func (e *exporter) output(name, doc string, dims ...Dim) {
	e.g.Outputs = append(e.g.Outputs, ValueInfo{Name: name, Dims: append([]Dim{{Param: "N"}}, dims...), Doc: doc})
}

// normalise adds (x − mean)/std per channel, unless norm is the identity.
func (e *exporter) normalise(x value, norm imgproc.Norm) value {
	if norm == imgproc.Unit {
		return x
	}
	var mean, std []float32
	for c := range 3 {
		mean, std = append(mean, float32(norm.Mean[c])), append(std, float32(norm.Std[c]))
	}
	sub := e.node("Sub", "normalise.sub", []string{x.name, e.floats("normalise.mean", mean, 1, 3, 1, 1)})
	x.name = e.node("Div", "normalise", []string{sub, e.floats("normalise.std", std, 1, 3, 1, 1)})
	return x
}

// residual is a residual block (resnet's): ReLU(main(x) + shortcut(x)), a nil shortcut being x.
type residual interface {
	Residual() (main, shortcut *nn.Sequential)
}

// walk adds the layers, in order, to the graph from x; the last one must leave the graph's
// outputs declared (a head), leave N×Outputs rows as the pooled head does, or, in a centers
// model, leave its model.CentersChannels maps.
func (e *exporter) walk(x value, layers []nn.Layer) error {
	x, err := e.layers(x, layers)
	switch {
	case err != nil:
		return err
	case len(e.g.Outputs) > 0:
		return nil
	case e.centers:
		return e.centerMaps(x)
	}
	return e.rows(x)
}

// layers adds each layer, folding a batch norm into the convolution before it.
func (e *exporter) layers(x value, layers []nn.Layer) (value, error) {
	for i := 0; i < len(layers); i++ {
		if len(e.g.Outputs) > 0 {
			return x, fmt.Errorf("onnx: layer %T after the network's head cannot be exported", layers[i])
		}
		switch l := layers[i].(type) {
		case *nn.Conv2d:
			var bn *nn.BatchNorm2d
			if i+1 < len(layers) {
				if bn, _ = layers[i+1].(*nn.BatchNorm2d); bn != nil {
					i++
				}
			}
			x = e.conv(x, l, bn)
		case *nn.MaxPool2d:
			p := l.P
			x.name = e.node("MaxPool", "maxpool", []string{x.name},
				Ints("kernel_shape", int64(p.Kernel), int64(p.Kernel)), Ints("strides", int64(p.Stride), int64(p.Stride)),
				Ints("pads", int64(p.Pad), int64(p.Pad), int64(p.Pad), int64(p.Pad)))
			x.h, x.w = engine.OutSize(x.h, p.Kernel, p.Stride, p.Pad), engine.OutSize(x.w, p.Kernel, p.Stride, p.Pad)
		case *nn.Sequential:
			var err error
			if x, err = e.layers(x, l.Layers); err != nil {
				return x, err
			}
		case residual:
			main, short := l.Residual()
			y, err := e.layers(x, main.Layers)
			if err != nil {
				return x, err
			}
			s := x
			if short != nil {
				if s, err = e.layers(x, short.Layers); err != nil {
					return x, err
				}
			}
			name := blockName(main)
			sum := e.node("Add", name+".add", []string{y.name, s.name})
			y.name = e.node("Relu", name+".relu", []string{sum})
			x = y
		case *nn.Upsample2x:
			// Nearest, y[i] = x[⌊i/2⌋]: "asymmetric" maps output i to input i/2, "floor" rounds it.
			x.name = e.node("Resize", x.name+".upsample", []string{x.name, "", e.floats("upsample.scales", []float32{1, 1, 2, 2}, 4)},
				Str("mode", "nearest"), Str("coordinate_transformation_mode", "asymmetric"), Str("nearest_mode", "floor"))
			x.h, x.w = 2*x.h, 2*x.w
		case *nn.Sum:
			var err error
			if x, err = e.sum(x, l); err != nil {
				return x, err
			}
		case *nn.GlobalAvgPool:
			x = e.globalPool(x)
		case *nn.Linear:
			x = e.linear(x, l)
		case *nn.Sigmoid:
			x.name = e.node("Sigmoid", x.name+".sigmoid", []string{x.name})
		case *nn.IntegralHead:
			e.integral(x, l)
		case *nn.SoftBins:
			e.softBins(x, l)
		default:
			return x, fmt.Errorf("onnx: layer %T cannot be exported (known: Conv2d with or without a BatchNorm2d after it, MaxPool2d, residual blocks, Upsample2x, Sum, GlobalAvgPool, Linear, Sigmoid, IntegralHead, SoftBins)", l)
		}
	}
	return x, nil
}

// sum adds an nn.Sum: its branches, each from x, and their sum with x (Identity), by Add for two
// terms and Sum for more.
func (e *exporter) sum(x value, l *nn.Sum) (value, error) {
	var terms []value
	if l.Identity {
		terms = append(terms, x)
	}
	for k, br := range l.Branches {
		y, err := e.layers(x, []nn.Layer{br})
		if err != nil {
			return x, err
		}
		if len(e.g.Outputs) > 0 {
			return x, fmt.Errorf("onnx: nn.Sum branch %d ends in a head, which cannot be summed", k)
		}
		if len(terms) > 0 && (y.c != terms[0].c || y.h != terms[0].h || y.w != terms[0].w) {
			return x, fmt.Errorf("onnx: nn.Sum branch %d gives %d×%d×%d values, the first term %d×%d×%d", k, y.c, y.h, y.w, terms[0].c, terms[0].h, terms[0].w)
		}
		terms = append(terms, y)
	}
	if len(terms) == 0 {
		return x, fmt.Errorf("onnx: nn.Sum with no branches and no identity has nothing to add")
	}
	if len(terms) == 1 {
		return terms[0], nil
	}
	op, names := "Add", make([]string, len(terms))
	if len(terms) > 2 {
		op = "Sum"
	}
	for k, t := range terms {
		names[k] = t.name
	}
	y := terms[0]
	y.name = e.node(op, "sum", names)
	return y, nil
}

// blockName is a residual block's parameter prefix ("layer2.0"), from its first parameter.
func blockName(main *nn.Sequential) string {
	ps := main.Params()
	if len(ps) == 0 {
		return "block"
	}
	name := ps[0].Name
	for range 2 {
		if i := strings.LastIndexByte(name, '.'); i > 0 {
			name = name[:i]
		}
	}
	return name
}

// conv adds c, with bn folded into its weights and bias when bn is not nil, and bn's ReLU.
func (e *exporter) conv(x value, c *nn.Conv2d, bn *nn.BatchNorm2d) value {
	shape := c.Weight.Value.Shape() // Out×In×K×K
	out, k := shape[0], shape[2]
	w := append([]float32(nil), e.b.Data(c.Weight.Value)...)
	bias := make([]float32, out)
	if c.Bias != nil {
		copy(bias, e.b.Data(c.Bias.Value))
	}
	name := strings.TrimSuffix(c.Weight.Name, ".weight")
	if bn != nil {
		gamma, beta := e.b.Data(bn.Weight.Value), e.b.Data(bn.Bias.Value)
		mean, variance := e.b.Data(bn.RunningMean.Value), e.b.Data(bn.RunningVar.Value)
		per := len(w) / out
		for o := range out {
			scale := float64(gamma[o]) / math.Sqrt(float64(variance[o])+float64(bn.Eps))
			for i := range per {
				w[o*per+i] = float32(float64(w[o*per+i]) * scale)
			}
			bias[o] = float32((float64(bias[o])-float64(mean[o]))*scale + float64(beta[o]))
		}
	}
	p := c.P
	y := e.node("Conv", name, []string{x.name,
		e.floats(name+".weight", w, int64(out), int64(shape[1]), int64(k), int64(k)),
		e.floats(name+".bias", bias, int64(out))},
		Ints("kernel_shape", int64(k), int64(k)), Ints("strides", int64(p.Stride), int64(p.Stride)),
		Ints("pads", int64(p.Pad), int64(p.Pad), int64(p.Pad), int64(p.Pad)))
	if bn != nil && bn.ReLU {
		y = e.node("Relu", name+".relu", []string{y})
	}
	return value{name: y, c: out, h: engine.OutSize(x.h, k, p.Stride, p.Pad), w: engine.OutSize(x.w, k, p.Stride, p.Pad)}
}

// globalPool averages each channel: N×C×H×W → N×C rows.
func (e *exporter) globalPool(x value) value {
	pooled := e.node("GlobalAveragePool", "pool", []string{x.name})
	return value{name: e.node("Flatten", "pool.flat", []string{pooled}, Int("axis", 1)), c: x.c}
}

// linear adds x·wᵀ + b on rows.
func (e *exporter) linear(x value, l *nn.Linear) value {
	shape := l.Weight.Value.Shape() // Out×In
	name := strings.TrimSuffix(l.Weight.Name, ".weight")
	y := e.node("Gemm", name, []string{x.name,
		e.floats(name+".weight", append([]float32(nil), e.b.Data(l.Weight.Value)...), int64(shape[0]), int64(shape[1])),
		e.floats(name+".bias", append([]float32(nil), e.b.Data(l.Bias.Value)...), int64(shape[0]))},
		Int("transB", 1))
	return value{name: y, c: shape[0]}
}

// slice adds columns [from, to) of rows x.
func (e *exporter) slice(x value, name string, from, to int) string {
	return e.node("Slice", name, []string{x.name, e.int64s(name+".starts", int64(from)), e.int64s(name+".ends", int64(to)), e.int64s(name+".axes", 1)})
}

// rows declares the outputs of a pooled head's N×Outputs sigmoid rows: points, and face.
func (e *exporter) rows(x value) error {
	want := landmark.Dim
	if e.presence {
		want++
	}
	if x.h != 0 || x.c != want {
		return fmt.Errorf("onnx: the network ends in %d×%d×%d values, want %d outputs per input", x.c, x.h, x.w, want)
	}
	pts := e.slice(x, "points.flat", 0, landmark.Dim)
	e.node("Reshape", Points, []string{pts, e.int64s("points.shape", 0, landmark.N, 2)})
	e.output(Points, pointsDoc, Dim{Value: landmark.N}, Dim{Value: 2})
	if e.presence {
		e.slice(x, Face, landmark.Dim, landmark.Dim+1)
		e.output(Face, faceDoc, Dim{Value: 1})
	}
	return nil
}

// centerMaps declares a centers model's outputs: its N×CentersChannels×h×w maps split by meaning
// (the package comment).
func (e *exporter) centerMaps(x value) error {
	if x.h == 0 || x.c != model.CentersChannels {
		return fmt.Errorf("onnx: the centers network ends in %d×%d×%d values, want %d maps", x.c, x.h, x.w, model.CentersChannels)
	}
	parts := []struct {
		name     string
		from, to int
		doc      string
	}{
		{Heatmap, model.CenterLogit, model.CenterOffset, "the logit of \"a face's centre is in this cell\"; its sigmoid is the face presence"},
		{Offset, model.CenterOffset, model.CenterLogSize, "the face centre's x and y inside its cell, in cells (0…1)"},
		{LogSize, model.CenterLogSize, model.CenterCos, fmt.Sprintf("ln(side/%d), side the face box's side in input pixels", model.CentersStride)},
		{Angle, model.CenterCos, model.CenterPoints, "cos θ and sin θ of the face's angle θ (counter-clockwise)"},
		{Points, model.CenterPoints, model.CentersChannels, "the nine points (x0, y0, …, x8, y8, catmark.landmarks order) less the face centre, over side"},
	}
	split := make([]int64, len(parts))
	outs := make([]string, len(parts))
	for k, p := range parts {
		split[k] = int64(p.to - p.from)
		outs[k] = e.unique(p.name)
	}
	e.g.Nodes = append(e.g.Nodes, Node{Op: "Split", Name: "centers.split", Inputs: []string{x.name, e.int64s("centers.split.sizes", split...)},
		Outputs: outs, Attrs: []Attr{Int("axis", 1)}})
	for k, p := range parts {
		doc := fmt.Sprintf("N×%d×h×w float32 (h = H/%d, w = W/%d; cell (i, j) covers input pixels [%dj, %dj+%d)×[%di, %di+%d)), %s",
			split[k], model.CentersStride, model.CentersStride, model.CentersStride, model.CentersStride, model.CentersStride,
			model.CentersStride, model.CentersStride, model.CentersStride, p.doc)
		e.output(outs[k], doc, Dim{Value: split[k]}, Dim{Param: "h"}, Dim{Param: "w"})
	}
	return nil
}

const (
	pointsDoc = "N×9×2 float32, the nine points (catmark.landmarks order) as (x, y) normalised to the input: 0…1 across its width and height"
	faceDoc   = "N×1 float32, the face presence in (0, 1)"
)

// integral adds an integral head: the heatmaps, their soft-argmax and the presence.
func (e *exporter) integral(x value, l *nn.IntegralHead) {
	k, c := l.K, x.c
	name := strings.TrimSuffix(l.Weight.Name, ".weight")
	maps := e.node("Conv", Heatmaps, []string{x.name,
		e.floats(name+".weight", append([]float32(nil), e.b.Data(l.Weight.Value)...), int64(k), int64(c), 1, 1),
		e.floats(name+".bias", append([]float32(nil), e.b.Data(l.Bias.Value)...), int64(k))},
		Ints("kernel_shape", 1, 1))
	h, w := x.h, x.w
	grid := make([]float32, 0, 2*h*w) // row i·w+j: the cell's position (j/(w−1), i/(h−1))
	for i := range h {
		for j := range w {
			grid = append(grid, float32(float64(j)/float64(w-1)), float32(float64(i)/float64(h-1)))
		}
	}
	flat := e.node("Reshape", "heatmaps.flat", []string{maps, e.int64s("heatmaps.flat.shape", 0, int64(k), int64(h*w))})
	prob := e.node("Softmax", "heatmaps.softmax", []string{flat}, Int("axis", -1))
	e.node("MatMul", Points, []string{prob, e.floats("heatmaps.grid", grid, int64(h*w), 2)})
	e.output(Points, pointsDoc+"; the soft-argmax (expected position) of heatmaps", Dim{Value: int64(k)}, Dim{Value: 2})
	e.output(Heatmaps, fmt.Sprintf("N×%d×%d×%d float32, each point's heatmap logits; cell (i, j) stands for the position (j/%d, i/%d)", k, h, w, w-1, h-1),
		Dim{Value: int64(k)}, Dim{Value: int64(h)}, Dim{Value: int64(w)})
	if l.PWeight != nil {
		fc := e.linear(e.globalPool(x), &nn.Linear{Weight: l.PWeight, Bias: l.PBias})
		e.node("Sigmoid", Face, []string{fc.name})
		e.output(Face, faceDoc, Dim{Value: 1})
	}
}

// softBins adds a SimCC head's decoding of its rows of bin logits: bins, points and presence.
func (e *exporter) softBins(x value, l *nn.SoftBins) {
	logits := e.slice(x, "bins.flat", 0, l.G*l.B)
	bins := e.node("Reshape", Bins, []string{logits, e.int64s("bins.shape", 0, int64(l.G), int64(l.B))})
	pos := make([]float32, l.B)
	for i := range pos {
		pos[i] = float32(float64(i) / float64(l.B-1))
	}
	prob := e.node("Softmax", "bins.softmax", []string{bins}, Int("axis", -1))
	coords := e.node("MatMul", "bins.expected", []string{prob, e.floats("bins.positions", pos, int64(l.B), 1)})
	e.node("Reshape", Points, []string{coords, e.int64s("points.shape", 0, int64(l.G/2), 2)})
	e.output(Points, pointsDoc+"; each coordinate the expected position of its bins", Dim{Value: int64(l.G / 2)}, Dim{Value: 2})
	e.output(Bins, fmt.Sprintf("N×%d×%d float32, each coordinate's bin logits (x0, y0, x1, …); bin i stands for the position i/%d", l.G, l.B, l.B-1),
		Dim{Value: int64(l.G)}, Dim{Value: int64(l.B)})
	if l.Presence {
		e.node("Sigmoid", Face, []string{e.slice(x, "face.logit", l.G*l.B, l.G*l.B+1)})
		e.output(Face, faceDoc, Dim{Value: 1})
	}
}
