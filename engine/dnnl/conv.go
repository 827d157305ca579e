//go:build cgo && !nodnnl

package dnnl

/*
#include <stdlib.h>
#include <string.h>
#include "cm.h"
*/
import "C"

import (
	"fmt"
	"math/bits"
	"slices"
	"strings"
	"time"
	"unsafe"

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
	sum    bool // sum post-op: dst = conv + dst (a residual addend moved into dst)
	binary md   // binary-add post-op: dst = conv + src1, src1 (the addend) in this layout
}

// Activation layouts a convolution may be asked for (CATMARK_DNNL_LAYOUT).
const (
	layoutAny     = iota // let oneDNN choose (format_tag_any)
	layoutBlocked        // nChw16c where channels are a multiple of 16
	layoutNHWC           // nhwc
	layoutPlain          // nchw
)

// layoutTag returns the format tag for a convolution's activation with c channels in layout.
func (b *Backend) layoutTag(layout, c int) C.int {
	switch {
	case layout == layoutBlocked && b.block != 0 && c%b.block == 0:
		return b.blockedTag()
	case layout == layoutNHWC:
		return C.dnnl_acdb
	case layout == layoutPlain:
		return C.dnnl_abcd
	}
	return C.dnnl_format_tag_any
}

// blockedTag is the format tag of the CPU's native blocked layout (b.block channels a block).
func (b *Backend) blockedTag() C.int {
	if b.block == 16 {
		return C.dnnl_aBcd16b
	}
	return C.dnnl_aBcd8b
}

// argBinary is the execution argument of the first post-op's second input (the residual addend
// of a binary-add post-op).
const argBinary = C.DNNL_ARG_ATTR_MULTIPLE_POST_OP_BASE | C.DNNL_ARG_SRC_1

// Convolution algorithm choices (CATMARK_DNNL_CONV).
const (
	convTune     = iota // time direct and Winograd where both apply, keep the faster (default)
	convDirect          // direct only (what PyTorch uses)
	convWinograd        // Winograd F(4×4, 3×3) wherever oneDNN has it (3×3, stride 1)
	// convGoWinograd: engine/purego's Winograd F(4×4, 3×3) for the forward and input-gradient
	// 3×3 stride-1 convolutions its rule picks (gowino.go), direct otherwise.
	convGoWinograd
	// convTuneGo: convTune with engine/purego's Winograd among the candidates of the forward and
	// input-gradient 3×3 stride-1 convolutions its rule picks (gowino.go's goWinoPick).
	convTuneGo
)

// The passes of a convolution as convPrim's kind and Backend.judge's take them (cm.h's CM_*).
const (
	passForward     = int(C.CM_FWD_TRAIN)
	passBackData    = int(C.CM_BWD_DATA)
	passBackWeights = int(C.CM_BWD_WEIGHTS)
)

// tunes reports whether convolutions choose their kernels by timing (convTune, convTuneGo).
func (b *Backend) tunes() bool { return b.convAlgo == convTune || b.convAlgo == convTuneGo }

// convClass returns the key under which convPrim keeps the timed choice of a convolution of kind
// (CM_FWD_*, CM_BWD_*) over input shape xs, and whether the class is capped (an inference
// convolution over tuneBatch inputs or more, timed on tuneBatch). A batch size takes the choice
// of its power-of-two bucket; a capped one the choice timed on tuneBatch.
func convClass(kind int, xs, ws []int, p engine.ConvParams, f convFused) (class string, capped bool) {
	n := bucket(xs[0])
	capped = f.infer && f.binary == nil && xs[0] >= tuneBatch
	if capped {
		n = tuneBatch
	}
	return fmt.Sprintf("conv%d n%d %v %v s%d p%d %+v", kind, n, xs[1:], ws, p.Stride, p.Pad, f), capped
}

