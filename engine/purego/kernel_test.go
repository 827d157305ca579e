package purego

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/catmark/catmark/engine"
	"github.com/catmark/catmark/engine/enginetest"
	"github.com/catmark/catmark/engine/ref"
)

// withKernelSet installs the micro-kernel set named name for the rest of the test.
func withKernelSet(t testing.TB, name string) {
	t.Helper()
	saved := kernelName
	if err := useKernelSet(name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = useKernelSet(saved) })
}

// kernelDepths are the depths the kernel tests use: the edge cases of the assembly loops
// (none, one, odd and even counts around their unroll factors) and random ones up to 300.
func kernelDepths(rng *rand.Rand) []int {
	ks := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 31, 64}
	for range 6 {
		ks = append(ks, 1+rng.IntN(300))
	}
	return ks
}

// checkTile compares the rows×nr tile at c (row stride ldc) with want's first rows rows, and
// checks that the rest of c still holds the guard values it was filled from.
func checkTile(t *testing.T, what string, c, guard, want []float32, rows, ldc int) {
	t.Helper()
	got := make([]float32, rows*nr)
	for r := 0; r < rows; r++ {
		copy(got[r*nr:(r+1)*nr], c[r*ldc:])
	}
	if e, err := enginetest.MaxRelErr(got, want[:rows*nr]); err != nil || e > 1e-5 {
		t.Errorf("%s: error %.3g %v", what, e, err)
	}
	for i := range c {
		if r, j := i/ldc, i%ldc; (r >= rows || j >= nr) && c[i] != guard[i] {
			t.Errorf("%s: wrote c[%d] (row %d, column %d) outside the %d×%d tile", what, i, r, j, rows, nr)
			return
		}
	}
}

// TestKernelSets checks every micro-kernel set the CPU runs (microKernel, offKernel and
// offKernel2) against the plain-Go kernels on random panels, at the depths of kernelDepths and
// several row strides, and that nothing outside the tile is written.
func TestKernelSets(t *testing.T) {
	for _, s := range kernelSets {
		t.Run(s.name, func(t *testing.T) {
			rng := enginetest.NewRand(7)
			b := enginetest.Rand(rng, 700, 1)
			for _, k := range kernelDepths(rng) {
				for _, ldc := range []int{nr, nr + 5, 37} {
					a, bp := enginetest.Rand(rng, k*mr, 1), enginetest.Rand(rng, k*nr, 1)
					guard := enginetest.Rand(rng, mr*ldc, 1)
					want := make([]float32, mr*nr)
					goKernel(k, a, bp, want, nr)
					c := slices.Clone(guard)
					s.micro(k, a, bp, c, ldc)
					checkTile(t, fmt.Sprintf("micro k=%d ldc=%d", k, ldc), c, guard, want, mr, ldc)

					off := make([]int32, k)
					maxOff := 0
					for p := range off {
						off[p] = int32(rng.IntN(len(b) - nr + 1)) // repeats and gaps
						maxOff = max(maxOff, int(off[p]))
					}
					goOffKernel(k, a, b, off, maxOff, want, nr)
					c = slices.Clone(guard)
					s.off(k, a, b, off, maxOff, c, ldc)
					checkTile(t, fmt.Sprintf("off k=%d ldc=%d", k, ldc), c, guard, want, mr, ldc)
					if s.off2 != nil {
						c = slices.Clone(guard)
						s.off2(k, a, b, off, maxOff, c, ldc)
						checkTile(t, fmt.Sprintf("off2 k=%d ldc=%d", k, ldc), c, guard, want, 2, ldc)
					}
				}
			}
		})
	}
}

// TestAgainstRefKernelSets runs the conformance suite, on the usual paths and with every 3×3
// stride-1 convolution as Winograd, with each assembly micro-kernel set the CPU runs other than
// the installed one (TestAgainstRef and TestWinogradAgainstRef run that one, and the plain-Go
// kernels have tests of their own).
func TestAgainstRefKernelSets(t *testing.T) {
	for _, s := range kernelSets {
		if s.name == kernelName || s.name == "go" {
			continue
		}
		t.Run(s.name, func(t *testing.T) {
			withKernelSet(t, s.name)
			t.Run("gemm", func(t *testing.T) { enginetest.CompareBackends(t, New(), ref.New()) })
			t.Run("winograd", func(t *testing.T) { enginetest.CompareBackends(t, withWinograd(), ref.New()) })
		})
	}
}

