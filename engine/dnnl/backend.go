//go:build cgo && !nodnnl

package dnnl

/*
#cgo LDFLAGS: -ldnnl -lgomp -lm
#include <stdlib.h>
#include <malloc.h>
#include <string.h>
#include "cm.h"
*/
import "C"

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/catmark/catmark/engine"
	"github.com/catmark/catmark/engine/purego"
)

func init() {
	engine.Register("dnnl", func() (engine.Backend, error) { return New() })
}

var (
	initOnce sync.Once
	initErr  error
)

// Backend runs catmark's operations as oneDNN primitives. Make one with New; all Backends of a
// process share oneDNN's CPU engine and stream.
type Backend struct {
	mu    sync.Mutex
	pool  pool
	prims map[string]*prim
	// convChoice is each convolution bucket's timed choice (convPrim, with convTune), and
	// choices the file that keeps them between processes (ChoicesEnv).
	convChoice map[string]convChoice
	choices    choiceStore
	layouts    map[uint64][]*C.dnnl_memory_desc_t
	plain      map[string]*C.dnnl_memory_desc_t
	prof       *profiler
	// scratch is the scratchpad every primitive shares (operations are serialised).
	scratch *tensor
	// auto lets convolutions choose Winograd where oneDNN thinks it faster (CATMARK_DNNL_AUTO=1).
	auto bool
	// layout is the activation layout convolutions are asked for (CATMARK_DNNL_LAYOUT).
	layout int
	// block is the channel block of the blocked layout: the CPU's vector width in floats (16
	// with AVX-512, 8 with AVX2), the only blocking oneDNN's fast kernels take; a layout blocked
	// otherwise sends oneDNN to its reference kernels, a hundred times slower.
	block int
	// convAlgo chooses between direct and Winograd convolutions (CATMARK_DNNL_CONV).
	convAlgo int
	// winoMax is the largest scratchpad a Winograd convolution may ask for
	// (CATMARK_DNNL_WINO_MAX_MIB, default 48): the scratchpad is shared, so the largest one
	// counts against peak memory.
	winoMax uintptr
	// goWino is the per-layer rule of engine/purego's Winograd with convGoWinograd
	// (CATMARK_WINOGRAD), and goWinoUsed the convolutions it ran, for Impl.
	goWino     purego.Winograd
	goWinoUsed map[string]string
	// paths is the path each convolution took when it last ran, by operation and shapes
	// (ConvPaths).
	paths map[string]convPath
	// judge, where set (tests), may change the times of a timed convolution choice before the
	// fastest is taken: one per oneDNN candidate, oneDNN's first choice first, then, where
	// provider is true, engine/purego's Winograd (convTuneGo).
	judge func(kind int, xs, ws []int, times []time.Duration, provider bool)
	// made counts the primitives made, by kind; tuned the convolution choices timed and
	// tunedInputs the inputs their timing ran (Made).
	made        map[string]int
	tuned       int
	tunedInputs int
}

// New returns a oneDNN backend, or an error if oneDNN cannot make a CPU engine.
func New() (*Backend, error) {
	initOnce.Do(func() {
		if s := C.cm_init(); s != 0 {
			initErr = fmt.Errorf("dnnl: cannot create the oneDNN CPU engine (status %d)", int(s))
		}
	})
	if initErr != nil {
		return nil, initErr
	}
	b := &Backend{
		prims:      map[string]*prim{},
		convChoice: map[string]convChoice{},
		layouts:    map[uint64][]*C.dnnl_memory_desc_t{},
		plain:      map[string]*C.dnnl_memory_desc_t{},
		goWinoUsed: map[string]string{},
		paths:      map[string]convPath{},
		made:       map[string]int{},
		auto:       os.Getenv("CATMARK_DNNL_AUTO") == "1",
		block:      int(C.cm_block()),
	}
	b.pool.free = map[uintptr][]unsafe.Pointer{}
	if os.Getenv("CATMARK_DNNL_POOL") == "malloc" {
		b.pool.direct = true
		C.mallopt(C.M_MMAP_THRESHOLD, 1<<30)
		C.mallopt(C.M_TRIM_THRESHOLD, 1<<30)
	}
	switch l := os.Getenv("CATMARK_DNNL_LAYOUT"); l {
	case "any":
		b.layout = layoutAny
	case "", "blocked":
		b.layout = layoutBlocked
	case "nhwc":
		b.layout = layoutNHWC
	case "plain":
		b.layout = layoutPlain
	default:
		return nil, fmt.Errorf("dnnl: CATMARK_DNNL_LAYOUT=%q: want blocked, any, nhwc or plain", l)
	}
	switch a := os.Getenv("CATMARK_DNNL_CONV"); a {
	case "":
		b.convAlgo = convDirect
		if b.block == 16 {
			b.convAlgo = convTune // worth its timing only where oneDNN has AVX-512 alternatives (doc.go)
		}
	case "tune":
		b.convAlgo = convTune
	case "direct":
		b.convAlgo = convDirect
	case "winograd":
		b.convAlgo = convWinograd
	case "go-winograd", "tune-go":
		b.convAlgo = convGoWinograd
		if a == "tune-go" {
			b.convAlgo = convTuneGo
		}
		m, err := purego.ParseWinograd(os.Getenv(purego.WinogradEnv))
		if err != nil {
			return nil, fmt.Errorf("dnnl: %s: %w", purego.WinogradEnv, err)
		}
		b.goWino = m
	default:
		return nil, fmt.Errorf("dnnl: CATMARK_DNNL_CONV=%q: want tune, direct, winograd, go-winograd or tune-go", a)
	}
	b.winoMax = 48 << 20
	if v := os.Getenv("CATMARK_DNNL_WINO_MAX_MIB"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("dnnl: CATMARK_DNNL_WINO_MAX_MIB=%q: want a number of MiB", v)
		}
		b.winoMax = uintptr(n) << 20
	}
	if os.Getenv("CATMARK_PROFILE") != "" && os.Getenv("CATMARK_PROFILE") != "0" {
		b.prof = newProfiler()
	}
	return b, nil
}