// convPrim returns the convolution primitive of kind (CM_FWD_*, CM_BWD_*) for the shapes. With
// Backend.convAlgo convTune it chooses among candidate implementations by timing them on first
// use: for 3×3 stride-1 convolutions oneDNN's direct and Winograd algorithms; for fused inference
// convolutions also other activation layouts (nhwc, and nchw for 1×1), charged with the reorders
// from and to the blocked layout, which pays at batch 1 where activations are small. With
// convTuneGo engine/purego's Winograd is timed beside them where goWinoCandidate says so, and
// the choice records whether it was faster than oneDNN's fastest (convChoice.GoWino); convPrim
// still returns oneDNN's fastest, which goWinoPick's callers run where the provider lost.
func (b *Backend) convPrim(kind int, xs, ws, ys []int, p engine.ConvParams, f convFused) *prim {
	key := fmt.Sprintf("conv%d %v %v s%d p%d %+v", kind, xs, ws, p.Stride, p.Pad, f)
	if pr, ok := b.prims[key]; ok {
		return pr
	}
	// A batch size in the same power-of-two bucket as one already timed takes its choice; an
	// inference convolution over tuneBatch inputs or more takes the choice timed on tuneBatch.
	class, capped := convClass(kind, xs, ws, p, f)
	var hint *prim
	if kind == C.CM_BWD_DATA || kind == C.CM_BWD_WEIGHTS {
		hint = b.convPrim(C.CM_FWD_TRAIN, xs, ws, ys, p, convFused{bias: f.bias})
	}
	mk := func(algo, nth, layout int) func(pd *C.dnnl_primitive_desc_t) C.int {
		return func(pd *C.dnnl_primitive_desc_t) C.int {
			x, w, y := dims(xs), dims(ws), dims(ys)
			var h C.dnnl_primitive_desc_t
			if hint != nil {
				h = hint.pd
			}
			k := kind
			if f.infer {
				k = C.CM_FWD_INFER
			}
			return C.cm_conv_pd(pd, C.int(k), C.int(algo), C.int(nth), &x[0], &w[0], &y[0], cbool(f.bias), C.int(p.Stride), C.int(p.Pad),
				b.layoutTag(layout, xs[1]), b.layoutTag(layout, ys[1]), cbool(f.sum), f.binary, cbool(f.relu), h)
		}
	}
	direct := 0
	if b.auto {
		direct = 1
	}
	if _, ok := b.choice(class); !ok && capped && xs[0] > tuneBatch && b.tunes() {
		b.convPrim(kind, withBatch(xs, tuneBatch), ws, withBatch(ys, tuneBatch), p, f) // times the class
	}
	if c, ok := b.choice(class); ok && b.tunes() {
		pr := b.remake(key, c, direct, mk)
		if pr == nil {
			// The kernel chosen has no implementation for these shapes: oneDNN's first choice.
			pr = b.primitive(key+" direct", mk(direct, 0, b.layout))
		}
		b.prims[key] = pr
		return pr
	}
	base := b.primitive(key+" direct", mk(direct, 0, b.layout))
	cands := []*prim{base}
	made := []convChoice{{Algo: direct, Layout: b.layout}} // how each candidate was made
	if b.tunes() {
		// oneDNN's further AVX-512 implementations in the same layout (for 1×1 convolutions the
		// general direct kernel besides the 1×1 one). On an AVX2 CPU timing its alternatives cost
		// more than they saved (predict on 60 photos: 10.4 s with them, 7.4 s without).
		seen := map[string]bool{C.GoString(C.cm_impl(base.pd)): true}
		for nth := 1; nth < maxImpls; nth++ {
			var pd C.dnnl_primitive_desc_t
			if mk(direct, nth, b.layout)(&pd) != 0 {
				break
			}
			impl := C.GoString(C.cm_impl(pd))
			C.dnnl_primitive_desc_destroy(pd)
			if seen[impl] || !strings.Contains(impl, "avx512") {
				continue
			}
			seen[impl] = true
			if c, err := b.tryPrimitive(key+directSuffix(nth), mk(direct, nth, b.layout)); err == nil {
				cands, made = append(cands, c), append(made, convChoice{Algo: direct, Nth: nth, Layout: b.layout})
			}
		}
	}
	if (b.tunes() || b.convAlgo == convWinograd) && ws[2] == 3 && ws[3] == 3 && p.Stride == 1 {
		if wino, err := b.tryPrimitive(key+" winograd", mk(2, 0, b.layout)); err == nil && (wino.scratch == nil || mdSize(wino.scratch) <= b.winoMax) {
			cands, made = append(cands, wino), append(made, convChoice{Algo: 2, Layout: b.layout})
		}
	}
	if last := cands[len(cands)-1]; b.convAlgo == convWinograd && strings.HasSuffix(last.name, " winograd") {
		b.prims[key] = last
		return last
	}
	if b.tunes() && f.infer && f.binary == nil && b.layout == layoutBlocked {
		others := []struct {
			name   string
			layout int
		}{{"nhwc", layoutNHWC}}
		if ws[2] == 1 && ws[3] == 1 {
			others = append(others, struct {
				name   string
				layout int
			}{"nchw", layoutPlain})
		}
		for _, o := range others {
			if c, err := b.tryPrimitive(key+" direct "+o.name, mk(direct, 0, o.layout)); err == nil {
				cands, made = append(cands, c), append(made, convChoice{Algo: direct, Layout: o.layout})
			}
		}
	}
	// engine/purego's Winograd, run on scratch tensors in the layout it would run in.
	var gw *goWinoTrial
	if g, ok := b.goWinoCandidate(kind, xs, ws, p, f); ok {
		gw = b.newGoWinoTrial(kind, g, f)
		defer gw.free()
	}
	chosen := base
	if (len(cands) > 1 || gw != nil) && b.tunes() {
		var run func()
		if gw != nil {
			run = gw.run
		}
		times := b.timeConv(kind, f.binary, run, cands...)
		b.tuned++
		b.tunedInputs += timeRuns * len(times) * xs[0]
		// Layouts other than the base's cost a reorder of the input and of the output.
		var srcQ, dstQ C.dnnl_query_t = C.dnnl_query_src_md, C.dnnl_query_dst_md
		switch kind {
		case C.CM_BWD_DATA:
			srcQ, dstQ = C.dnnl_query_diff_dst_md, C.dnnl_query_diff_src_md
		case C.CM_BWD_WEIGHTS:
			srcQ, dstQ = C.dnnl_query_src_md, C.dnnl_query_diff_dst_md
		}
		for i, c := range cands {
			times[i] += b.timeReorder(b.pmd(base, srcQ), b.pmd(c, srcQ)) + b.timeReorder(b.pmd(c, dstQ), b.pmd(base, dstQ))
		}
		if gw != nil {
			times[len(cands)] += b.timeReorder(b.pmd(base, srcQ), gw.src.md) + b.timeReorder(gw.dst.md, b.pmd(base, dstQ))
		}
		if b.judge != nil {
			b.judge(kind, xs, ws, times, gw != nil)
		}
		i := slices.Index(times[:len(cands)], slices.Min(times[:len(cands)]))
		chosen, c := cands[i], made[i]
		c.Suffix, c.Impl = strings.TrimPrefix(chosen.name, key), C.GoString(C.cm_impl(chosen.pd))
		c.GoWino = gw != nil && times[len(cands)] < times[i]
		b.convChoice[class] = c
		b.choices.timed(class, f.binary == nil)
	}
	b.prims[key] = chosen
	return chosen
}

