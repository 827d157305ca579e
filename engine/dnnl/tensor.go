//go:build cgo && !nodnnl

package dnnl

/*
#include <string.h>
#include "cm.h"
*/
import "C"

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"unsafe"

	"github.com/catmark/catmark/engine"
)

// tensor is the backend's engine.Tensor: a logical shape, a oneDNN layout and C storage.
type tensor struct {
	shape []int
	md    md      // layout; nil once released
	buf   *buffer // storage; buf.ptr is nil while the tensor is lazy or after Release
	// version changes whenever the tensor's data may have been written through Data, so that
	// copies derived from it (reordered or folded weights) know they are stale.
	version uint64
	derived []derived
	lazy    *lazyConv // pending convolution (see fuse.go); nil once computed
	// refs counts pending convolutions that will read this tensor; Release waits for them.
	refs     int
	released bool // Release was called (storage freed unless refs > 0 deferred it)
	cleanup  runtime.Cleanup
}

// Shape returns the logical shape.
func (t *tensor) Shape() []int { return t.shape }

// derived is a copy of a parameter in another layout, or folded with a batch norm, valid while
// the versions of the tensors it came from are unchanged.
type derived struct {
	key  string
	sig  [5]uint64
	w, b *tensor
	u    []float32 // Go-side filters (Winograd's transform, gowino.go); nil otherwise
}

// versions numbers tensor versions across all backends.
var versions atomic.Uint64

func nextVersion() uint64 { return versions.Add(1) }

// newTensor returns a tensor of shape in layout m with fresh storage (unless lazy is set, in
// which case storage comes when it is computed).
func (b *Backend) newTensor(shape []int, m md, lazy *lazyConv) *tensor {
	t := &tensor{shape: append([]int(nil), shape...), md: m, buf: &buffer{}, lazy: lazy, version: nextVersion()}
	if lazy == nil {
		t.buf.ptr, t.buf.size = b.pool.get(mdSize(m))
	}
	p := &b.pool
	t.cleanup = runtime.AddCleanup(t, func(buf *buffer) {
		if buf.ptr != nil {
			p.put(buf.ptr, buf.size)
			buf.ptr = nil
		}
	}, t.buf)
	return t
}

// alloc returns a new tensor of shape in layout m.
func (b *Backend) alloc(shape []int, m md) *tensor { return b.newTensor(shape, m, nil) }

// setStorage gives a lazy tensor its storage.
func (b *Backend) setStorage(t *tensor, m md) {
	t.md = m
	t.buf.ptr, t.buf.size = b.pool.get(mdSize(m))
}

// peek returns x as the backend's tensor without computing it if it is lazy.
func (b *Backend) peek(op string, x engine.Tensor) *tensor {
	t, ok := x.(*tensor)
	if !ok {
		if x == nil {
			panic(fmt.Sprintf("dnnl: %s: nil tensor", op))
		}
		panic(fmt.Sprintf("dnnl: %s: tensor %T is not from the dnnl backend", op, x))
	}
	if t.released {
		panic(fmt.Sprintf("dnnl: %s: tensor of shape %v used after Release", op, t.shape))
	}
	return t
}

// get returns x as the backend's tensor, computed.
func (b *Backend) get(op string, x engine.Tensor) *tensor {
	t := b.peek(op, x)
	if t.lazy != nil {
		b.force(t)
	}
	return t
}

func (t *tensor) data() []float32 {
	return unsafe.Slice((*float32)(t.buf.ptr), engine.Numel(t.shape))
}

// Zeros returns a plain tensor of zeros.
func (b *Backend) Zeros(shape ...int) engine.Tensor {
	b.mu.Lock()
	defer b.mu.Unlock()
	t := b.alloc(shape, b.plainMD(shape))
	C.memset(t.buf.ptr, 0, C.size_t(t.buf.size))
	return t
}