// Name returns "dnnl".
func (*Backend) Name() string { return "dnnl" }

// Threads returns the number of OpenMP threads oneDNN's primitives use.
func Threads() int { return int(C.cm_max_threads()) }

// md is an interned oneDNN memory descriptor: equal layouts share one C copy, so pointer
// equality is layout equality and the pointer can key caches.
type md = *C.dnnl_memory_desc_t

// intern returns the canonical C copy of *m.
func (b *Backend) intern(m *C.dnnl_memory_desc_t) md {
	h := uint64(C.cm_md_hash(m))
	for _, c := range b.layouts[h] {
		if C.dnnl_memory_desc_equal(c, m) != 0 {
			return c
		}
	}
	c := (*C.dnnl_memory_desc_t)(C.malloc(C.size_t(unsafe.Sizeof(*m))))
	*c = *m
	b.layouts[h] = append(b.layouts[h], c)
	return c
}

// tagMD returns the interned descriptor of shape in format tag (a oneDNN dnnl_format_tag_t).
func (b *Backend) tagMD(tag int, shape ...int) md {
	key := fmt.Sprint(tag, shape)
	if m, ok := b.plain[key]; ok {
		return m
	}
	var dims [12]C.int64_t
	for i, d := range shape {
		dims[i] = C.int64_t(d)
	}
	var m C.dnnl_memory_desc_t
	C.cm_md_tag(&m, C.int(len(shape)), &dims[0], C.int(tag))
	c := b.intern(&m)
	b.plain[key] = c
	return c
}

// plainTags are oneDNN's row-major tags by number of dimensions (a, ab, abc, abcd).
var plainTags = [...]int{0, C.dnnl_a, C.dnnl_ab, C.dnnl_abc, C.dnnl_abcd}

// plainMD returns the row-major descriptor of shape.
func (b *Backend) plainMD(shape []int) md {
	if len(shape) < 1 || len(shape) > 4 {
		panic(fmt.Sprintf("dnnl: tensors have 1 to 4 dimensions, not %v", shape))
	}
	return b.tagMD(plainTags[len(shape)], shape...)
}

func mdSize(m md) uintptr { return uintptr(C.dnnl_memory_desc_get_size(m)) }

func describe(m md) string {
	var buf [256]C.char
	C.cm_md_describe(m, &buf[0], C.int(len(buf)))
	return C.GoString(&buf[0])
}

// pool is a free list of C buffers keyed by size. It has its own lock because garbage-collector
// cleanups return buffers from another goroutine.
type pool struct {
	mu        sync.Mutex
	free      map[uintptr][]unsafe.Pointer
	inUse     uintptr // bytes handed out
	held      uintptr // bytes on the free list
	peak      uintptr // most bytes handed out and held at once
	peakInUse uintptr // most bytes handed out at once
	direct    bool    // no free list: malloc and free (CATMARK_DNNL_POOL=malloc)
}

const align = 64

