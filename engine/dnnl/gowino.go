//go:build cgo && !nodnnl

package dnnl

/*
#include "cm.h"
*/
import "C"

import (
	"fmt"
	"runtime"
	"sync"
	"unsafe"

	"github.com/catmark/catmark/engine"
	"github.com/catmark/catmark/engine/purego"
)

// engine/purego's Winograd F(4×4, 3×3) as a convolution provider (CATMARK_DNNL_CONV=go-winograd):
// the forward and input-gradient convolutions of the 3×3 stride-1 layers that the rule of
// CATMARK_WINOGRAD (purego.Winograd.Use: auto, or on for all) picks run on engine/purego's
// Winograd; the weight gradient stays oneDNN's.
//
// With CATMARK_DNNL_CONV=tune-go those convolutions are candidates instead (goWinoPick): convPrim
// times the provider (a goWinoTrial on scratch tensors, in the blocked layout where the backend
// uses it) beside oneDNN's candidates on the first use of each forward and input-gradient class,
// records in the class's convChoice whether it was faster than oneDNN's fastest, and every call
// of the class takes that verdict: the paths below where the provider won, oneDNN's chosen
// kernel where it lost. The forward class is the one named with the residual addend summed, the
// fusion the provider computes; oneDNN's binary-add variant for a live addend follows its
// verdict untimed.
//
// Which layout takes which path:
//
//   - Blocked: a forward convolution whose input is in the backend's blocked layout (nChw16c with
//     AVX-512, nChw8c with AVX2: blockedMD) runs as purego.WinogradForwardBlocked and leaves its
//     output in that layout, padding channels zero, so that the batch norm, ReLU, Add or oneDNN
//     convolution after it takes it without a reorder. An input gradient runs as
//     purego.WinogradBackwardDataBlocked when the output gradient or the layer's input is in that
//     layout (the output gradient is reordered to it if needed), and leaves dx in it.
//   - Plain: anything else (a plain input such as FromHost's, CATMARK_DNNL_LAYOUT=plain, nhwc or
//     oneDNN's own choice of layout) is reordered to nchw, unless it already is, and runs as
//     purego.WinogradForward and purego.WinogradBackwardData on plain storage, with a plain result.
//
// Impl and ConvPaths report each convolution the provider ran with purego.Kernel's micro-kernel
// and the layout it ran in ("go_winograd:avx512 blocked16", "go_winograd:avx2 plain").

// goWinoGeom returns the purego geometry of a convolution and whether the provider may compute
// it (convGoWinograd or convTuneGo, and the rule of CATMARK_WINOGRAD picks it): pass fwd
// (forward) or not (input gradient).
func (b *Backend) goWinoGeom(xs, ws []int, p engine.ConvParams, fwd bool) (purego.WinogradGeom, bool) {
	if (b.convAlgo != convGoWinograd && b.convAlgo != convTuneGo) || ws[2] != 3 || ws[3] != 3 || p.Stride != 1 {
		return purego.WinogradGeom{}, false
	}
	g := purego.WinogradGeom{N: xs[0], C: xs[1], H: xs[2], W: xs[3], O: ws[0], Pad: p.Pad}
	if fwd {
		return g, b.goWino.Use(g)
	}
	return g, b.goWino.UseBackward(g)
}

// goWinoCandidate returns the provider's geometry for a convolution of kind (CM_FWD_TRAIN or
// CM_BWD_DATA) and fusion f, and whether convPrim times the provider beside oneDNN's candidates
// for it: with convTuneGo, for the classes goWinoGeom picks. A forward convolution's class is
// the one its fusion names with the residual addend summed (f.sum); the binary-add variant
// convPrim makes afterwards for a live addend takes that class's decision and is not timed
// against the provider.
func (b *Backend) goWinoCandidate(kind int, xs, ws []int, p engine.ConvParams, f convFused) (purego.WinogradGeom, bool) {
	if b.convAlgo != convTuneGo || f.binary != nil || (kind != C.CM_FWD_TRAIN && kind != C.CM_BWD_DATA) {
		return purego.WinogradGeom{}, false
	}
	return b.goWinoGeom(xs, ws, p, kind == C.CM_FWD_TRAIN)
}