// FromHost copies data into a new plain tensor.
func (b *Backend) FromHost(data []float32, shape ...int) engine.Tensor {
	if len(data) != engine.Numel(shape) {
		panic(fmt.Sprintf("dnnl: FromHost: %d values for shape %v", len(data), shape))
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	t := b.alloc(shape, b.plainMD(shape))
	copy(t.data(), data)
	return t
}

// ToHost copies t into a new plain slice.
func (b *Backend) ToHost(x engine.Tensor) []float32 {
	b.mu.Lock()
	defer b.mu.Unlock()
	t := b.get("ToHost", x)
	defer b.flushChoices() // a result leaving the engine ends a pass: keep what it timed
	out := make([]float32, engine.Numel(t.shape))
	pm := b.plainMD(t.shape)
	if t.md == pm {
		copy(out, t.data())
		return out
	}
	tmp := b.alloc(t.shape, pm)
	b.reorder(t, tmp, false)
	copy(out, tmp.data())
	b.free(tmp)
	return out
}

// Data returns t's storage in plain layout (reordering it there first if needed) and marks t as
// written, so that layouts derived from it are made afresh at their next use.
func (b *Backend) Data(x engine.Tensor) []float32 {
	b.mu.Lock()
	defer b.mu.Unlock()
	t := b.get("Data", x)
	b.relayout(t, b.plainMD(t.shape))
	t.version = nextVersion()
	b.freeDerived(t, false)
	return t.data()
}

// Release frees t's storage for reuse. Releasing a tensor twice is harmless; using it after
// Release panics. A tensor a pending (lazy) convolution still reads is freed when that
// convolution has run.
func (b *Backend) Release(x engine.Tensor) {
	if x == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	t, ok := x.(*tensor)
	if !ok {
		panic(fmt.Sprintf("dnnl: Release: tensor %T is not from the dnnl backend", x))
	}
	if t.released {
		return
	}
	t.released = true
	if t.refs == 0 {
		b.free(t)
	}
}

// free returns t's storage and everything derived from it to the pool.
func (b *Backend) free(t *tensor) {
	t.released = true
	if t.lazy != nil {
		b.dropLazy(t.lazy)
		t.lazy = nil
	}
	if t.buf.ptr != nil {
		b.pool.put(t.buf.ptr, t.buf.size)
		t.buf.ptr = nil
	}
	t.cleanup.Stop()
	b.freeDerived(t, true)
}

// freeDerived frees the copies derived from t; with forget it also forgets which layouts t was
// used in.
func (b *Backend) freeDerived(t *tensor, forget bool) {
	for i := range t.derived {
		d := &t.derived[i]
		for _, c := range []*tensor{d.w, d.b} {
			if c != nil {
				b.free(c)
			}
		}
		d.w, d.b, d.u = nil, nil, nil
	}
	if forget {
		t.derived = nil
	}
}

// retain notes that a pending convolution reads t.
func retain(t *tensor) {
	if t != nil {
		t.refs++
	}
}

// drop undoes retain, freeing t if it was released meanwhile.
func (b *Backend) drop(t *tensor) {
	if t == nil {
		return
	}
	t.refs--
	if t.refs == 0 && t.released {
		b.free(t)
	}
}

// reorder copies src into dst's layout (dst = src, or dst += src with sum).
func (b *Backend) reorder(src, dst *tensor, sum bool) {
	s := 0
	if sum {
		s = 1
	}
	key := fmt.Sprintf("reorder %p→%p sum=%d", src.md, dst.md, s)
	p := b.primitive(key, func(pd *C.dnnl_primitive_desc_t) C.int {
		return C.cm_reorder_pd(pd, src.md, dst.md, C.int(s))
	})
	defer b.timed("reorder", func() string { return fmt.Sprintf("%v %s → %s", src.shape, describe(src.md), describe(dst.md)) })()
	b.exec(p, arg{C.DNNL_ARG_FROM, src}, arg{C.DNNL_ARG_TO, dst})
}

// relayout changes t's layout to m in place (new storage, same tensor).
func (b *Backend) relayout(t *tensor, m md) {
	if t.md == m {
		return
	}
	tmp := b.alloc(t.shape, m)
	b.reorder(t, tmp, false)
	// Swap storage: t takes tmp's buffer and layout; tmp takes t's old buffer and is freed.
	t.buf.ptr, tmp.buf.ptr = tmp.buf.ptr, t.buf.ptr
	t.buf.size, tmp.buf.size = tmp.buf.size, t.buf.size
	t.md, tmp.md = m, t.md
	b.free(tmp)
}

// weights returns w in layout m: w itself, a cached reordered copy, or a temporary copy the
// caller must free (temp is true). A copy is cached once w has been used in layout m twice at
// the same version (inference, frozen layers); a tensor whose version changes between uses (an
// optimiser updates it) gets a temporary copy per use, so trained weights cost no memory
// beyond the operation that reads them.
func (b *Backend) weights(w *tensor, m md) (c *tensor, temp bool) {
	if w.md == m {
		return w, false
	}
	key := fmt.Sprintf("%p", m)
	sig := [5]uint64{w.version}
	var d *derived
	for i := range w.derived {
		if w.derived[i].key == key {
			d = &w.derived[i]
		}
	}
	if d == nil {
		w.derived = append(w.derived, derived{key: key})
		d = &w.derived[len(w.derived)-1]
	} else if d.sig == sig {
		if d.w == nil {
			d.w = b.alloc(w.shape, m)
			b.reorder(w, d.w, false)
		}
		return d.w, false
	}
	if d.w != nil {
		b.free(d.w)
		d.w = nil
	}
	d.sig = sig
	c = b.alloc(w.shape, m)
	b.reorder(w, c, false)
	return c, true
}