// choice returns the timed choice of a convolution class (convClass), reading the choices file
// (ChoicesEnv) first where the backend times its choices and has not read it yet.
func (b *Backend) choice(class string) (convChoice, bool) {
	if b.tunes() {
		b.loadChoices()
	}
	c, ok := b.convChoice[class]
	return c, ok
}

// remake returns the primitive for key made as the timed choice c was (its algorithm and
// layout) with c's oneDNN implementation, or nil where oneDNN has none for these shapes or a
// Winograd one would need a scratchpad over the limit. mk is convPrim's. An implementation's
// place in oneDNN's list can change with the batch size, so where c's place holds another (for a
// 1×1 stride-2 convolution, at some batch sizes, oneDNN's reference kernel), the other places of
// the list are tried.
func (b *Backend) remake(key string, c convChoice, direct int, mk func(algo, nth, layout int) func(pd *C.dnnl_primitive_desc_t) C.int) *prim {
	nths := []int{c.Nth}
	if c.Algo == direct && c.Layout == b.layout {
		for nth := range maxImpls {
			if nth != c.Nth {
				nths = append(nths, nth)
			}
		}
	}
	for _, nth := range nths {
		suffix := c.Suffix
		if nth != c.Nth {
			suffix = directSuffix(nth)
		}
		if pr, ok := b.prims[key+suffix]; ok {
			if C.GoString(C.cm_impl(pr.pd)) == c.Impl {
				return b.withinWinoMax(c, pr)
			}
			continue
		}
		var pd C.dnnl_primitive_desc_t
		if mk(c.Algo, nth, c.Layout)(&pd) != 0 {
			continue
		}
		impl := C.GoString(C.cm_impl(pd))
		C.dnnl_primitive_desc_destroy(pd)
		if impl != c.Impl {
			continue
		}
		pr, err := b.tryPrimitive(key+suffix, mk(c.Algo, nth, c.Layout))
		if err != nil {
			return nil
		}
		return b.withinWinoMax(c, pr)
	}
	return nil
}

