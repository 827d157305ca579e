// Package purego is catmark's fast pure-Go backend, registered as "go": no cgo, so it builds
// wherever Go does, and on amd64 with AVX-512 or AVX2 and FMA its convolutions run on a
// hand-written Go assembly micro-kernel.
//
// Tensors are those of the reference backend (engine/ref): plain N×C×H×W float32 storage. The
// backend embeds a ref.Backend for memory and the cheap operations (ReLU and max-pool backward,
// global average pooling, Linear's backward pass, sigmoid, AddInto) and overrides the ones a
// network spends its time in:
//
//   - Conv2D: a packed GEMM whose 6×16 register tile is computed by microKernel (AVX-512 or
//     AVX2/FMA assembly on amd64, whichever the CPU has, see kernel.go; plain Go elsewhere).
//     Large images skip the im2col matrix: the GEMM reads a padded copy split into stride
//     phases through an offset table (convImplicit, offKernel); small ones go through an im2col
//     matrix with the batch's images side by side as GEMM columns, so that the late layers
//     still fill the tiles (gemm).
//   - Conv2DBackward through the same GEMM: dx = col2im(Wᵀ·dy), dw = Σ dy·colᵀ.
//   - 3×3 stride-1 convolutions, forward and input gradient, by Winograd F(4×4, 3×3) where
//     useWinograd's rule expects it to pay (winograd.go): 36 GEMMs per panel of 16 output tiles
//     on the same micro-kernel. SetWinograd, or CATMARK_WINOGRAD=off|on|auto for the backend
//     engine.Open returns, forces either path.
//   - BatchNorm (inference: one fused scale, shift and ReLU pass; training: ref's arithmetic in
//     parallel over channels) and BatchNormBackward, MaxPool (eight windows at a time, exactly
//     as ref), Add, ReLU and Linear.
//
// Work is split over GOMAXPROCS goroutines. Packed convolution weights (and their Winograd
// transforms) are cached per weight tensor and dropped when the tensor is written through Data
// or AddInto, or released: in inference they are computed once.
//
// The build tag purego selects the plain-Go kernels on amd64 too (as on every other
// architecture); the assembly kernels are also skipped at run time on CPUs without AVX2 and FMA,
// the AVX-512 micro-kernels on CPUs without AVX-512F, and KernelEnv picks a micro-kernel.
// Every operation is checked against engine/ref by package enginetest, with the assembly and
// the plain-Go kernels.
//
// Importing the package registers the backend as "go" with engine.Register.
package purego

import (
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/catmark/catmark/engine"
	"github.com/catmark/catmark/engine/ref"
)

func init() {
	engine.Register("go", func() (engine.Backend, error) {
		if kernelEnvErr != nil {
			return nil, kernelEnvErr
		}
		mode, err := winogradFromEnv()
		if err != nil {
			return nil, err
		}
		b := New()
		b.SetWinograd(mode)
		return b, nil
	})
}

// Backend is the pure-Go backend. It is safe for concurrent use by several goroutines (each
// tensor by one at a time).
type Backend struct {
	*ref.Backend

	mu     sync.Mutex
	packed map[weightKey]*packedWeights // convolution weights in the forms the kernels read
	size   int                          // floats held in packed

	winograd Winograd // when convolutions use Winograd F(4×4, 3×3) (useWinograd)
}

// weightKey names one derived form of a convolution's weight tensor.
type weightKey struct {
	t    engine.Tensor
	form weightForm
}

// weightForm is a derived form of convolution weights.
type weightForm int

const (
	formGEMM    weightForm = iota // packA's panels of the O×(C·K·K) matrix
	formWinoFwd                   // winoFilter's transformed filters for Conv2D
	formWinoBwd                   // winoFilter's transformed filters for the input gradient
)

// packedWeights is a convolution's weight matrix in microKernel's A-panel layout, with the
// storage it was packed from (to notice a tensor that was released).
type packedWeights struct {
	src  []float32
	data []float32
}

