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

// bnPrim returns the batch-norm primitive of kind over layout data.
func (b *Backend) bnPrim(kind int, data md, shape []int, eps float32, flags C.uint) *prim {
	key := fmt.Sprintf("bn%d %v %p eps=%g flags=%d", kind, shape, data, eps, flags)
	var hint *prim
	if kind == C.CM_BWD_DATA || kind == C.CM_BWD_WEIGHTS {
		hint = b.bnPrim(C.CM_FWD_TRAIN, data, shape, eps, flags)
	}
	return b.primitive(key, func(pd *C.dnnl_primitive_desc_t) C.int {
		var h C.dnnl_primitive_desc_t
		if hint != nil {
			h = hint.pd
		}
		return C.cm_bn_pd(pd, C.int(kind), data, C.float(eps), flags, h)
	})
}

// bnParams returns the batch norm's four tensors, plain, after checking their length is c.
func (b *Backend) bnParams(op string, bn engine.BN, c int) (g, be, m, v *tensor) {
	ts := [4]*tensor{}
	for i, x := range []engine.Tensor{bn.Gamma, bn.Beta, bn.RunMean, bn.RunVar} {
		t := b.get(op, x)
		if len(t.shape) != 1 || t.shape[0] != c {
			panic(fmt.Sprintf("dnnl: %s: parameter of shape %v for %d channels", op, t.shape, c))
		}
		b.relayout(t, b.plainMD(t.shape))
		ts[i] = t
	}
	return ts[0], ts[1], ts[2], ts[3]
}

func bnFlags(p engine.BNParams, withReLU bool) C.uint {
	f := C.uint(C.dnnl_use_scale | C.dnnl_use_shift)
	if p.Mode == engine.BNInfer {
		f |= C.dnnl_use_global_stats
	}
	if p.ReLU && withReLU {
		f |= C.dnnl_fuse_norm_relu
	}
	return f
}

// BatchNorm normalises x per channel. In training mode it uses oneDNN's fused batch norm + ReLU
// (with a bit-mask workspace kept in BNSaved.Internal) and updates the running statistics with
// the unbiased batch variance. In inference mode on a convolution's (lazy) output it folds into
// the convolution.
func (b *Backend) BatchNorm(x engine.Tensor, bn engine.BN, p engine.BNParams) (engine.Tensor, engine.BNSaved) {
	b.mu.Lock()
	defer b.mu.Unlock()
	xl := b.peek("BatchNorm", x)
	if len(xl.shape) != 4 {
		panic(fmt.Sprintf("dnnl: BatchNorm: input of shape %v, want N×C×H×W", xl.shape))
	}
	c := xl.shape[1]
	g, be, rm, rv := b.bnParams("BatchNorm", bn, c)
	if p.Mode == engine.BNInfer && canFuseBN(xl) {
		l := *xl.lazy
		l.bn = &bnFold{gamma: g, beta: be, mean: rm, vari: rv, eps: p.Eps}
		l.relu = p.ReLU
		y := b.newLazy(l, xl.shape)
		return y, engine.BNSaved{Y: y}
	}
	xt := b.get("BatchNorm", x)
	defer b.timed("bn_fwd", func() string { return fmt.Sprintf("%v mode=%d relu=%v", xt.shape, p.Mode, p.ReLU) })()
	if p.Mode == engine.BNInfer {
		pf := b.bnPrim(C.CM_FWD_INFER, xt.md, xt.shape, p.Eps, bnFlags(p, true))
		y := b.alloc(xt.shape, b.pmd(pf, C.dnnl_query_dst_md))
		b.exec(pf, arg{C.DNNL_ARG_SRC, xt}, arg{C.DNNL_ARG_DST, y}, arg{C.DNNL_ARG_SCALE, g}, arg{C.DNNL_ARG_SHIFT, be},
			arg{C.DNNL_ARG_MEAN, rm}, arg{C.DNNL_ARG_VARIANCE, rv})
		return y, engine.BNSaved{Y: y}
	}
	pf := b.bnPrim(C.CM_FWD_TRAIN, xt.md, xt.shape, p.Eps, bnFlags(p, true))
	y := b.alloc(xt.shape, b.pmd(pf, C.dnnl_query_dst_md))
	mean, vari := b.alloc([]int{c}, b.plainMD([]int{c})), b.alloc([]int{c}, b.plainMD([]int{c}))
	var ws *tensor
	if p.ReLU {
		ws = b.alloc(xt.shape, b.pmd(pf, C.dnnl_query_workspace_md))
	}
	b.exec(pf, arg{C.DNNL_ARG_SRC, xt}, arg{C.DNNL_ARG_DST, y}, arg{C.DNNL_ARG_SCALE, g}, arg{C.DNNL_ARG_SHIFT, be},
		arg{C.DNNL_ARG_MEAN, mean}, arg{C.DNNL_ARG_VARIANCE, vari}, arg{C.DNNL_ARG_WORKSPACE, ws})
	n := engine.Numel(xt.shape) / c
	unbias := float32(1)
	if n > 1 {
		unbias = float32(n) / float32(n-1)
	}
	C.cm_running_update((*C.float)(rm.buf.ptr), (*C.float)(rv.buf.ptr), (*C.float)(mean.buf.ptr), (*C.float)(vari.buf.ptr),
		C.int64_t(c), C.float(p.Momentum), C.float(unbias))
	rm.version, rv.version = nextVersion(), nextVersion()
	saved := engine.BNSaved{Y: y, Mean: mean, Var: vari}
	if ws != nil {
		saved.Internal = ws
	}
	return y, saved
}

