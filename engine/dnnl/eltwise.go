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

func (b *Backend) eltwisePrim(kind int, alg C.int, data md, shape []int) *prim {
	key := fmt.Sprintf("eltwise%d alg%d %v %p", kind, alg, shape, data)
	var hint *prim
	if kind == C.CM_BWD_DATA {
		hint = b.eltwisePrim(C.CM_FWD_TRAIN, alg, data, shape)
	}
	return b.primitive(key, func(pd *C.dnnl_primitive_desc_t) C.int {
		var h C.dnnl_primitive_desc_t
		if hint != nil {
			h = hint.pd
		}
		return C.cm_eltwise_pd(pd, C.int(kind), alg, data, data, h)
	})
}

func (b *Backend) eltwise(op string, alg C.int, x engine.Tensor) engine.Tensor {
	xt := b.get(op, x)
	defer b.timed(op, func() string { return fmt.Sprint(xt.shape) })()
	pf := b.eltwisePrim(C.CM_FWD_TRAIN, alg, xt.md, xt.shape)
	y := b.alloc(xt.shape, xt.md)
	b.exec(pf, arg{C.DNNL_ARG_SRC, xt}, arg{C.DNNL_ARG_DST, y})
	return y
}

// eltwiseBackward returns the gradient of an eltwise op computed from its output y.
func (b *Backend) eltwiseBackward(op string, alg C.int, yt, dyt *tensor) *tensor {
	engine.SameShape(op, yt.shape, dyt.shape)
	defer b.timed(op, func() string { return fmt.Sprint(yt.shape) })()
	b.relayout(dyt, yt.md)
	pb := b.eltwisePrim(C.CM_BWD_DATA, alg, yt.md, yt.shape)
	dx := b.alloc(yt.shape, yt.md)
	b.exec(pb, arg{C.DNNL_ARG_DST, yt}, arg{C.DNNL_ARG_DIFF_DST, dyt}, arg{C.DNNL_ARG_DIFF_SRC, dx})
	return dx
}

func (b *Backend) reluBackward(yt, dyt *tensor) *tensor {
	return b.eltwiseBackward("relu_bwd", C.dnnl_eltwise_relu_use_dst_for_bwd, yt, dyt)
}

// ReLU returns max(x, 0); on a lazy convolution it fuses as a post-op.
func (b *Backend) ReLU(x engine.Tensor) engine.Tensor {
	b.mu.Lock()
	defer b.mu.Unlock()
	if xl := b.peek("ReLU", x); canFuseReLU(xl) {
		l := *xl.lazy
		l.relu = true
		return b.newLazy(l, xl.shape)
	}
	return b.eltwise("relu", C.dnnl_eltwise_relu_use_dst_for_bwd, x)
}

// ReLUBackward returns dy where y > 0, else 0.
func (b *Backend) ReLUBackward(y, dy engine.Tensor) engine.Tensor {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.reluBackward(b.get("ReLUBackward", y), b.get("ReLUBackward", dy))
}

// Sigmoid returns 1/(1+e^−x).
func (b *Backend) Sigmoid(x engine.Tensor) engine.Tensor {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.eltwise("sigmoid", C.dnnl_eltwise_logistic_use_dst_for_bwd, x)
}

// SigmoidBackward returns dy·y·(1−y).
func (b *Backend) SigmoidBackward(y, dy engine.Tensor) engine.Tensor {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.eltwiseBackward("sigmoid_bwd", C.dnnl_eltwise_logistic_use_dst_for_bwd, b.get("SigmoidBackward", y), b.get("SigmoidBackward", dy))
}

// Add returns a + b, with relu max(a+b, 0). When a (or b) is a lazy convolution the other operand
// is fused into it as a sum post-op.
func (b *Backend) Add(x, y engine.Tensor, relu bool) engine.Tensor {
	b.mu.Lock()
	defer b.mu.Unlock()
	xl, yl := b.peek("Add", x), b.peek("Add", y)
	engine.SameShape("Add", xl.shape, yl.shape)
	if xl != yl {
		for _, c := range [][2]*tensor{{xl, yl}, {yl, xl}} {
			if canFuseAdd(c[0]) {
				b.forceIn(c[1])
				l := *c[0].lazy
				l.addend, l.relu = c[1], relu
				return b.newLazy(l, xl.shape)
			}
		}
	}
	xt, yt := b.get("Add", x), b.get("Add", y)
	defer b.timed("add", func() string { return fmt.Sprintf("%v relu=%v", xt.shape, relu) })()
	b.relayout(yt, xt.md)
	p := b.binaryPrim(xt.md, xt.shape, relu)
	out := b.alloc(xt.shape, xt.md)
	b.exec(p, arg{C.DNNL_ARG_SRC_0, xt}, arg{C.DNNL_ARG_SRC_1, yt}, arg{C.DNNL_ARG_DST, out})
	return out
}

// AddInto accumulates src into dst in dst's layout: a binary add in place when the layouts
// agree, a reorder with a sum post-op otherwise.
func (b *Backend) AddInto(dst, src engine.Tensor) {
	b.mu.Lock()
	defer b.mu.Unlock()
	d, s := b.get("AddInto", dst), b.get("AddInto", src)
	engine.SameShape("AddInto", d.shape, s.shape)
	defer b.timed("add_into", func() string { return fmt.Sprint(d.shape) })()
	d.version = nextVersion()
	if d.md != s.md {
		b.reorder(s, d, true)
		return
	}
	if n := engine.Numel(d.shape); n <= smallAdd && d.md == b.plainMD(d.shape) {
		dd, sd := d.data(), s.data()
		for i := range dd {
			dd[i] += sd[i]
		}
		return
	}
	p := b.binaryPrim(d.md, d.shape, false)
	b.exec(p, arg{C.DNNL_ARG_SRC_0, d}, arg{C.DNNL_ARG_SRC_1, s}, arg{C.DNNL_ARG_DST, d})
}

// smallAdd is the size below which AddInto adds in Go: starting OpenMP threads costs more.
const smallAdd = 1 << 14

func (b *Backend) binaryPrim(m md, shape []int, relu bool) *prim {
	key := fmt.Sprintf("add %v %p relu=%v", shape, m, relu)
	return b.primitive(key, func(pd *C.dnnl_primitive_desc_t) C.int { return C.cm_binary_pd(pd, m, m, cbool(relu)) })
}