// maxPacked bounds the floats the weight cache holds (256 MiB); past it the cache is emptied.
const maxPacked = 64 << 20

// New returns the pure-Go backend.
// Its Winograd mode is WinogradAuto; engine.Open("go") sets the one WinogradEnv names.
func New() *Backend { return &Backend{Backend: ref.New(), packed: map[weightKey]*packedWeights{}} }

// Name returns "go".
func (*Backend) Name() string { return "go" }

// Kernel names the convolution micro-kernel this process uses: "avx512" (Go assembly with
// AVX-512F), "avx2" (Go assembly with AVX2 and FMA) or "go" (plain Go). KernelEnv picks one.
func Kernel() string { return kernelName }

// forget drops every derived form of t's weights, if any.
func (b *Backend) forget(t engine.Tensor) {
	b.mu.Lock()
	for f := formGEMM; f <= formWinoBwd; f++ {
		if p, ok := b.packed[weightKey{t, f}]; ok {
			b.size -= len(p.data)
			delete(b.packed, weightKey{t, f})
		}
	}
	b.mu.Unlock()
}

// Data returns t's live storage (see engine.Backend) and drops derived forms of it.
func (b *Backend) Data(t engine.Tensor) []float32 {
	b.forget(t)
	return b.Backend.Data(t)
}

// Release frees t's memory and drops derived forms of it.
func (b *Backend) Release(t engine.Tensor) {
	if t == nil {
		return
	}
	b.forget(t)
	b.Backend.Release(t)
}

// AddInto adds src to dst in place and drops derived forms of dst.
func (b *Backend) AddInto(dst, src engine.Tensor) {
	b.forget(dst)
	b.Backend.AddInto(dst, src)
}

// data returns t's storage and shape, panicking (naming op) when t is not a live tensor of this
// backend.
func (b *Backend) data(op string, t engine.Tensor) ([]float32, []int) {
	if t == nil {
		panic(fmt.Sprintf("purego: %s: nil tensor", op))
	}
	return b.Backend.Data(t), t.Shape()
}

func rank(op, what string, shape []int, r int) {
	if len(shape) != r {
		panic(fmt.Sprintf("purego: %s: %s has shape %v, want rank %d", op, what, shape, r))
	}
}

// ---------------------------------------------------------------------------------------------
// Parallel loops

// workers is the number of goroutines an operation splits into.
func workers() int { return max(1, runtime.GOMAXPROCS(0)) }

// parallel runs task(i) for i in [0, n) on up to workers() goroutines, each with its own worker
// index w in [0, workers()). The calling goroutine takes part. Helpers come from a pool of
// goroutines that spin for a while between jobs (an operation's phases follow each other within
// microseconds, and waking a parked thread takes longer); a call made while the pool is busy
// (another goroutine's operation) starts goroutines of its own.
func parallel(n int, task func(w, i int)) {
	nw := min(workers(), n)
	if nw <= 1 {
		for i := 0; i < n; i++ {
			task(0, i)
		}
		return
	}
	if !pool.mu.TryLock() {
		spawn(n, nw, task)
		return
	}
	defer pool.mu.Unlock()
	pool.start(workers() - 1)
	j := &job{task: task, n: int64(n), nw: nw, fin: make(chan struct{})}
	pool.cur.Store(j)
	pool.gen.Add(1)
	for k := pool.parked.Load(); k > 0; k-- {
		select {
		case pool.wake <- struct{}{}:
		default:
		}
	}
	j.run(0)
	for spin := 0; j.done.Load() < j.n; spin++ {
		if spin > spinWait {
			<-j.fin
			break
		}
	}
}

// spinWait is how many times an idle goroutine checks for work before it blocks (some tens of
// microseconds).
const spinWait = 1 << 15

// job is one parallel call: n tasks, taken in order by whoever is free.
type job struct {
	task func(w, i int)
	n    int64
	nw   int // worker indices [0, nw) may take part
	next atomic.Int64
	done atomic.Int64
	fin  chan struct{} // closed when done reaches n
}