// withinWinoMax returns pr, or nil where choice c is Winograd and pr's scratchpad is over the
// limit (CATMARK_DNNL_WINO_MAX_MIB).
func (b *Backend) withinWinoMax(c convChoice, pr *prim) *prim {
	if c.Algo == 2 && pr.scratch != nil && mdSize(pr.scratch) > b.winoMax {
		return nil
	}
	return pr
}

// maxImpls is how many of oneDNN's implementations of a convolution convPrim looks at.
const maxImpls = 8

// directSuffix is the name suffix of the direct candidate at place nth of oneDNN's list.
func directSuffix(nth int) string {
	if nth == 0 {
		return " direct"
	}
	return fmt.Sprintf(" direct#%d", nth)
}

// tuneBatch is the batch size from which inference convolutions (a folded batch norm, as a
// detector runs them) share one timed choice, timed on tuneBatch inputs whatever the batch that
// first needs it, taking the kernels' relative speeds to change little beyond it: a detector
// runs batches of many sizes (catmark predict: 15 sizes on 20 photos, up to 72), and timing each
// power-of-two bucket at its size ran more convolution work than its predictions did.
const tuneBatch = 8

// withBatch returns shape with its batch size set to n.
func withBatch(shape []int, n int) []int {
	s := slices.Clone(shape)
	s[0] = n
	return s
}

// convChoice is a timed convolution choice (convPrim) kept for the other batch sizes of its
// bucket: how oneDNN's fastest candidate was made (mk's algorithm, implementation index and
// layout), its name suffix (" direct", " direct#2", " winograd", " direct nhwc", …) and oneDNN's
// implementation name, which a later primitive made the same way must match; and, with
// convTuneGo, whether engine/purego's Winograd was faster still (the class runs on it).
// The choices file (ChoicesEnv) keeps it as it is, in JSON.
type convChoice struct {
	Algo   int    `json:"algo"`
	Nth    int    `json:"nth"`
	Layout int    `json:"layout"`
	Suffix string `json:"suffix"`
	Impl   string `json:"impl"`
	GoWino bool   `json:"go_winograd,omitempty"`
}

// bucket is the power-of-two bucket of batch size n (the largest power of two at most n): batch
// sizes in one bucket share a timed convolution choice, so a detector whose batches vary in size
// times each layer a few times rather than once per size (catmark predict on 60 photos spent
// more time timing than computing); inference convolutions share one from tuneBatch up.
func bucket(n int) int {
	if n < 1 {
		return n
	}
	return 1 << (bits.Len(uint(n)) - 1)
}

// timeReorder returns the shortest of a few reorders from layout a to layout b (0 when equal).
func (b *Backend) timeReorder(from, to md) time.Duration {
	if from == to {
		return 0
	}
	src, dst := tempTensor(from), tempTensor(to)
	best := time.Hour
	for r := range 3 {
		t0 := time.Now()
		b.reorder(src, dst, false)
		if d := time.Since(t0); r > 0 && d < best {
			best = d
		}
	}
	freeTemp(src)
	freeTemp(dst)
	return best
}

