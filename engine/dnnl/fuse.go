//go:build cgo && !nodnnl

package dnnl

/*
#include "cm.h"
*/
import "C"

import (
	"fmt"

	"github.com/catmark/catmark/engine"
)

// lazyConv is a convolution not yet computed, with the operations fused into it so far: an
// inference batch norm folded into its weights and bias, a residual addend (a sum or binary-add
// post-op) and a ReLU (an eltwise post-op), applied in that order.
type lazyConv struct {
	x, w, bias *tensor
	p          engine.ConvParams
	bn         *bnFold
	addend     *tensor
	relu       bool
}

// bnFold is a batch norm with fixed statistics to fold into a convolution.
type bnFold struct {
	gamma, beta, mean, vari *tensor
	eps                     float32
}

func (l *lazyConv) tensors() []*tensor {
	ts := []*tensor{l.x, l.w, l.bias, l.addend}
	if l.bn != nil {
		ts = append(ts, l.bn.gamma, l.bn.beta, l.bn.mean, l.bn.vari)
	}
	return ts
}

// newLazy returns a lazy tensor of shape that will compute l.
func (b *Backend) newLazy(l lazyConv, shape []int) *tensor {
	for _, t := range l.tensors() {
		retain(t)
	}
	return b.newTensor(shape, nil, &l)
}

func (b *Backend) dropLazy(l *lazyConv) {
	for _, t := range l.tensors() {
		b.drop(t)
	}
}

// canFuse reports whether more can be fused into the lazy tensor t with fixed statistics.
func canFuseBN(t *tensor) bool {
	return t.lazy != nil && t.lazy.bn == nil && t.lazy.addend == nil && !t.lazy.relu
}

func canFuseAdd(t *tensor) bool { return t.lazy != nil && t.lazy.addend == nil && !t.lazy.relu }

func canFuseReLU(t *tensor) bool { return t.lazy != nil && !t.lazy.relu }

// force computes the lazy tensor t.
func (b *Backend) force(t *tensor) {
	l := t.lazy
	xs, ws := l.x.shape, l.w.shape
	f := convFused{infer: l.bn != nil, bias: l.bias != nil || l.bn != nil, relu: l.relu}
	op := convFwdOp(l)
	defer b.timed(op, func() string { return convDetail(xs, ws, l.p) })()
	fc := f
	fc.sum = l.addend != nil // the class the choice between oneDNN and the provider is made for
	if g, ok := b.goWinoPick(C.CM_FWD_TRAIN, xs, ws, t.shape, l.p, fc); ok {
		b.forceGoWino(t, g)
		return
	}
	// A residual addend is added by a post-op: moved into dst and summed there when nothing
	// else will read it (it was released and only this convolution holds it), read as the
	// second input of a binary add otherwise (no copy).
	a := l.addend
	steal := false
	if a != nil {
		b.forceIn(a)
		steal = a.released && a.refs == 1
		f.sum = true
	}
	pf := b.convPrim(C.CM_FWD_TRAIN, xs, ws, t.shape, l.p, f)
	dm := b.pmd(pf, C.dnnl_query_dst_md)
	copyAddend := false
	if a != nil && !steal {
		b.relayout(a, dm)
		fb := f
		fb.sum, fb.binary = false, dm
		if pb := b.convPrim(C.CM_FWD_TRAIN, xs, ws, t.shape, l.p, fb); b.pmd(pb, C.dnnl_query_dst_md) == dm {
			pf = pb
		} else {
			copyAddend = true // the binary-add variant wants another layout: copy and sum
		}
	}
	b.relayout(l.x, b.pmd(pf, C.dnnl_query_src_md))
	wm := b.pmd(pf, C.dnnl_query_weights_md)
	w, bias, temp := l.w, l.bias, false
	if l.bn != nil {
		w, bias = b.folded(l.w, l.bias, l.bn, wm)
	} else {
		w, temp = b.weights(w, wm)
	}
	var src1 *tensor
	switch {
	case steal:
		b.relayout(a, dm)
		t.md = dm
		t.buf.ptr, t.buf.size = a.buf.ptr, a.buf.size
		a.buf.ptr = nil
	case copyAddend:
		b.setStorage(t, dm)
		b.reorder(a, t, false)
	case a != nil:
		b.setStorage(t, dm)
		src1 = a
	default:
		b.setStorage(t, dm)
	}
	b.exec(pf, arg{C.DNNL_ARG_SRC, l.x}, arg{C.DNNL_ARG_WEIGHTS, w}, arg{C.DNNL_ARG_BIAS, bias}, arg{C.DNNL_ARG_DST, t},
		arg{argBinary, src1})
	if temp {
		b.free(w)
	}
	b.notePath(op, xs, ws, l.p, pf)
	t.lazy = nil
	b.dropLazy(l)
}

