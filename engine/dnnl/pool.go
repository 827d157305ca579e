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

// poolPrim returns a pooling primitive over src (forward) or diff_src (backward) layout in.
func (b *Backend) poolPrim(kind int, alg C.int, in md, xs, ys []int, k [2]int, stride, pad int) *prim {
	key := fmt.Sprintf("pool%d alg%d %v→%v %p k%v s%d p%d", kind, alg, xs, ys, in, k, stride, pad)
	var hint *prim
	if kind == C.CM_BWD_DATA {
		hint = b.poolPrim(C.CM_FWD_TRAIN, alg, in, xs, ys, k, stride, pad)
	}
	return b.primitive(key, func(pd *C.dnnl_primitive_desc_t) C.int {
		var dst md
		var h C.dnnl_primitive_desc_t
		if hint != nil {
			h = hint.pd
			dst = b.pmd(hint, C.dnnl_query_dst_md)
		} else {
			dst = b.tagMD(C.dnnl_format_tag_any, ys...)
		}
		prh := (ys[2]-1)*stride + k[0] - xs[2] - pad
		prw := (ys[3]-1)*stride + k[1] - xs[3] - pad
		return C.cm_pool_pd(pd, C.int(kind), alg, in, dst, C.int(k[0]), C.int(k[1]), C.int(stride), C.int(pad), C.int(prh), C.int(prw), h)
	})
}

func poolShape(op string, xs []int, p engine.PoolParams) []int {
	if len(xs) != 4 || p.Kernel < 1 || p.Stride < 1 || p.Pad < 0 || p.Pad >= p.Kernel {
		panic(fmt.Sprintf("dnnl: %s: input %v with %+v", op, xs, p))
	}
	oh, ow := engine.OutSize(xs[2], p.Kernel, p.Stride, p.Pad), engine.OutSize(xs[3], p.Kernel, p.Stride, p.Pad)
	if oh < 1 || ow < 1 {
		panic(fmt.Sprintf("dnnl: %s: input %v too small for %+v", op, xs, p))
	}
	return []int{xs[0], xs[1], oh, ow}
}

// MaxPool returns the window maxima and oneDNN's workspace of arg-max positions.
func (b *Backend) MaxPool(x engine.Tensor, p engine.PoolParams) (y, ws engine.Tensor) {
	b.mu.Lock()
	defer b.mu.Unlock()
	xt := b.get("MaxPool", x)
	ys := poolShape("MaxPool", xt.shape, p)
	defer b.timed("maxpool", func() string { return fmt.Sprintf("%v %+v", xt.shape, p) })()
	pf := b.poolPrim(C.CM_FWD_TRAIN, C.dnnl_pooling_max, xt.md, xt.shape, ys, [2]int{p.Kernel, p.Kernel}, p.Stride, p.Pad)
	yt := b.alloc(ys, b.pmd(pf, C.dnnl_query_dst_md))
	wst := b.alloc(ys, b.pmd(pf, C.dnnl_query_workspace_md))
	b.exec(pf, arg{C.DNNL_ARG_SRC, xt}, arg{C.DNNL_ARG_DST, yt}, arg{C.DNNL_ARG_WORKSPACE, wst})
	return yt, wst
}

