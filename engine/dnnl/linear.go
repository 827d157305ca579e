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

// ipPrim returns an inner-product primitive on plain layouts: x N×In, w Out×In, b Out, y N×Out.
func (b *Backend) ipPrim(kind int, n, in, out int, bias bool) *prim {
	key := fmt.Sprintf("ip%d %d×%d→%d bias=%v", kind, n, in, out, bias)
	var hint *prim
	if kind != C.CM_FWD_TRAIN {
		hint = b.ipPrim(C.CM_FWD_TRAIN, n, in, out, bias)
	}
	return b.primitive(key, func(pd *C.dnnl_primitive_desc_t) C.int {
		var h C.dnnl_primitive_desc_t
		if hint != nil {
			h = hint.pd
		}
		var bm md
		if bias {
			bm = b.plainMD([]int{out})
		}
		return C.cm_ip_pd(pd, C.int(kind), b.plainMD([]int{n, in}), b.plainMD([]int{out, in}), bm, b.plainMD([]int{n, out}), h)
	})
}

func linearShape(op string, xs, ws []int) {
	if len(xs) != 2 || len(ws) != 2 || xs[1] != ws[1] {
		panic(fmt.Sprintf("dnnl: %s: input %v and weights %v do not match", op, xs, ws))
	}
}

// Linear computes y = x·wᵀ + b (plain layouts).
func (b *Backend) Linear(x, w, bias engine.Tensor) engine.Tensor {
	b.mu.Lock()
	defer b.mu.Unlock()
	xt, wt := b.get("Linear", x), b.get("Linear", w)
	linearShape("Linear", xt.shape, wt.shape)
	var bt *tensor
	if bias != nil {
		bt = b.get("Linear", bias)
		engine.SameShape("Linear bias", bt.shape, wt.shape[:1])
		b.relayout(bt, b.plainMD(bt.shape))
	}
	defer b.timed("linear", func() string { return fmt.Sprint(xt.shape, wt.shape) })()
	n, in, out := xt.shape[0], xt.shape[1], wt.shape[0]
	b.relayout(xt, b.plainMD(xt.shape))
	b.relayout(wt, b.plainMD(wt.shape))
	p := b.ipPrim(C.CM_FWD_TRAIN, n, in, out, bt != nil)
	y := b.alloc([]int{n, out}, b.plainMD([]int{n, out}))
	b.exec(p, arg{C.DNNL_ARG_SRC, xt}, arg{C.DNNL_ARG_WEIGHTS, wt}, arg{C.DNNL_ARG_BIAS, bt}, arg{C.DNNL_ARG_DST, y})
	return y
}

// LinearBackward returns dx (if g.Input) and dw, db (if g.Params), all plain.
func (b *Backend) LinearBackward(x, w, dy engine.Tensor, g engine.Grads) (dx, dw, db engine.Tensor) {
	b.mu.Lock()
	defer b.mu.Unlock()
	xt, wt, dyt := b.get("LinearBackward", x), b.get("LinearBackward", w), b.get("LinearBackward", dy)
	linearShape("LinearBackward", xt.shape, wt.shape)
	n, in, out := xt.shape[0], xt.shape[1], wt.shape[0]
	engine.SameShape("LinearBackward dy", dyt.shape, []int{n, out})
	defer b.timed("linear_bwd", func() string { return fmt.Sprint(xt.shape, wt.shape) })()
	for _, t := range []*tensor{xt, wt, dyt} {
		b.relayout(t, b.plainMD(t.shape))
	}
	if g.Input {
		p := b.ipPrim(C.CM_BWD_DATA, n, in, out, true)
		d := b.alloc(xt.shape, b.plainMD(xt.shape))
		b.exec(p, arg{C.DNNL_ARG_DIFF_DST, dyt}, arg{C.DNNL_ARG_WEIGHTS, wt}, arg{C.DNNL_ARG_DIFF_SRC, d})
		dx = d
	}
	if g.Params {
		p := b.ipPrim(C.CM_BWD_WEIGHTS, n, in, out, true)
		dwt, dbt := b.alloc(wt.shape, b.plainMD(wt.shape)), b.alloc([]int{out}, b.plainMD([]int{out}))
		b.exec(p, arg{C.DNNL_ARG_SRC, xt}, arg{C.DNNL_ARG_DIFF_DST, dyt}, arg{C.DNNL_ARG_DIFF_WEIGHTS, dwt}, arg{C.DNNL_ARG_DIFF_BIAS, dbt})
		dw, db = dwt, dbt
	}
	return dx, dw, db
}