// convFwdOp is the profile's name of the lazy convolution l's forward pass: conv_fwd, or
// conv_fwd_fused with a folded batch norm, residual Add or ReLU.
func convFwdOp(l *lazyConv) string {
	if l.bn != nil || l.addend != nil || l.relu {
		return "conv_fwd_fused"
	}
	return "conv_fwd"
}

// forceIn computes t if it is lazy.
func (b *Backend) forceIn(t *tensor) {
	if t.lazy != nil {
		b.force(t)
	}
}

// folded returns w scaled by γ/√(var+ε) per output channel, in layout m, and the bias
// β − mean·γ/√(var+ε) (+ bias·γ/√(var+ε)), cached until any of them changes.
func (b *Backend) folded(w, bias *tensor, bn *bnFold, m md) (*tensor, *tensor) {
	key := fmt.Sprintf("fold %p %p %p %p %p %p %g", m, bias, bn.gamma, bn.beta, bn.mean, bn.vari, bn.eps)
	sig := [5]uint64{w.version, bn.gamma.version, bn.beta.version, bn.mean.version, bn.vari.version}
	if bias != nil {
		sig[0] ^= bias.version << 32
	}
	var d *derived
	for i := range w.derived {
		if w.derived[i].key == key {
			d = &w.derived[i]
			if d.sig == sig && d.w != nil {
				return d.w, d.b
			}
		}
	}
	o := w.shape[0]
	for _, t := range []*tensor{bn.gamma, bn.beta, bn.mean, bn.vari} {
		if len(t.shape) != 1 || t.shape[0] != o {
			panic(fmt.Sprintf("dnnl: BatchNorm: parameter of shape %v for %d channels", t.shape, o))
		}
		b.relayout(t, b.plainMD(t.shape))
	}
	b.relayout(w, b.plainMD(w.shape))
	plain := b.alloc(w.shape, b.plainMD(w.shape))
	if d == nil {
		w.derived = append(w.derived, derived{key: key})
		d = &w.derived[len(w.derived)-1]
	}
	if d.w == nil {
		d.w, d.b = b.alloc(w.shape, m), b.alloc([]int{o}, b.plainMD([]int{o}))
	}
	var bp *C.float
	if bias != nil {
		bp = (*C.float)(bias.buf.ptr)
	}
	C.cm_fold_bn((*C.float)(plain.buf.ptr), (*C.float)(d.b.buf.ptr), (*C.float)(w.buf.ptr), bp,
		(*C.float)(bn.gamma.buf.ptr), (*C.float)(bn.beta.buf.ptr), (*C.float)(bn.mean.buf.ptr), (*C.float)(bn.vari.buf.ptr),
		C.float(bn.eps), C.int64_t(o), C.int64_t(engine.Numel(w.shape)/o))
	b.reorder(plain, d.w, false)
	b.free(plain)
	d.w.version = nextVersion() // its own derived forms (gowino.go's filters) are stale
	d.sig = sig
	return d.w, d.b
}