// goWinoPick returns the provider's geometry for a convolution of kind (CM_FWD_TRAIN or
// CM_BWD_DATA, f as convPrim takes it) and whether it runs on the provider: with
// convGoWinograd wherever goWinoGeom picks it; with convTuneGo where the provider also won its
// class's timed choice, which convPrim makes on the class's first use and every later call takes.
func (b *Backend) goWinoPick(kind int, xs, ws, ys []int, p engine.ConvParams, f convFused) (purego.WinogradGeom, bool) {
	if b.convAlgo == convGoWinograd {
		return b.goWinoGeom(xs, ws, p, kind == C.CM_FWD_TRAIN)
	}
	g, ok := b.goWinoCandidate(kind, xs, ws, p, f)
	if !ok {
		return g, false
	}
	class, _ := convClass(kind, xs, ws, p, f)
	c, ok := b.choice(class)
	if !ok {
		b.convPrim(kind, xs, ws, ys, p, f) // times the class, the provider among the candidates
		c = b.convChoice[class]
	}
	return g, c.GoWino
}

// goWinoTrial is engine/purego's Winograd set up on scratch tensors for convPrim's timing: a
// forward convolution (with f's bias, summed addend and ReLU) or an input gradient, in the
// layout the provider would run in: the blocked one where the backend asks oneDNN for it
// (CATMARK_DNNL_LAYOUT=blocked, the default), else plain. The filters are transformed before the
// timing, as oneDNN's candidates get their weights in their own layout before it.
type goWinoTrial struct {
	run      func()
	src, dst *tensor // the convolution's input (dy backward) and output (dx backward)
	add      *tensor // the residual addend, or nil
}

// newGoWinoTrial returns the provider's trial of a convolution of kind and geometry g. Free it
// with free.
func (b *Backend) newGoWinoTrial(kind int, g purego.WinogradGeom, f convFused) *goWinoTrial {
	oh, ow := g.Out()
	xs, ys := []int{g.N, g.C, g.H, g.W}, []int{g.N, g.O, oh, ow}
	back := kind == C.CM_BWD_DATA
	if back {
		xs, ys = ys, xs
	}
	blocked := b.layout == layoutBlocked && b.blockedMD(xs) != nil
	layout := b.plainMD
	if blocked {
		layout = b.blockedMD
	}
	tr := &goWinoTrial{src: tempTensor(layout(xs)), dst: tempTensor(layout(ys))}
	u := purego.WinogradFilters(make([]float32, g.O*g.C*9), g.O, g.C, back)
	x, y := tr.src.floats(), tr.dst.floats()
	if back {
		tr.run = func() {
			if blocked {
				purego.WinogradBackwardDataBlocked(g, b.block, x, u, y)
			} else {
				purego.WinogradBackwardData(g, x, u, y)
			}
		}
		return tr
	}
	var bias, add []float32
	if f.bias {
		bias = make([]float32, g.O)
	}
	if f.sum {
		tr.add = tempTensor(tr.dst.md)
		add = tr.add.floats()
	}
	tr.run = func() {
		if blocked {
			purego.WinogradForwardBlocked(g, b.block, x, u, bias, y)
		} else {
			purego.WinogradForward(g, x, u, bias, y)
		}
		if add != nil || f.relu {
			addReLU(y, add, f.relu)
		}
	}
	return tr
}

// free unmaps the trial's scratch tensors.
func (tr *goWinoTrial) free() {
	for _, t := range []*tensor{tr.src, tr.dst, tr.add} {
		if t != nil {
			freeTemp(t)
		}
	}
}

// noteGoWino records that the convolution of kind (CM_FWD_*, CM_BWD_DATA) ran on the provider,
// blocked or plain, for Impl and (as operation op of the profile) for ConvPaths.
func (b *Backend) noteGoWino(op string, kind int, xs, ws []int, p engine.ConvParams, blocked bool) {
	layout := "plain"
	if blocked {
		layout = fmt.Sprintf("blocked%d", b.block)
	}
	impl := "go_winograd:" + purego.Kernel() + " " + layout
	b.goWinoUsed[fmt.Sprintf("conv%d %v %v s%d p%d go-winograd", kind, xs, ws, p.Stride, p.Pad)] = impl
	b.paths[op+" "+convDetail(xs, ws, p)] = convPath{goWino: impl}
}

// blockedMD returns the descriptor of the 4-D shape in the backend's blocked activation layout
// (nChw16c or nChw8c, channels padded to a whole block), or nil where the provider has no
// blocked path (a CPU with neither AVX nor AVX-512, b.block 0).
func (b *Backend) blockedMD(shape []int) md {
	if len(shape) != 4 || (b.block != 8 && b.block != 16) {
		return nil
	}
	return b.tagMD(int(b.blockedTag()), shape...)
}

// floats returns t's whole storage as floats, the padding of a blocked layout included.
func (t *tensor) floats() []float32 {
	return unsafe.Slice((*float32)(t.buf.ptr), mdSize(t.md)/4)
}