// TestKernelEnv checks findKernelSet's names, that useKernelSet installs the set it names, and
// that engine.Open("go") reports a bad KernelEnv; when KernelEnv is set, that the process runs
// the kernel it names.
func TestKernelEnv(t *testing.T) {
	if v := os.Getenv(KernelEnv); v != "" && v != "auto" && Kernel() != v {
		t.Errorf("%s=%s, but the micro-kernel is %q", KernelEnv, v, Kernel())
	}
	has := map[string]bool{}
	for _, s := range kernelSets {
		has[s.name] = true
	}
	for _, tc := range []struct {
		name, want string
		ok         bool
	}{
		{"", kernelSets[0].name, true},
		{"auto", kernelSets[0].name, true},
		{"go", "go", true},
		{"avx2", "avx2", has["avx2"]},
		{"avx512", "avx512", has["avx512"]},
		{"sse4", "", false},
		{"AVX2", "", false},
	} {
		s, err := findKernelSet(tc.name)
		switch {
		case tc.ok && (err != nil || s.name != tc.want):
			t.Errorf("findKernelSet(%q) = %q, %v; want %q", tc.name, s.name, err, tc.want)
		case !tc.ok && (err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q", tc.name))):
			t.Errorf("findKernelSet(%q): error %v, want one naming the value", tc.name, err)
		}
	}

	withKernelSet(t, "go")
	if Kernel() != "go" || microKernel == nil || offKernel == nil || offKernel2 != nil {
		t.Errorf(`useKernelSet("go"): kernel %q, offKernel2 set %v`, Kernel(), offKernel2 != nil)
	}
	if err := useKernelSet("sse4"); err == nil || !strings.Contains(err.Error(), KernelEnv) || Kernel() != kernelSets[0].name {
		t.Errorf(`useKernelSet("sse4"): error %v and kernel %q; want an error naming %s and %q`, err, Kernel(), KernelEnv, kernelSets[0].name)
	}

	defer func(err error) { kernelEnvErr = err }(kernelEnvErr)
	kernelEnvErr = errors.New(KernelEnv + `: purego: micro-kernel "sse4": want auto, avx512, avx2 or go`)
	if _, err := engine.Open("go"); err == nil || !strings.Contains(err.Error(), KernelEnv) {
		t.Errorf("engine.Open with a bad %s: error %v, want one naming it", KernelEnv, err)
	}
}

// BenchmarkMicroKernel times one call of each micro-kernel set's microKernel and offKernel on
// panels in cache, at the depths of a narrow and a wide layer's GEMMs, and reports GFLOP/s (two
// per multiply-add):
//
//	go test ./engine/purego -run '^$' -bench MicroKernel
func BenchmarkMicroKernel(b *testing.B) {
	for _, s := range kernelSets {
		for _, k := range []int{64, 288} {
			rng := enginetest.NewRand(9)
			a, bp := enginetest.Rand(rng, k*mr, 1), enginetest.Rand(rng, k*nr, 1)
			c := make([]float32, mr*nr)
			off := make([]int32, k)
			for p := range off {
				off[p] = int32(p * nr)
			}
			flops := func(b *testing.B) {
				b.ReportMetric(2*float64(mr*nr*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			}
			b.Run(fmt.Sprintf("%s/plain/k=%d", s.name, k), func(b *testing.B) {
				for b.Loop() {
					s.micro(k, a, bp, c, nr)
				}
				flops(b)
			})
			b.Run(fmt.Sprintf("%s/off/k=%d", s.name, k), func(b *testing.B) {
				for b.Loop() {
					s.off(k, a, bp, off, (k-1)*nr, c, nr)
				}
				flops(b)
			})
		}
	}
}
