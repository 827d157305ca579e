package purego

import "fmt"

// The Winograd F(4×4, 3×3) convolution on plain row-major NCHW float32 buffers, for other
// backends that keep such buffers (engine/dnnl calls it with CATMARK_DNNL_CONV=go-winograd or
// tune-go). It is the code Backend.Conv2D and Backend.Conv2DBackward run, without the engine.Tensor
// around it: the caller keeps the transformed filters (WinogradFilters) as long as the weights
// are unchanged, as Backend does.

// WinogradGeom is the geometry of a 3×3 stride-1 convolution: an N×C×H×W input, O output
// channels and Pad pixels of zero padding on each side; its output is N×O×OH×OW with
// OH = H+2·Pad−2 and OW = W+2·Pad−2.
type WinogradGeom struct {
	N, C, H, W int
	O          int
	Pad        int
}

// Out returns the output's height and width.
func (g WinogradGeom) Out() (oh, ow int) { return g.H + 2*g.Pad - 2, g.W + 2*g.Pad - 2 }

func (g WinogradGeom) conv() convGeom {
	oh, ow := g.Out()
	return convGeom{n: g.N, c: g.C, h: g.H, w: g.W, o: g.O, k: 3, oh: oh, ow: ow, stride: 1, pad: g.Pad}
}

// back is the geometry of g's input gradient as a convolution: dy (N×O×OH×OW) to dx
// (N×C×H×W), padding 2−Pad.
func (g WinogradGeom) back() convGeom {
	oh, ow := g.Out()
	return convGeom{n: g.N, c: g.O, h: oh, w: ow, o: g.C, k: 3, oh: g.H, ow: g.W, stride: 1, pad: 2 - g.Pad}
}

func (g WinogradGeom) check(op string) {
	oh, ow := g.Out()
	if g.N < 1 || g.C < 1 || g.O < 1 || g.Pad < 0 || oh < 1 || ow < 1 {
		panic(fmt.Sprintf("purego: %s: bad geometry %+v", op, g))
	}
}

// Use reports whether mode m runs g's forward convolution as Winograd: the rule Backend.Conv2D
// follows (see SetWinograd). WinogradAuto takes the layers it expects Winograd to speed up;
// WinogradOn every one that fits the kernels' int32 offsets.
func (m Winograd) Use(g WinogradGeom) bool { return m.use(g.conv()) }

// UseBackward reports whether mode m runs g's input gradient as Winograd, as
// Backend.Conv2DBackward does.
func (m Winograd) UseBackward(g WinogradGeom) bool { return m.use(g.back()) }

// WinogradFilters returns the O×C×3×3 weights w transformed for WinogradForward (back false)
// or for WinogradBackwardData (back true): 36 matrices of ⌈O/mr⌉·mr×C (back: ⌈C/mr⌉·mr×O)
// floats, packed for the micro-kernel.
func WinogradFilters(w []float32, o, c int, back bool) []float32 {
	if o < 1 || c < 1 || len(w) != o*c*9 {
		panic(fmt.Sprintf("purego: WinogradFilters: %d weights for %d×%d×3×3", len(w), o, c))
	}
	return winoFilter(w, o, c, back)
}

// winoFilterLen is the length of winoFilter's result for m output and k input channels.
func winoFilterLen(m, k int) int { return winoP * ((m + mr - 1) / mr) * k * mr }

// WinogradForward computes y = conv(x, w) + bias by Winograd F(4×4, 3×3): x is N×C×H×W, u
// is WinogradFilters(w, O, C, false), bias has O values or is nil, and y (N×O×OH×OW) is
// overwritten. Every buffer is row-major. g must satisfy WinogradOn.Use.
func WinogradForward(g WinogradGeom, x, u, bias, y []float32) {
	g.checkForward("WinogradForward", 1, x, u, bias, y)
	winoConv(newWinoGeom(g.N, g.C, g.H, g.W, g.O, g.Pad), x, u, bias, y)
}

// WinogradBackwardData computes the input gradient dx (N×C×H×W, overwritten) of g's
// convolution from the output gradient dy (N×O×OH×OW) by Winograd F(4×4, 3×3): u is
// WinogradFilters(w, O, C, true). Every buffer is row-major. g must satisfy
// WinogradOn.UseBackward.
func WinogradBackwardData(g WinogradGeom, dy, u, dx []float32) {
	g.checkBackwardData("WinogradBackwardData", 1, dy, u, dx)
	oh, ow := g.Out()
	winoConv(newWinoGeom(g.N, g.O, oh, ow, g.C, 2-g.Pad), dy, u, nil, dx)
}

// layout names activations blocked by block channels (1: plain) in a panic message.
func layout(block int) string {
	if block == 1 {
		return "plain"
	}
	return fmt.Sprintf("blocked by %d", block)
}

// checkForward panics, naming op, unless g fits WinogradOn.Use and x, u, bias and y fit its
// forward convolution with activations blocked by block channels (1: plain, blockedLen's layout).
func (g WinogradGeom) checkForward(op string, block int, x, u, bias, y []float32) {
	g.check(op)
	if !WinogradOn.Use(g) {
		panic(fmt.Sprintf("purego: %s: geometry %+v is too large", op, g))
	}
	oh, ow := g.Out()
	switch {
	case len(x) != blockedLen(g.N, g.C, g.H, g.W, block):
		panic(fmt.Sprintf("purego: %s: %d input values for %+v, %s", op, len(x), g, layout(block)))
	case len(u) != winoFilterLen(g.O, g.C):
		panic(fmt.Sprintf("purego: %s: %d filter values for %+v, want WinogradFilters' %d", op, len(u), g, winoFilterLen(g.O, g.C)))
	case bias != nil && len(bias) != g.O:
		panic(fmt.Sprintf("purego: %s: %d bias values for %d channels", op, len(bias), g.O))
	case len(y) != blockedLen(g.N, g.O, oh, ow, block):
		panic(fmt.Sprintf("purego: %s: %d output values for %+v, %s", op, len(y), g, layout(block)))
	}
}

// checkBackwardData is checkForward for the input gradient: g must fit WinogradOn.UseBackward,
// and dy, u (WinogradFilters(w, O, C, true)) and dx its input-gradient convolution.
func (g WinogradGeom) checkBackwardData(op string, block int, dy, u, dx []float32) {
	g.check(op)
	if !WinogradOn.UseBackward(g) {
		panic(fmt.Sprintf("purego: %s: geometry %+v is too large", op, g))
	}
	oh, ow := g.Out()
	switch {
	case len(dy) != blockedLen(g.N, g.O, oh, ow, block):
		panic(fmt.Sprintf("purego: %s: %d output-gradient values for %+v, %s", op, len(dy), g, layout(block)))
	case len(u) != winoFilterLen(g.C, g.O):
		panic(fmt.Sprintf("purego: %s: %d filter values for %+v, want WinogradFilters' %d", op, len(u), g, winoFilterLen(g.C, g.O)))
	case len(dx) != blockedLen(g.N, g.C, g.H, g.W, block):
		panic(fmt.Sprintf("purego: %s: %d input-gradient values for %+v, %s", op, len(dx), g, layout(block)))
	}
}