// run takes tasks of j as worker w until none is left.
func (j *job) run(w int) {
	for {
		i := j.next.Add(1) - 1
		if i >= j.n {
			return
		}
		j.task(w, int(i))
		if j.done.Add(1) == j.n {
			close(j.fin)
		}
	}
}

// helperPool holds parallel's helper goroutines: helper h (from 1) takes part in the jobs
// with nw > h, spinning between jobs for spinWait checks and then blocking on wake.
type helperPool struct {
	mu      sync.Mutex // held by the caller whose job the helpers run
	helpers int        // helpers started (under mu)
	cur     atomic.Pointer[job]
	gen     atomic.Uint64 // counts jobs posted
	parked  atomic.Int64  // helpers blocked on wake, or about to block
	wake    chan struct{}
}

var pool = helperPool{wake: make(chan struct{}, 256)}

// start makes sure at least k helpers run. Call it with p.mu held.
func (p *helperPool) start(k int) {
	for p.helpers < k {
		p.helpers++
		go p.helper(p.helpers, p.gen.Load())
	}
}

// helper is helper h's loop; seen is the last job it has seen posted.
func (p *helperPool) helper(h int, seen uint64) {
	for {
		for spin := 0; p.gen.Load() == seen; spin++ {
			if spin > spinWait {
				// Block; a job posted after the count went up sends a wake-up, one posted
				// before it is seen by the check.
				p.parked.Add(1)
				if p.gen.Load() == seen {
					<-p.wake
				}
				p.parked.Add(-1)
				spin = 0
			}
		}
		seen = p.gen.Load()
		if j := p.cur.Load(); h < j.nw {
			j.run(h)
		}
	}
}

// spawn is parallel with goroutines of its own.
func spawn(n, nw int, task func(w, i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	wg.Add(nw)
	for w := 0; w < nw; w++ {
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				task(w, i)
			}
		}()
	}
	wg.Wait()
}

// parallelRange splits [0, n) into contiguous pieces of at least grain elements and runs
// body(lo, hi) on each, in parallel.
func parallelRange(n, grain int, body func(lo, hi int)) {
	pieces := min(workers()*4, (n+grain-1)/grain)
	if pieces <= 1 {
		body(0, n)
		return
	}
	parallel(pieces, func(_, i int) { body(i*n/pieces, (i+1)*n/pieces) })
}

// ---------------------------------------------------------------------------------------------
// Element-wise operations and batch normalisation

// elemGrain is the smallest piece of an element-wise loop worth a goroutine.
const elemGrain = 1 << 14

// Add returns a + b, or max(a+b, 0) with relu.
func (b *Backend) Add(x, y engine.Tensor, relu bool) engine.Tensor {
	xd, xs := b.data("Add", x)
	yd, ys := b.data("Add", y)
	engine.SameShape("Add", xs, ys)
	out := b.Zeros(xs...)
	od := b.Backend.Data(out)
	parallelRange(len(xd), elemGrain, func(lo, hi int) { add(od[lo:hi], xd[lo:hi], yd[lo:hi], relu) })
	return out
}

// ReLU returns max(x, 0).
func (b *Backend) ReLU(x engine.Tensor) engine.Tensor {
	xd, xs := b.data("ReLU", x)
	out := b.Zeros(xs...)
	od := b.Backend.Data(out)
	parallelRange(len(xd), elemGrain, func(lo, hi int) { scaleShift(od[lo:hi], xd[lo:hi], 1, 0, true) })
	return out
}

