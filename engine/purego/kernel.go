package purego

import (
	"fmt"
	"os"
)

// The GEMM micro-kernels, and which CPU runs which:
//
//   - "avx512", on amd64 CPUs with AVX-512F (Intel Skylake-SP and later Xeons, Ice Lake and
//     later cores that have it, AMD Zen 4 and later): Go assembly that holds each row of the
//     6×16 tile in one 512-bit register and runs two steps of the k loop at a time into twelve
//     accumulators (kernel_avx512_amd64.s).
//   - "avx2", on other amd64 CPUs with AVX2 and FMA (Intel Haswell and later, AMD Zen): Go
//     assembly with the tile in twelve 256-bit registers (kernel_amd64.s).
//   - "go", everywhere else and in builds with the purego tag: plain Go (goKernel).
//
// Every kernel computes the same mr×nr tile from the same packed panels, so the packing, the
// weight cache and the Winograd filter layout do not depend on the choice. The widest kernel
// the CPU runs is chosen when the package is initialised; KernelEnv picks another. The
// element-wise and Winograd-transform kernels are AVX2 assembly wherever the CPU has AVX2 and
// FMA, whichever micro-kernel runs, except that the "avx512" set brings 16-wide AVX-512F
// Winograd transforms with it (winograd16.go): KernelEnv set to avx2 or go turns those off too.

// KernelEnv is the environment variable that picks the GEMM micro-kernels: "avx512", "avx2",
// "go", or "auto" (or unset) for the widest the CPU runs. It is read once, when the package
// is initialised; engine.Open("go") reports a value it does not know or a kernel the CPU cannot
// run (the widest one runs instead).
const KernelEnv = "CATMARK_GO_KERNEL"

// kernelSet is one implementation of the GEMM micro-kernels, all for the mr×nr tile: micro,
// off and off2 are installed as microKernel, offKernel and offKernel2 (off2 may be nil).
type kernelSet struct {
	name      string // "avx512", "avx2" or "go"
	micro     func(k int, a, b, c []float32, ldc int)
	off, off2 func(k int, a, b []float32, off []int32, maxOff int, c []float32, ldc int)
}

// kernelSets are the micro-kernel sets this build has and the CPU runs, widest first; the last
// is plain Go.
var kernelSets = append(asmKernelSets(), kernelSet{name: "go", micro: goKernel, off: goOffKernel})

// findKernelSet returns the set named name ("auto" or "": the widest), or an error naming a
// set this build or CPU lacks.
func findKernelSet(name string) (kernelSet, error) {
	if name == "" || name == "auto" {
		return kernelSets[0], nil
	}
	for _, s := range kernelSets {
		if s.name == name {
			return s, nil
		}
	}
	switch name {
	case "avx512", "avx2":
		return kernelSet{}, fmt.Errorf("purego: micro-kernel %q: this CPU or build cannot run it (it runs %q)", name, kernelSets[0].name)
	}
	return kernelSet{}, fmt.Errorf("purego: micro-kernel %q: want auto, avx512, avx2 or go", name)
}

// kernelEnvErr is useKernelSet's error for KernelEnv's value at initialisation, or nil.
var kernelEnvErr error

func init() { kernelEnvErr = useKernelSet(os.Getenv(KernelEnv)) }

// useKernelSet installs the micro-kernel set named name (as findKernelSet), or the widest with
// findKernelSet's error. It is not safe to call while convolutions run.
func useKernelSet(name string) error {
	s, err := findKernelSet(name)
	if err != nil {
		s = kernelSets[0]
		err = fmt.Errorf("%s: %w", KernelEnv, err)
	}
	microKernel, offKernel, offKernel2, kernelName = s.micro, s.off, s.off2, s.name
	useWino16(s.name == "avx512")
	return err
}

// microKernel sets the mr×nr tile c[r·ldc + j] (r < mr, j < nr) to Σ_p a[p·mr + r]·b[p·nr + j]
// over p < k: a is k×mr and b k×nr, both packed row by row (see packA and bSource.pack). It is
// the installed kernel set's (useKernelSet).
var microKernel = goKernel

// kernelName names the installed micro-kernel set: "avx512", "avx2" or "go".
var kernelName = "go"