// MaxPoolBackward routes dy to the positions MaxPool's workspace recorded.
func (b *Backend) MaxPoolBackward(x, dy, ws engine.Tensor, p engine.PoolParams) engine.Tensor {
	b.mu.Lock()
	defer b.mu.Unlock()
	xt, dyt, wst := b.get("MaxPoolBackward", x), b.get("MaxPoolBackward", dy), b.get("MaxPoolBackward", ws)
	ys := poolShape("MaxPoolBackward", xt.shape, p)
	engine.SameShape("MaxPoolBackward dy", dyt.shape, ys)
	defer b.timed("maxpool_bwd", func() string { return fmt.Sprintf("%v %+v", xt.shape, p) })()
	pb := b.poolPrim(C.CM_BWD_DATA, C.dnnl_pooling_max, xt.md, xt.shape, ys, [2]int{p.Kernel, p.Kernel}, p.Stride, p.Pad)
	if wm := b.pmd(pb, C.dnnl_query_workspace_md); wm != wst.md {
		panic("dnnl: MaxPoolBackward: workspace is not from a MaxPool over this input's layout")
	}
	b.relayout(dyt, b.pmd(pb, C.dnnl_query_diff_dst_md))
	dx := b.alloc(xt.shape, b.pmd(pb, C.dnnl_query_diff_src_md))
	b.exec(pb, arg{C.DNNL_ARG_DIFF_DST, dyt}, arg{C.DNNL_ARG_WORKSPACE, wst}, arg{C.DNNL_ARG_DIFF_SRC, dx})
	return dx
}

// GlobalAvgPool averages each channel: N×C×H×W → N×C (plain).
func (b *Backend) GlobalAvgPool(x engine.Tensor) engine.Tensor {
	b.mu.Lock()
	defer b.mu.Unlock()
	xt := b.get("GlobalAvgPool", x)
	if len(xt.shape) != 4 {
		panic(fmt.Sprintf("dnnl: GlobalAvgPool: input of shape %v, want N×C×H×W", xt.shape))
	}
	defer b.timed("gap", func() string { return fmt.Sprint(xt.shape) })()
	n, c, h, w := xt.shape[0], xt.shape[1], xt.shape[2], xt.shape[3]
	ys := []int{n, c, 1, 1}
	pf := b.poolPrim(C.CM_FWD_INFER, C.dnnl_pooling_avg_exclude_padding, xt.md, xt.shape, ys, [2]int{h, w}, 1, 0)
	y4 := b.alloc(ys, b.pmd(pf, C.dnnl_query_dst_md))
	b.exec(pf, arg{C.DNNL_ARG_SRC, xt}, arg{C.DNNL_ARG_DST, y4})
	b.relayout(y4, b.plainMD(ys))
	y4.shape, y4.md = []int{n, c}, b.plainMD([]int{n, c})
	return y4
}

// GlobalAvgPoolBackward spreads dy (N×C) evenly over an N×C×H×W input, in the blocked layout
// convolutions use when C is a multiple of 16.
func (b *Backend) GlobalAvgPoolBackward(dy engine.Tensor, inShape []int) engine.Tensor {
	b.mu.Lock()
	defer b.mu.Unlock()
	dyt := b.get("GlobalAvgPoolBackward", dy)
	if len(inShape) != 4 {
		panic(fmt.Sprintf("dnnl: GlobalAvgPoolBackward: input shape %v, want N×C×H×W", inShape))
	}
	n, c, h, w := inShape[0], inShape[1], inShape[2], inShape[3]
	engine.SameShape("GlobalAvgPoolBackward dy", dyt.shape, []int{n, c})
	defer b.timed("gap_bwd", func() string { return fmt.Sprint(inShape) })()
	tag := C.dnnl_abcd
	if b.block != 0 && c%b.block == 0 {
		tag = int(b.blockedTag())
	}
	in := b.tagMD(tag, inShape...)
	ys := []int{n, c, 1, 1}
	pb := b.poolPrim(C.CM_BWD_DATA, C.dnnl_pooling_avg_exclude_padding, in, inShape, ys, [2]int{h, w}, 1, 0)
	b.relayout(dyt, b.plainMD(dyt.shape))
	dy4 := &tensor{shape: ys, md: b.plainMD(ys), buf: dyt.buf}
	if dm := b.pmd(pb, C.dnnl_query_diff_dst_md); dm != dy4.md {
		tmp := b.alloc(ys, dm)
		b.reorder(dy4, tmp, false)
		dy4 = tmp
		defer b.free(tmp)
	}
	dx := b.alloc(inShape, in)
	b.exec(pb, arg{C.DNNL_ARG_DIFF_DST, dy4}, arg{C.DNNL_ARG_DIFF_SRC, dx})
	return dx
}