// BatchNormBackward returns dx, dγ and dβ as asked. In inference mode the statistics are
// constants.
func (b *Backend) BatchNormBackward(x, dy engine.Tensor, bn engine.BN, saved engine.BNSaved, p engine.BNParams, g engine.Grads) (dx, dgamma, dbeta engine.Tensor) {
	b.mu.Lock()
	defer b.mu.Unlock()
	xt, dyt := b.get("BatchNormBackward", x), b.get("BatchNormBackward", dy)
	engine.SameShape("BatchNormBackward", xt.shape, dyt.shape)
	defer b.timed("bn_bwd", func() string { return fmt.Sprintf("%v mode=%d relu=%v", xt.shape, p.Mode, p.ReLU) })()
	c := xt.shape[1]
	gt, be, rm, rv := b.bnParams("BatchNormBackward", bn, c)
	// Always prop_kind backward: oneDNN 2.6 has no backward_data implementation with separate
	// scale and shift, and the γ, β gradients cost nothing beyond what dx needs.
	kind := C.CM_BWD_WEIGHTS
	var mean, vari, ws *tensor
	var tmp *tensor
	if p.Mode == engine.BNInfer {
		mean, vari = rm, rv
		if p.ReLU {
			if saved.Y == nil {
				panic("dnnl: BatchNormBackward: inference mode with ReLU needs saved.Y")
			}
			yt := b.get("BatchNormBackward", saved.Y)
			tmp = b.reluBackward(yt, dyt)
			dyt = tmp
		}
	} else {
		mean, vari = b.get("BatchNormBackward", saved.Mean), b.get("BatchNormBackward", saved.Var)
		if p.ReLU {
			w, ok := saved.Internal.(*tensor)
			if !ok {
				panic("dnnl: BatchNormBackward: saved state is not from the dnnl backend's BatchNorm")
			}
			ws = w
		}
	}
	flags := bnFlags(p, p.Mode == engine.BNTrain)
	pb := b.bnPrim(kind, xt.md, xt.shape, p.Eps, flags)
	b.relayout(dyt, b.pmd(pb, C.dnnl_query_diff_dst_md))
	dxt := b.alloc(xt.shape, b.pmd(pb, C.dnnl_query_diff_src_md))
	dg, db := b.alloc([]int{c}, b.plainMD([]int{c})), b.alloc([]int{c}, b.plainMD([]int{c}))
	b.exec(pb, arg{C.DNNL_ARG_SRC, xt}, arg{C.DNNL_ARG_MEAN, mean}, arg{C.DNNL_ARG_VARIANCE, vari},
		arg{C.DNNL_ARG_DIFF_DST, dyt}, arg{C.DNNL_ARG_SCALE, gt}, arg{C.DNNL_ARG_SHIFT, be}, arg{C.DNNL_ARG_WORKSPACE, ws},
		arg{C.DNNL_ARG_DIFF_SRC, dxt}, arg{C.DNNL_ARG_DIFF_SCALE, dg}, arg{C.DNNL_ARG_DIFF_SHIFT, db})
	if tmp != nil {
		b.free(tmp)
	}
	if g.Input {
		dx = dxt
	} else {
		b.free(dxt)
	}
	if g.Params {
		dgamma, dbeta = dg, db
	} else {
		b.free(dg)
		b.free(db)
	}
	return dx, dgamma, dbeta
}

// ReleaseBN frees the batch statistics and workspace a BatchNorm saved; the saved Y is the
// forward output, owned by the caller, and is not released.
func (b *Backend) ReleaseBN(saved engine.BNSaved) {
	b.Release(saved.Mean)
	b.Release(saved.Var)
	if t, ok := saved.Internal.(*tensor); ok {
		b.Release(t)
	}
}