// winoFilters returns w's filters transformed for the provider's forward (back false) or
// input-gradient convolution, cached beside w by the rule weights follows: kept once w has
// been used at the same version twice, made afresh per use while its version changes.
func (b *Backend) winoFilters(w *tensor, back bool) []float32 {
	key := fmt.Sprintf("go-winograd back=%v", back)
	sig := [5]uint64{w.version}
	mk := func() []float32 {
		b.relayout(w, b.plainMD(w.shape))
		return purego.WinogradFilters(w.data(), w.shape[0], w.shape[1], back)
	}
	for i := range w.derived {
		if d := &w.derived[i]; d.key == key {
			if d.sig == sig {
				if d.u == nil {
					d.u = mk()
				}
				return d.u
			}
			d.sig, d.u = sig, nil
			return mk()
		}
	}
	w.derived = append(w.derived, derived{key: key, sig: sig})
	return mk()
}

// forceGoWino computes the lazy convolution t with the provider: y = conv(x, w) + bias with a
// folded batch norm, then + addend, then ReLU, in x's blocked layout where x is blocked, else on
// plain storage.
func (b *Backend) forceGoWino(t *tensor, g purego.WinogradGeom) {
	l := t.lazy
	bm := b.blockedMD(l.x.shape)
	blocked := bm != nil && l.x.md == bm
	om := b.plainMD(t.shape)
	if blocked {
		om = b.blockedMD(t.shape)
	} else {
		b.relayout(l.x, b.plainMD(l.x.shape))
	}
	w, bias := l.w, l.bias
	if l.bn != nil {
		w, bias = b.folded(l.w, l.bias, l.bn, b.plainMD(l.w.shape))
	}
	var bd []float32
	if bias != nil {
		b.relayout(bias, b.plainMD(bias.shape))
		bd = bias.data()
	}
	u := b.winoFilters(w, false)
	var add []float32
	if a := l.addend; a != nil {
		b.forceIn(a)
		b.relayout(a, om)
		add = a.floats()
	}
	b.setStorage(t, om)
	y := t.floats()
	if blocked {
		purego.WinogradForwardBlocked(g, b.block, l.x.floats(), u, bd, y)
	} else {
		purego.WinogradForward(g, l.x.data(), u, bd, y)
	}
	if add != nil || l.relu {
		addReLU(y, add, l.relu) // padding channels stay zero: 0 + 0, max(0, 0)
	}
	b.noteGoWino(convFwdOp(l), C.CM_FWD_TRAIN, l.x.shape, l.w.shape, l.p, blocked)
	t.lazy = nil
	b.dropLazy(l)
}

// addReLU sets y to y + add (add nil: y) and then, with relu, to max(0, y), on GOMAXPROCS
// goroutines.
func addReLU(y, add []float32, relu bool) {
	n := runtime.GOMAXPROCS(0)
	chunk := (len(y) + n - 1) / n
	var wg sync.WaitGroup
	for lo := 0; lo < len(y); lo += chunk {
		hi := min(lo+chunk, len(y))
		wg.Add(1)
		go func() {
			defer wg.Done()
			ys := y[lo:hi]
			if add != nil {
				as := add[lo:hi]
				for i := range ys {
					ys[i] += as[i]
				}
			}
			if relu {
				for i, v := range ys {
					ys[i] = max(v, 0)
				}
			}
		}()
	}
	wg.Wait()
}

// goWinoBackwardData computes the input gradient of x's convolution by w from dy with the
// provider: in the blocked layout where dy or x is blocked, else as a plain tensor.
func (b *Backend) goWinoBackwardData(g purego.WinogradGeom, xt, wt, dyt *tensor, p engine.ConvParams) *tensor {
	bm := b.blockedMD(dyt.shape)
	blocked := bm != nil && (dyt.md == bm || xt.md == b.blockedMD(xt.shape))
	u := b.winoFilters(wt, true)
	var dx *tensor
	if blocked {
		b.relayout(dyt, bm)
		dx = b.alloc(xt.shape, b.blockedMD(xt.shape))
		purego.WinogradBackwardDataBlocked(g, b.block, dyt.floats(), u, dx.floats())
	} else {
		b.relayout(dyt, b.plainMD(dyt.shape))
		dx = b.alloc(xt.shape, b.plainMD(xt.shape))
		purego.WinogradBackwardData(g, dyt.data(), u, dx.data())
	}
	b.noteGoWino("conv_bwd_data", C.CM_BWD_DATA, xt.shape, wt.shape, p, blocked)
	return dx
}
