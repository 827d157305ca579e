//go:build amd64 && !purego

package purego

import "golang.org/x/sys/cpu"

func init() {
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		microKernel, kernelName = avx2Kernel, "avx2"
	}
}

// avx2Kernel is microKernel in AVX2 and FMA assembly: twelve 8-wide accumulators.
func avx2Kernel(k int, a, b, c []float32, ldc int) {
	_ = c[(mr-1)*ldc+nr-1]
	if k <= 0 {
		for r := 0; r < mr; r++ {
			clear(c[r*ldc : r*ldc+nr])
		}
		return
	}
	_, _ = a[k*mr-1], b[k*nr-1]
	kernel6x16(k, &a[0], &b[0], &c[0], ldc)
}

// kernel6x16 is avx2Kernel without bounds checks: k ≥ 1 steps, a k×6 and b k×16 packed, the
// 6×16 tile stored at c with row stride ldc floats.
//
//go:noescape
func kernel6x16(k int, a, b, c *float32, ldc int)