// BatchNorm normalises x (N×C×H×W) per channel. In BNInfer mode it computes
// y = x·scale + shift per channel (scale = γ/√(var+ε), shift = β − mean·scale, the ReLU applied
// when p.ReLU) in parallel over the N·C planes, and saves only Y; BNTrain is the reference
// backend's computation in parallel over channels (see bnTrain).
func (b *Backend) BatchNorm(x engine.Tensor, bn engine.BN, p engine.BNParams) (engine.Tensor, engine.BNSaved) {
	const op = "BatchNorm"
	xd, xs := b.data(op, x)
	rank(op, "x", xs, 4)
	n, c, hw := xs[0], xs[1], xs[2]*xs[3]
	par := bnParams(b, op, bn, c)
	switch p.Mode {
	case engine.BNTrain:
		return b.bnTrain(xd, xs, par[0], par[1], par[2], par[3], p)
	case engine.BNInfer:
	default:
		panic(fmt.Sprintf("purego: %s: unknown mode %d", op, p.Mode))
	}
	gamma, beta, mean, vr := par[0], par[1], par[2], par[3]
	scale, shift := make([]float32, c), make([]float32, c)
	for ch := range c {
		s := float64(gamma[ch]) / math.Sqrt(float64(vr[ch])+float64(p.Eps))
		scale[ch], shift[ch] = float32(s), float32(float64(beta[ch])-float64(mean[ch])*s)
	}
	y := b.Zeros(xs...)
	yd := b.Backend.Data(y)
	parallelRange(n*c, max(1, elemGrain/max(hw, 1)), func(lo, hi int) {
		for pl := lo; pl < hi; pl++ {
			scaleShift(yd[pl*hw:(pl+1)*hw], xd[pl*hw:(pl+1)*hw], scale[pl%c], shift[pl%c], p.ReLU)
		}
	})
	return y, engine.BNSaved{Y: y}
}

// ---------------------------------------------------------------------------------------------
// Fully connected

// Linear computes y = x·wᵀ + b. x: N×In, w: Out×In (row-major), b: Out or nil. y: N×Out.
func (b *Backend) Linear(x, w, bias engine.Tensor) engine.Tensor {
	const op = "Linear"
	xd, xs := b.data(op, x)
	wd, ws := b.data(op, w)
	rank(op, "x", xs, 2)
	rank(op, "w", ws, 2)
	n, in, out := xs[0], xs[1], ws[0]
	if ws[1] != in {
		panic(fmt.Sprintf("purego: %s: x %v and w %v do not match (want w Out×%d)", op, xs, ws, in))
	}
	var bd []float32
	if bias != nil {
		var bs []int
		bd, bs = b.data(op, bias)
		engine.SameShape(op+" bias", bs, []int{out})
	}
	y := b.Zeros(n, out)
	yd := b.Backend.Data(y)
	parallelRange(n*out, max(1, elemGrain/max(in, 1)), func(lo, hi int) {
		for k := lo; k < hi; k++ {
			i, o := k/out, k%out
			s := dot(xd[i*in:(i+1)*in], wd[o*in:(o+1)*in])
			if bd != nil {
				s += bd[o]
			}
			yd[k] = s
		}
	})
	return y
}

// dot returns Σ x[i]·y[i] over len(x) (y at least as long), in eight interleaved partial sums.
func dot(x, y []float32) float32 {
	y = y[:len(x)]
	var s [8]float32
	i := 0
	for ; i+8 <= len(x); i += 8 {
		xs, ys := x[i:i+8:i+8], y[i:i+8:i+8]
		for j := range 8 {
			s[j] += xs[j] * ys[j]
		}
	}
	for ; i < len(x); i++ {
		s[0] += x[i] * y[i]
	}
	return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]))
}

var _ engine.Backend = (*Backend)(nil)

// scratch holds buffers for reuse between operations (im2col matrices, phase images, padded
// outputs, packed panels).
var scratch sync.Pool

// getScratch returns a buffer of n floats with arbitrary contents; return it with putScratch.
func getScratch(n int) *[]float32 {
	p, _ := scratch.Get().(*[]float32)
	if p == nil || cap(*p) < n {
		s := make([]float32, n)
		return &s
	}
	*p = (*p)[:n]
	return p
}

// putScratch makes p's buffer available to getScratch.
func putScratch(p *[]float32) { scratch.Put(p) }
