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

// convShape checks a convolution's shapes and returns the output shape.
func convShape(op string, xs, ws []int, bias *tensor, p engine.ConvParams) []int {
	if len(xs) != 4 || len(ws) != 4 || xs[1] != ws[1] || ws[2] != ws[3] {
		panic(fmt.Sprintf("dnnl: %s: input %v and weights %v do not match", op, xs, ws))
	}
	if bias != nil && (len(bias.shape) != 1 || bias.shape[0] != ws[0]) {
		panic(fmt.Sprintf("dnnl: %s: bias %v for weights %v", op, bias.shape, ws))
	}
	if p.Stride < 1 || p.Pad < 0 {
		panic(fmt.Sprintf("dnnl: %s: bad parameters %+v", op, p))
	}
	oh, ow := engine.OutSize(xs[2], ws[2], p.Stride, p.Pad), engine.OutSize(xs[3], ws[3], p.Stride, p.Pad)
	if oh < 1 || ow < 1 {
		panic(fmt.Sprintf("dnnl: %s: input %v too small for weights %v with %+v", op, xs, ws, p))
	}
	return []int{xs[0], ws[0], oh, ow}
}

func dims(s []int) [4]C.int64_t {
	var d [4]C.int64_t
	for i, v := range s {
		d[i] = C.int64_t(v)
	}
	return d
}

// convFused describes the post-ops of a forward convolution.
type convFused struct {
	infer  bool // prop forward_inference (a folded batch norm)
	bias   bool
	relu   bool
	addend md // binary-add post-op operand layout, or nil
}

// convPrim returns the convolution primitive of kind (CM_FWD_*, CM_BWD_*) for the shapes.
func (b *Backend) convPrim(kind int, xs, ws, ys []int, p engine.ConvParams, f convFused) *prim {
	key := fmt.Sprintf("conv%d %v %v s%d p%d bias=%v infer=%v relu=%v add=%p auto=%v", kind, xs, ws, p.Stride, p.Pad, f.bias, f.infer, f.relu, f.addend, b.auto)
	var hint *prim
	if kind == C.CM_BWD_DATA || kind == C.CM_BWD_WEIGHTS {
		hint = b.convPrim(C.CM_FWD_TRAIN, xs, ws, ys, p, convFused{bias: f.bias})
	}
	return b.primitive(key, func(pd *C.dnnl_primitive_desc_t) C.int {
		x, w, y := dims(xs), dims(ws), dims(ys)
		var h C.dnnl_primitive_desc_t
		if hint != nil {
			h = hint.pd
		}
		algo, bias, relu := 0, 0, 0
		if b.auto {
			algo = 1
		}
		if f.bias {
			bias = 1
		}
		if f.relu {
			relu = 1
		}
		k := kind
		if f.infer {
			k = C.CM_FWD_INFER
		}
		return C.cm_conv_pd(pd, C.int(k), C.int(algo), &x[0], &w[0], &y[0], C.int(bias), C.int(p.Stride), C.int(p.Pad),
			nil, 0, C.int(relu), f.addend, h)
	})
}

// Conv2D computes y = conv(x, w) + b. The result is lazy: it is computed when first needed, so
// that a following inference batch norm, ReLU and residual Add can fuse into it.
func (b *Backend) Conv2D(x, w, bias engine.Tensor, p engine.ConvParams) engine.Tensor {
	b.mu.Lock()
	defer b.mu.Unlock()
	xt, wt := b.get("Conv2D", x), b.get("Conv2D", w)
	var bt *tensor
	if bias != nil {
		bt = b.get("Conv2D", bias)
	}
	ys := convShape("Conv2D", xt.shape, wt.shape, bt, p)
	return b.newLazy(lazyConv{x: xt, w: wt, bias: bt, p: p}, ys)
}

// Conv2DBackward returns dx, dw and db as asked; dw and db are plain.
func (b *Backend) Conv2DBackward(x, w, dy engine.Tensor, p engine.ConvParams, hasBias bool, g engine.Grads) (dx, dw, db engine.Tensor) {
	b.mu.Lock()
	defer b.mu.Unlock()
	xt, wt, dyt := b.get("Conv2DBackward", x), b.get("Conv2DBackward", w), b.get("Conv2DBackward", dy)
	ys := convShape("Conv2DBackward", xt.shape, wt.shape, nil, p)
	engine.SameShape("Conv2DBackward dy", dyt.shape, ys)
	if g.Input {
		done := b.timed("conv_bwd_data", func() string { return convDetail(xt.shape, wt.shape, p) })
		pb := b.convPrim(C.CM_BWD_DATA, xt.shape, wt.shape, ys, p, convFused{bias: hasBias})
		b.relayout(dyt, b.pmd(pb, C.dnnl_query_diff_dst_md))
		wr := b.weights(wt, b.pmd(pb, C.dnnl_query_weights_md))
		dxt := b.alloc(xt.shape, b.pmd(pb, C.dnnl_query_diff_src_md))
		b.exec(pb, arg{C.DNNL_ARG_DIFF_DST, dyt}, arg{C.DNNL_ARG_WEIGHTS, wr}, arg{C.DNNL_ARG_DIFF_SRC, dxt})
		dx = dxt
		done()
	}
	if g.Params {
		done := b.timed("conv_bwd_weights", func() string { return convDetail(xt.shape, wt.shape, p) })
		pw := b.convPrim(C.CM_BWD_WEIGHTS, xt.shape, wt.shape, ys, p, convFused{bias: hasBias})
		b.relayout(xt, b.pmd(pw, C.dnnl_query_src_md))
		b.relayout(dyt, b.pmd(pw, C.dnnl_query_diff_dst_md))
		dwt := b.alloc(wt.shape, b.pmd(pw, C.dnnl_query_diff_weights_md))
		var dbt *tensor
		if hasBias {
			dbt = b.alloc(ys[1:2], b.plainMD(ys[1:2]))
			db = dbt
		}
		b.exec(pw, arg{C.DNNL_ARG_SRC, xt}, arg{C.DNNL_ARG_DIFF_DST, dyt}, arg{C.DNNL_ARG_DIFF_WEIGHTS, dwt}, arg{C.DNNL_ARG_DIFF_BIAS, dbt})
		if pm := b.plainMD(wt.shape); dwt.md != pm {
			plain := b.alloc(wt.shape, pm)
			b.reorder(dwt, plain, false)
			b.free(dwt)
			dwt = plain
		}
		dw = dwt
		done()
	}
	return dx, dw, db
}

func convDetail(xs, ws []int, p engine.ConvParams) string {
	return fmt.Sprintf("x%v w%v s%d p%d", xs, ws, p.Stride, p.Pad)
}