// goKernel is microKernel in plain Go: the tile in 2×4 blocks whose sums stay in registers.
func goKernel(k int, a, b, c []float32, ldc int) {
	a, b = a[:k*mr], b[:k*nr]
	_ = c[(mr-1)*ldc+nr-1]
	for r0 := 0; r0 < mr; r0 += 2 {
		for j0 := 0; j0 < nr; j0 += 4 {
			var c00, c01, c02, c03, c10, c11, c12, c13 float32
			for p := 0; p < k; p++ {
				ap := a[p*mr+r0 : p*mr+r0+2 : p*mr+r0+2]
				bp := b[p*nr+j0 : p*nr+j0+4 : p*nr+j0+4]
				a0, a1 := ap[0], ap[1]
				b0, b1, b2, b3 := bp[0], bp[1], bp[2], bp[3]
				c00 += a0 * b0
				c01 += a0 * b1
				c02 += a0 * b2
				c03 += a0 * b3
				c10 += a1 * b0
				c11 += a1 * b1
				c12 += a1 * b2
				c13 += a1 * b3
			}
			c0 := c[r0*ldc+j0 : r0*ldc+j0+4 : r0*ldc+j0+4]
			c1 := c[(r0+1)*ldc+j0 : (r0+1)*ldc+j0+4 : (r0+1)*ldc+j0+4]
			c0[0], c0[1], c0[2], c0[3] = c00, c01, c02, c03
			c1[0], c1[1], c1[2], c1[3] = c10, c11, c12, c13
		}
	}
}

// offKernel is microKernel with b given implicitly: row p of the k×nr matrix is
// b[off[p] : off[p]+nr], and maxOff ≥ every off[p] (the bounds check of the assembly kernels).
// It is the installed kernel set's (useKernelSet).
var offKernel = goOffKernel

// goOffKernel is offKernel in plain Go, blocked as goKernel.
func goOffKernel(k int, a, b []float32, off []int32, maxOff int, c []float32, ldc int) {
	a, off = a[:k*mr], off[:k]
	_ = c[(mr-1)*ldc+nr-1]
	for r0 := 0; r0 < mr; r0 += 2 {
		for j0 := 0; j0 < nr; j0 += 4 {
			var c00, c01, c02, c03, c10, c11, c12, c13 float32
			for p, o := range off {
				ap := a[p*mr+r0 : p*mr+r0+2 : p*mr+r0+2]
				bp := b[int(o)+j0 : int(o)+j0+4 : int(o)+j0+4]
				a0, a1 := ap[0], ap[1]
				b0, b1, b2, b3 := bp[0], bp[1], bp[2], bp[3]
				c00 += a0 * b0
				c01 += a0 * b1
				c02 += a0 * b2
				c03 += a0 * b3
				c10 += a1 * b0
				c11 += a1 * b1
				c12 += a1 * b2
				c13 += a1 * b3
			}
			c0 := c[r0*ldc+j0 : r0*ldc+j0+4 : r0*ldc+j0+4]
			c1 := c[(r0+1)*ldc+j0 : (r0+1)*ldc+j0+4 : (r0+1)*ldc+j0+4]
			c0[0], c0[1], c0[2], c0[3] = c00, c01, c02, c03
			c1[0], c1[1], c1[2], c1[3] = c10, c11, c12, c13
		}
	}
}

// scaleShift sets dst[i] = src[i]·s + t, then max(dst[i], 0) with relu (NaN becomes 0), for
// i < len(dst) (src at least as long). It is AVX2 assembly where the CPU has it, else
// goScaleShift.
var scaleShift = goScaleShift

func goScaleShift(dst, src []float32, s, t float32, relu bool) {
	src = src[:len(dst)]
	for i, v := range src {
		o := v*s + t
		if relu && !(o > 0) {
			o = 0
		}
		dst[i] = o
	}
}

// add sets dst[i] = a[i] + b[i], then max(dst[i], 0) with relu (NaN becomes 0), for
// i < len(dst) (a and b at least as long). It is AVX2 assembly where the CPU has it, else goAdd.
var add = goAdd

func goAdd(dst, a, b []float32, relu bool) {
	a, b = a[:len(dst)], b[:len(dst)]
	for i, v := range a {
		s := v + b[i]
		if relu && !(s > 0) {
			s = 0
		}
		dst[i] = s
	}
}

// maxWindow sets, for i < len(best), best[i] to the maximum of q[base+off[k]+i] over
// k < len(off) (offsets ≥ 0), taken in order k = 0, 1, … as the reference MaxPool does (a later value wins when
// greater, or when it is NaN), and argk[i] to the winning k. It is AVX2 assembly where the CPU
// has it, else goMaxWindow.
var maxWindow = goMaxWindow

func goMaxWindow(q []float32, base int, off []int32, best, argk []float32) {
	argk = argk[:len(best)]
	for i := range best {
		b, a := q[base+int(off[0])+i], 0
		for k := 1; k < len(off); k++ {
			if v := q[base+int(off[k])+i]; v > b || v != v {
				b, a = v, k
			}
		}
		best[i], argk[i] = b, float32(a)
	}
}

// offKernel2 is offKernel for the first two rows of the tile only (c needs two rows), for the
// last panel of a weight matrix whose row count leaves two (32, 128, 512 output channels); nil
// where the installed kernel set has none.
var offKernel2 func(k int, a, b []float32, off []int32, maxOff int, c []float32, ldc int)
