//go:build amd64 && !purego

package purego

import "golang.org/x/sys/cpu"

var (
	// hasAVX2FMA reports whether the CPU (and the OS) runs the AVX2 and FMA kernels.
	hasAVX2FMA = cpu.X86.HasAVX2 && cpu.X86.HasFMA
	// hasAVX512 reports whether it runs the AVX-512 micro-kernels, which use AVX-512F alone
	// (EVEX FMA, embedded broadcasts, zmm loads and stores).
	hasAVX512 = hasAVX2FMA && cpu.X86.HasAVX512F
)

// asmKernelSets returns the assembly micro-kernel sets the CPU runs, widest first: AVX-512,
// then AVX2.
func asmKernelSets() []kernelSet {
	var s []kernelSet
	if hasAVX512 {
		s = append(s, kernelSet{name: "avx512", micro: checked(kernel6x16avx512), off: checkedOff(kernel6x16offavx512), off2: avx512OffKernel2})
	}
	if hasAVX2FMA {
		s = append(s, kernelSet{name: "avx2", micro: checked(kernel6x16), off: checkedOff(kernel6x16off), off2: avx2OffKernel2})
	}
	return s
}

// checked returns microKernel's bounds checks (and its k ≤ 0 case) around an assembly tile
// kernel.
func checked(asm func(k int, a, b, c *float32, ldc int)) func(k int, a, b, c []float32, ldc int) {
	return func(k int, a, b, c []float32, ldc int) {
		_ = c[(mr-1)*ldc+nr-1]
		if k <= 0 {
			for r := 0; r < mr; r++ {
				clear(c[r*ldc : r*ldc+nr])
			}
			return
		}
		_, _ = a[k*mr-1], b[k*nr-1]
		asm(k, &a[0], &b[0], &c[0], ldc)
	}
}

// checkedOff is checked for offKernel's assembly kernels.
func checkedOff(asm func(k int, a, b *float32, off *int32, c *float32, ldc int)) func(k int, a, b []float32, off []int32, maxOff int, c []float32, ldc int) {
	return func(k int, a, b []float32, off []int32, maxOff int, c []float32, ldc int) {
		_ = c[(mr-1)*ldc+nr-1]
		if k <= 0 {
			for r := 0; r < mr; r++ {
				clear(c[r*ldc : r*ldc+nr])
			}
			return
		}
		_, _, _ = a[k*mr-1], off[k-1], b[maxOff+nr-1]
		asm(k, &a[0], &b[0], &off[0], &c[0], ldc)
	}
}

// kernel6x16 is the AVX2 and FMA micro-kernel (twelve 8-wide accumulators) without bounds checks: k ≥ 1 steps, a k×6 and b k×16 packed, the
// 6×16 tile stored at c with row stride ldc floats.
//
//go:noescape
func kernel6x16(k int, a, b, c *float32, ldc int)

// kernel6x16off is kernel6x16 with b given implicitly, as offKernel's.
//
//go:noescape
func kernel6x16off(k int, a, b *float32, off *int32, c *float32, ldc int)

func init() {
	if hasAVX2FMA {
		scaleShift, add = avx2ScaleShift, avx2Add
	}
}

// avx2ScaleShift is scaleShift with AVX2 and FMA for all but the last len(dst) mod 8 values.
func avx2ScaleShift(dst, src []float32, s, t float32, relu bool) {
	src = src[:len(dst)]
	n := len(dst) &^ 7
	if n > 0 {
		scaleShift8(&dst[0], &src[0], n, s, t, relu)
	}
	goScaleShift(dst[n:], src[n:], s, t, relu)
}

// avx2Add is add with AVX2 for all but the last len(dst) mod 8 values.
func avx2Add(dst, a, b []float32, relu bool) {
	a, b = a[:len(dst)], b[:len(dst)]
	n := len(dst) &^ 7
	if n > 0 {
		add8(&dst[0], &a[0], &b[0], n, relu)
	}
	goAdd(dst[n:], a[n:], b[n:], relu)
}

//go:noescape
func scaleShift8(dst, src *float32, n int, s, t float32, relu bool)

//go:noescape
func add8(dst, a, b *float32, n int, relu bool)

func init() {
	if hasAVX2FMA {
		maxWindow = avx2MaxWindow
	}
}

// avx2MaxWindow is maxWindow with AVX2, eight outputs at a time; when len(best) is not a
// multiple of 8 the last eight are taken again (overlapping), and fewer than 8 in Go.
func avx2MaxWindow(q []float32, base int, off []int32, best, argk []float32) {
	argk = argk[:len(best)]
	m := len(best)
	if m < 8 || len(off) == 0 {
		goMaxWindow(q, base, off, best, argk)
		return
	}
	lo, hi := off[0], off[0]
	for _, o := range off {
		lo, hi = min(lo, o), max(hi, o)
	}
	if lo < 0 {
		panic("purego: maxWindow: negative offset")
	}
	_ = q[base+int(hi)+m-1] // every value read lies in q
	n := m &^ 7
	maxWindow8(n, &q[base], &off[0], len(off), &best[0], &argk[0])
	if n < m {
		maxWindow8(8, &q[base+m-8], &off[0], len(off), &best[m-8], &argk[m-8])
	}
}

//go:noescape
func maxWindow8(n int, q *float32, off *int32, kk int, best, argk *float32)

// avx2OffKernel2 is offKernel2 in AVX2 and FMA assembly.
func avx2OffKernel2(k int, a, b []float32, off []int32, maxOff int, c []float32, ldc int) {
	_ = c[ldc+nr-1]
	if k <= 0 {
		clear(c[:nr])
		clear(c[ldc : ldc+nr])
		return
	}
	_, _, _ = a[k*mr-1], off[k-1], b[maxOff+nr-1]
	kernel2x16off(k, &a[0], &b[0], &off[0], &c[0], ldc)
}

// kernel2x16off is avx2OffKernel2 without bounds checks.
//
//go:noescape
func kernel2x16off(k int, a, b *float32, off *int32, c *float32, ldc int)

// kernel6x16avx512 is the AVX-512F micro-kernel (one zmm register per tile row, two steps of k
// at a time) without bounds checks: k ≥ 1 steps, a k×6 and b k×16
// packed, the 6×16 tile stored at c with row stride ldc floats.
//
//go:noescape
func kernel6x16avx512(k int, a, b, c *float32, ldc int)

// kernel6x16offavx512 is kernel6x16avx512 with b given implicitly, as offKernel's.
//
//go:noescape
func kernel6x16offavx512(k int, a, b *float32, off *int32, c *float32, ldc int)

// avx512OffKernel2 is offKernel2 in AVX-512F assembly.
func avx512OffKernel2(k int, a, b []float32, off []int32, maxOff int, c []float32, ldc int) {
	_ = c[ldc+nr-1]
	if k <= 0 {
		clear(c[:nr])
		clear(c[ldc : ldc+nr])
		return
	}
	_, _, _ = a[k*mr-1], off[k-1], b[maxOff+nr-1]
	kernel2x16offavx512(k, &a[0], &b[0], &off[0], &c[0], ldc)
}

// kernel2x16offavx512 is avx512OffKernel2 without bounds checks.
//
//go:noescape
func kernel2x16offavx512(k int, a, b *float32, off *int32, c *float32, ldc int)