// timeRuns is how many times timeConv runs each candidate.
const timeRuns = 4

// timeConv returns, for each convolution primitive of kind, the shortest of a few runs on
// scratch tensors, the primitives taking turns so that machine load affects them alike. A
// non-nil extra (engine/purego's Winograd on its own scratch tensors) takes its turn after them,
// its time last.
func (b *Backend) timeConv(kind int, binary md, extra func(), ps ...*prim) []time.Duration {
	type q struct {
		arg C.int
		q   C.dnnl_query_t
		i   C.int
	}
	var queries []q
	switch kind {
	case C.CM_BWD_DATA:
		queries = []q{{C.DNNL_ARG_DIFF_DST, C.dnnl_query_diff_dst_md, 0}, {C.DNNL_ARG_WEIGHTS, C.dnnl_query_weights_md, 0},
			{C.DNNL_ARG_DIFF_SRC, C.dnnl_query_diff_src_md, 0}}
	case C.CM_BWD_WEIGHTS:
		queries = []q{{C.DNNL_ARG_SRC, C.dnnl_query_src_md, 0}, {C.DNNL_ARG_DIFF_DST, C.dnnl_query_diff_dst_md, 0},
			{C.DNNL_ARG_DIFF_WEIGHTS, C.dnnl_query_diff_weights_md, 0}, {C.DNNL_ARG_DIFF_BIAS, C.dnnl_query_diff_weights_md, 1}}
	default:
		queries = []q{{C.DNNL_ARG_SRC, C.dnnl_query_src_md, 0}, {C.DNNL_ARG_WEIGHTS, C.dnnl_query_weights_md, 0},
			{C.DNNL_ARG_BIAS, C.dnnl_query_weights_md, 1}, {C.DNNL_ARG_DST, C.dnnl_query_dst_md, 0}}
	}
	args := make([][]arg, len(ps))
	for i, p := range ps {
		for _, q := range queries {
			m := C.dnnl_primitive_desc_query_md(p.pd, q.q, q.i)
			if m == nil || C.dnnl_memory_desc_get_size(m) == 0 {
				continue
			}
			args[i] = append(args[i], arg{q.arg, tempTensor(b.intern((*C.dnnl_memory_desc_t)(unsafe.Pointer(m))))})
		}
		if binary != nil {
			args[i] = append(args[i], arg{argBinary, tempTensor(binary)})
		}
	}
	// Each candidate gets its own scratchpad, so that one not chosen does not grow the shared one.
	scratch := make([]*tensor, len(ps))
	for i, p := range ps {
		if p.scratch != nil {
			scratch[i] = tempTensor(p.scratch)
		}
	}
	n := len(ps)
	if extra != nil {
		n++
	}
	best := make([]time.Duration, n)
	for i := range best {
		best[i] = time.Hour
	}
	for r := range timeRuns { // the first round warms up
		for i, p := range ps {
			t0 := time.Now()
			b.execScratch(p, scratch[i], args[i]...)
			if d := time.Since(t0); r > 0 && d < best[i] {
				best[i] = d
			}
		}
		if extra != nil {
			t0 := time.Now()
			extra()
			if d := time.Since(t0); r > 0 && d < best[n-1] {
				best[n-1] = d
			}
		}
	}
	for _, as := range args {
		for _, a := range as {
			freeTemp(a.t)
		}
	}
	for _, s := range scratch {
		if s != nil {
			freeTemp(s)
		}
	}
	return best
}

// tempTensor returns zeroed storage in layout m mapped from the kernel, outside the free list and
// the C heap: timing runs need buffers of sizes the network may never use again, and unmapping
// them returns the memory at once. Free it with freeTemp.
func tempTensor(m md) *tensor {
	size := (mdSize(m) + 4095) &^ 4095
	ptr := C.cm_map(C.size_t(size))
	if ptr == nil {
		panic(fmt.Sprintf("dnnl: out of memory mapping %d bytes", size))
	}
	return &tensor{shape: []int{int(size / 4)}, md: m, buf: &buffer{ptr: ptr, size: size}}
}