// get returns a buffer of at least size bytes and its capacity: a free one of exactly that size,
// else the smallest free one up to half as large again (tolDiv) (so that buffers of nearby sizes serve each
// other and the free list holds less), else a new one.
func (p *pool) get(size uintptr) (unsafe.Pointer, uintptr) {
	size = (size + align - 1) &^ (align - 1)
	if size == 0 {
		size = align
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.direct {
		best := size
		if len(p.free[size]) == 0 {
			best = 0
			for s, l := range p.free {
				if len(l) > 0 && s > size && s <= size+size/tolDiv && (best == 0 || s < best) {
					best = s
				}
			}
		}
		if best != 0 {
			l := p.free[best]
			ptr := l[len(l)-1]
			p.free[best] = l[:len(l)-1]
			p.held -= best
			p.inUse += best
			p.peakInUse = max(p.peakInUse, p.inUse)
			return ptr, best
		}
	}
	ptr := C.aligned_alloc(align, C.size_t(size))
	if ptr == nil {
		panic(fmt.Sprintf("dnnl: out of memory allocating %d bytes", size))
	}
	p.inUse += size
	p.peakInUse = max(p.peakInUse, p.inUse)
	p.peak = max(p.peak, p.inUse+p.held)
	return ptr, size
}

func (p *pool) put(ptr unsafe.Pointer, size uintptr) {
	size = (size + align - 1) &^ (align - 1)
	if size == 0 {
		size = align
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.inUse -= size
	if p.direct {
		C.free(ptr)
		return
	}
	p.held += size
	p.free[size] = append(p.free[size], ptr)
}

// trim frees every buffer on the free list.
func (p *pool) trim() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for size, l := range p.free {
		for _, ptr := range l {
			C.free(ptr)
		}
		delete(p.free, size)
	}
	p.held = 0
}

// MemStats reports the backend's tensor memory in bytes: in use by live tensors, held on the
// free list for reuse, and the most of both at once.
func (b *Backend) MemStats() (inUse, held, peak uintptr) {
	b.pool.mu.Lock()
	defer b.pool.mu.Unlock()
	return b.pool.inUse, b.pool.held, b.pool.peak
}

// Trim returns the free list's memory to the C allocator.
func (b *Backend) Trim() { b.pool.trim() }

// buffer is a tensor's storage; a separate object so that a garbage-collector cleanup can return
// it without keeping the tensor alive.
type buffer struct {
	ptr  unsafe.Pointer
	size uintptr
}

// prim is a cached primitive with its descriptor (kept as the hint for backward passes).
type prim struct {
	name    string
	pd      C.dnnl_primitive_desc_t
	p       C.dnnl_primitive_t
	mds     map[int]md
	scratch md // scratchpad layout, nil when none is needed
}

// primitive returns the cached primitive for key, making it with mk on first use.
func (b *Backend) primitive(key string, mk func(pd *C.dnnl_primitive_desc_t) C.int) *prim {
	p, err := b.tryPrimitive(key, mk)
	if err != nil {
		panic(err)
	}
	return p
}

// tryPrimitive is primitive returning an error where oneDNN has no implementation.
func (b *Backend) tryPrimitive(key string, mk func(pd *C.dnnl_primitive_desc_t) C.int) (*prim, error) {
	if p, ok := b.prims[key]; ok {
		return p, nil
	}
	var pd C.dnnl_primitive_desc_t
	if s := mk(&pd); s != 0 {
		return nil, fmt.Errorf("dnnl: cannot create primitive %s: oneDNN status %d", key, int(s))
	}
	p := &prim{name: key, pd: pd, mds: map[int]md{}}
	if s := C.dnnl_primitive_create(&p.p, pd); s != 0 {
		C.dnnl_primitive_desc_destroy(pd)
		return nil, fmt.Errorf("dnnl: cannot create primitive %s: oneDNN status %d", key, int(s))
	}
	if sm := C.dnnl_primitive_desc_query_md(pd, C.dnnl_query_scratchpad_md, 0); sm != nil && C.dnnl_memory_desc_get_size(sm) > 0 {
		p.scratch = b.intern((*C.dnnl_memory_desc_t)(unsafe.Pointer(sm)))
	}
	b.prims[key] = p
	b.made[primKind(key)]++
	return p, nil
}

// primKind is the kind of the primitive keyed key: the key's first word, its digits (the pass)
// kept: "conv0", "bn1", "reorder", "ip0", "pool0", "eltwise0", "add".
func primKind(key string) string {
	if i := strings.IndexByte(key, ' '); i >= 0 {
		return key[:i]
	}
	return key
}

// Made is what a Backend has made and timed since New (Backend.Made).
type Made struct {
	// Prims counts the oneDNN primitives made, by kind (conv0 a forward convolution, conv2
	// backward data, conv3 backward weights, bn0 a batch norm forward, reorder, ip0 an inner
	// product forward, pool0, eltwise0, add), every candidate of a timed convolution choice
	// included. A primitive is made once per operation, shape and layout, so a network run at a
	// new batch size or input size makes its primitives anew.
	Prims map[string]int
	// Tuned is how many convolution choices were timed, and TunedInputs the inputs their timing
	// ran (batch size times runs, summed over the candidates), a measure of the timing's work.
	Tuned, TunedInputs int
	// ChoicesRead is how many timed choices were taken from the choices file (ChoicesEnv),
	// ChoicesFile its path ("" when off) and ChoicesErr the last problem reading or writing it.
	ChoicesRead int
	ChoicesFile string
	ChoicesErr  error
}

// Made returns what the backend has made and timed: it tells how much a workload's shapes cost
// it beyond computing.
func (b *Backend) Made() Made {
	b.mu.Lock()
	defer b.mu.Unlock()
	m := Made{Prims: make(map[string]int, len(b.made)), Tuned: b.tuned, TunedInputs: b.tunedInputs,
		ChoicesRead: b.choices.read, ChoicesFile: b.choices.path, ChoicesErr: b.choices.err}
	for k, n := range b.made {
		m.Prims[k] = n
	}
	return m
}

// md returns the primitive's interned memory descriptor for query q (a dnnl_query_t).
func (b *Backend) pmd(p *prim, q C.dnnl_query_t) md {
	if m, ok := p.mds[int(q)]; ok {
		return m
	}
	m := C.dnnl_primitive_desc_query_md(p.pd, q, 0)
	if m == nil {
		panic(fmt.Sprintf("dnnl: %s has no memory descriptor for query %d", p.name, int(q)))
	}
	c := b.intern((*C.dnnl_memory_desc_t)(unsafe.Pointer(m)))
	p.mds[int(q)] = c
	return c
}

// Impl returns the oneDNN implementation each cached primitive uses, keyed by primitive key
// (timed candidates not chosen included), and "go_winograd:", engine/purego's kernel name and
// the layout it ran in ("blocked16", "blocked8" or "plain") for each convolution that ran on its
// Winograd (CATMARK_DNNL_CONV=go-winograd or tune-go), keyed "conv… go-winograd". ConvPaths
// says which path each convolution took.
func (b *Backend) Impl() map[string]string {
	b.mu.Lock()
	defer b.mu.Unlock()
	m := map[string]string{}
	for k, p := range b.prims {
		m[k] = C.GoString(C.cm_impl(p.pd))
	}
	for k, v := range b.goWinoUsed {
		m[k] = v
	}
	return m
}

// arg is one execution argument.
type arg struct {
	kind C.int
	t    *tensor
}

// exec runs p on args (nil tensors are skipped) with the shared scratchpad.
func (b *Backend) exec(p *prim, args ...arg) { b.execScratch(p, nil, args...) }

// execScratch runs p on args with scratch as its scratchpad, or the shared one if scratch is nil.
func (b *Backend) execScratch(p *prim, scratch *tensor, args ...arg) {
	var ca [12]C.cm_arg
	n := 0
	for _, a := range args {
		if a.t == nil {
			continue
		}
		ca[n] = C.cm_arg{arg: a.kind, md: a.t.md, ptr: a.t.buf.ptr}
		n++
	}
	if p.scratch != nil && scratch != nil {
		ca[n] = C.cm_arg{arg: C.DNNL_ARG_SCRATCHPAD, md: p.scratch, ptr: scratch.buf.ptr}
		n++
	} else if p.scratch != nil {
		if size := mdSize(p.scratch); b.scratch == nil || b.scratch.buf.size < size {
			if b.scratch != nil {
				b.free(b.scratch)
			}
			words := int((size + 3) / 4)
			b.scratch = b.alloc([]int{words}, b.plainMD([]int{words}))
		}
		ca[n] = C.cm_arg{arg: C.DNNL_ARG_SCRATCHPAD, md: p.scratch, ptr: b.scratch.buf.ptr}
		n++
	}
	if s := C.cm_exec(p.p, C.int(n), &ca[0]); s != 0 {
		panic(fmt.Sprintf("dnnl: executing %s: oneDNN status %d", p.name, int(s)))
	}
}

// keepAlive is runtime.KeepAlive, named for the tensors an exec reads.
var keepAlive = runtime.KeepAlive

// Threads returns the number of OpenMP threads oneDNN's primitives use.
func (*Backend) Threads() int { return Threads() }

// tolDiv sets how much larger a free buffer may be than a request it serves: size/tolDiv
// (CATMARK_DNNL_TOLDIV, default 2). Larger buffers serve more requests, so the free list holds less,
// but each wastes more.
var tolDiv = uintptr(func() int {
	if n, err := strconv.Atoi(os.Getenv("CATMARK_DNNL_TOLDIV")); err == nil && n > 0 {
		return n
	}
	return 2
}())