func freeTemp(t *tensor) { C.cm_unmap(t.buf.ptr, C.size_t(t.buf.size)) }

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
		dx = b.convBackwardData(xt, wt, dyt, ys, p, hasBias)
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
		b.notePath("conv_bwd_weights", xt.shape, wt.shape, p, pw)
		dw = dwt
		done()
	}
	return dx, dw, db
}

// convBackwardData returns the input gradient of x's convolution by w from dy (output shape ys),
// on engine/purego's Winograd where goWinoPick says so, else on oneDNN's.
func (b *Backend) convBackwardData(xt, wt, dyt *tensor, ys []int, p engine.ConvParams, hasBias bool) *tensor {
	if wg, ok := b.goWinoPick(C.CM_BWD_DATA, xt.shape, wt.shape, ys, p, convFused{bias: hasBias}); ok {
		return b.goWinoBackwardData(wg, xt, wt, dyt, p)
	}
	pb := b.convPrim(C.CM_BWD_DATA, xt.shape, wt.shape, ys, p, convFused{bias: hasBias})
	b.relayout(dyt, b.pmd(pb, C.dnnl_query_diff_dst_md))
	wr, temp := b.weights(wt, b.pmd(pb, C.dnnl_query_weights_md))
	dx := b.alloc(xt.shape, b.pmd(pb, C.dnnl_query_diff_src_md))
	b.exec(pb, arg{C.DNNL_ARG_DIFF_DST, dyt}, arg{C.DNNL_ARG_WEIGHTS, wr}, arg{C.DNNL_ARG_DIFF_SRC, dx})
	if temp {
		b.free(wr)
	}
	b.notePath("conv_bwd_data", xt.shape, wt.shape, p, pb)
	return dx
}

// convPath is the path a convolution last took (ConvPaths): oneDNN's primitive pr, or
// engine/purego's Winograd, named by goWino (noteGoWino's name).
type convPath struct {
	pr     *prim
	goWino string
}

// notePath records that the convolution over xs by ws ran as oneDNN's pr, as operation op of
// the profile (conv_fwd, conv_fwd_fused, conv_bwd_data, conv_bwd_weights).
func (b *Backend) notePath(op string, xs, ws []int, p engine.ConvParams, pr *prim) {
	b.paths[op+" "+convDetail(xs, ws, p)] = convPath{pr: pr}
}

// ConvPaths returns the path each convolution took the last time it ran, keyed by the
// profile's operation and shapes ("conv_fwd x[32 64 40 40] w[64 64 3 3] s1 p1"; the operations
// conv_fwd, conv_fwd_fused (with a folded batch norm, residual Add or ReLU), conv_bwd_data and
// conv_bwd_weights): "onednn:" with oneDNN's implementation name and the candidate it was made
// as ("onednn:jit:avx512_core direct", "onednn:jit_wino_4x3:avx512_core winograd",
// "onednn:brg:avx512_core direct nhwc"), or "go_winograd:" with engine/purego's micro-kernel
// and the layout it ran in ("go_winograd:avx512 blocked16"). With CATMARK_DNNL_CONV=tune-go it
// lists which layers took the provider and which oneDNN; ProfileReport prints it.
func (b *Backend) ConvPaths() map[string]string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.convPaths()
}

func (b *Backend) convPaths() map[string]string {
	m := make(map[string]string, len(b.paths))
	for k, c := range b.paths {
		if c.pr == nil {
			m[k] = c.goWino
			continue
		}
		// The primitive's name is convPrim's key (ending in the fusion's "{…}") and the
		// candidate's suffix (" direct", " direct#2", " winograd", " direct nhwc").
		variant := strings.TrimSpace(c.pr.name[strings.LastIndexByte(c.pr.name, '}')+1:])
		m[k] = "onednn:" + C.GoString(C.cm_impl(c.pr.pd)) + " " + variant
	}
	return m
}

func convDetail(xs, ws []int, p engine.ConvParams) string {
	return fmt.Sprintf("x%v w%v s%d p%d", xs, ws, p.Stride, p.Pad)
}

func cbool(v bool) C.int {
	if v {
		return 1
	}
	return 0
}
