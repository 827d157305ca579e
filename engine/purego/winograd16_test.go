package purego

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/catmark/catmark/engine/enginetest"
)

// has16 reports whether this build and CPU run the 16-wide transforms (the "avx512" kernel set).
func has16() bool {
	return slices.ContainsFunc(kernelSets, func(s kernelSet) bool { return s.name == "avx512" })
}

// wino16Settings are the settings of the 16-wide transforms a test runs: on where this build and
// CPU have them, and off.
func wino16Settings() []bool {
	if has16() {
		return []bool{true, false}
	}
	return []bool{false}
}

// withWino16 installs (on) or removes the 16-wide transforms for the rest of the test.
func withWino16(t testing.TB, on bool) {
	t.Helper()
	saved := winoIn16 != nil
	useWino16(on)
	t.Cleanup(func() { useWino16(saved) })
}

func nan32() float32 { return float32(math.NaN()) }

func wideName(on bool) string {
	if on {
		return "wide16"
	}
	return "wide8"
}

// asm16 returns the assembly 16-wide transforms, skipping the test where there are none.
func asm16(t testing.TB) (
	func([]float32, []int32, int, []float32, int, *[winoP * 16]float32),
	func([]float32, int, float32, *[winoM * winoM * 16]float32, *[winoP * 16]float32),
	func([]float32, int, []float32, int),
	func(*[16 * winoM * winoM * 16]float32, []float32, *[16]int, int, int),
) {
	t.Helper()
	if !has16() {
		t.Skip("no AVX-512F transforms in this build or on this CPU")
	}
	return asmWino16()
}

// firstDiff reports the first index where got and want differ (NaNs equal), or -1.
func firstDiff(got, want []float32) int {
	for i := range want {
		if got[i] != want[i] && !(got[i] != got[i] && want[i] != want[i]) {
			return i
		}
	}
	return -1
}

// TestGoWino16 checks the plain-Go 16-wide transforms against two calls of the 8-wide ones (the
// same arithmetic: equal bit for bit), the first on lanes 0–7, the second on lanes 8–15.
func TestGoWino16(t *testing.T) {
	rng := enginetest.NewRand(21)
	const ld, stride = 31, 37
	x := enginetest.Rand(rng, 420+5*ld+8, 1)
	off := []int32{0, 7, 100, 3, 250, 180, 33, 61, 420, 1, 2, 64, 65, 300, 9, 211}
	var tmp16 [winoP * 16]float32
	var tmp8 [winoP * 8]float32
	got, want := nans((winoP-1)*stride+16), nans((winoP-1)*stride+16)
	goWinoIn16(x, off, ld, got, stride, &tmp16)
	goWinoIn8(x, off[:8], ld, want, stride, &tmp8)
	goWinoIn8(x, off[8:], ld, want[8:], stride, &tmp8)
	if i := firstDiff(got, want); i >= 0 {
		t.Errorf("goWinoIn16 value %d = %v, want %v", i, got[i], want[i])
	}
	m := enginetest.Rand(rng, (winoP-1)*stride+16, 1)
	var out16 [winoM * winoM * 16]float32
	var out8 [winoM * winoM * 8]float32
	goWinoOut16(m, stride, 0.5, &out16, &tmp16)
	for h := 0; h < 16; h += 8 {
		goWinoOut8(m[h:], stride, 0.5, &out8, &tmp8)
		for px := range winoM * winoM {
			for l := range 8 {
				if g, w := out16[px*16+h+l], out8[px*8+l]; g != w {
					t.Fatalf("goWinoOut16 pixel %d lane %d = %v, want %v", px, h+l, g, w)
				}
			}
		}
	}
}

// TestAsmWino16 checks each AVX-512F routine against its plain-Go definition on random data:
// the transforms at scattered offsets (the last patch ending where x ends: the edge of the
// padded input) and strides wider than 16, within 1e-6 of the largest magnitude (equal bit for
// bit to the AVX2 transforms, whose arithmetic they repeat); transpose16 with odd strides and
// storeBlocked16 into a y that ends at the last tile's last channel, both exactly.
func TestAsmWino16(t *testing.T) {
	in, out, tr, st := asm16(t)
	rng := enginetest.NewRand(22)
	const ld, stride = 29, 19
	off := []int32{0, 7, 100, 3, 250, 180, 33, 61, 400, 1, 2, 64, 65, 300, 9, 211}
	x := enginetest.Rand(rng, 400+5*ld+8, 1) // lane 8's patch reads to the very end
	var tmp [winoP * 16]float32
	var tmp8 [winoP * 8]float32

	got, want := nans((winoP-1)*stride+16), nans((winoP-1)*stride+16)
	in(x, off, ld, got, stride, &tmp)
	goWinoIn16(x, off, ld, want, stride, &tmp)
	if e, err := enginetest.MaxRelErr(got, want); err != nil || e > 1e-6 {
		t.Errorf("winoIn16: error %.3g of max |want|, %v", e, err)
	}
	{ // the CPU has AVX-512F, so winoIn8 and winoOut8 are AVX2
		want8 := nans(len(got))
		winoIn8(x, off[:8], ld, want8, stride, &tmp8)
		winoIn8(x, off[8:], ld, want8[8:], stride, &tmp8)
		if i := firstDiff(got, want8); i >= 0 {
			t.Errorf("winoIn16 value %d = %v, AVX2 winoIn8 %v", i, got[i], want8[i])
		}
	}

	m := enginetest.Rand(rng, (winoP-1)*stride+16, 1)
	var gotOut, wantOut [winoM * winoM * 16]float32
	out(m, stride, -0.25, &gotOut, &tmp)
	goWinoOut16(m, stride, -0.25, &wantOut, &tmp)
	if e, err := enginetest.MaxRelErr(gotOut[:], wantOut[:]); err != nil || e > 1e-6 {
		t.Errorf("winoOut16: error %.3g of max |want|, %v", e, err)
	}
	{ // the CPU has AVX-512F, so winoIn8 and winoOut8 are AVX2
		var out8 [winoM * winoM * 8]float32
		for h := 0; h < 16; h += 8 {
			winoOut8(m[h:], stride, -0.25, &out8, &tmp8)
			for px := range winoM * winoM {
				for l := range 8 {
					if g, w := gotOut[px*16+h+l], out8[px*8+l]; g != w {
						t.Fatalf("winoOut16 pixel %d lane %d = %v, AVX2 winoOut8 %v", px, h+l, g, w)
					}
				}
			}
		}
	}

	for _, s := range []struct{ lds, ldd int }{{16, 16}, {17, 23}, {21, 16}, {256, 40}} {
		src := enginetest.Rand(rng, 15*s.lds+16, 1)
		got, want := nans(15*s.ldd+16), nans(15*s.ldd+16)
		tr(src, s.lds, got, s.ldd)
		goTranspose16(src, s.lds, want, s.ldd)
		for i := range 16 {
			for j := range 16 {
				if want[j*s.ldd+i] != src[i*s.lds+j] {
					t.Fatalf("goTranspose16 %+v: dst[%d][%d] = %v, want %v", s, j, i, want[j*s.ldd+i], src[i*s.lds+j])
				}
			}
		}
		if i := firstDiff(got, want); i >= 0 {
			t.Errorf("transpose16 %+v: value %d = %v, want %v", s, i, got[i], want[i])
		}
	}

	// storeBlocked16: sixteen tiles of a 4-row, 20-pixel nChw16c plane in two images (ldr 320,
	// ldc 16), in scrambled order; the last tile is at the plane's end.
	outs := new([16 * winoM * winoM * 16]float32)
	copy(outs[:], enginetest.Rand(rng, len(outs), 1))
	const ldr, ldc = 20 * 16, 16
	var offs [16]int
	for l := range offs {
		img, tx := (l*7%16)/5, (l*7%16)%5
		offs[l] = img*4*ldr + tx*winoM*ldc
	}
	n := slices.Max(offs[:]) + (winoM-1)*ldr + (winoM-1)*ldc + 16 // y ends with the last store
	gotY, wantY := nans(n), nans(n)
	st(outs, gotY, &offs, ldr, ldc)
	goStoreBlocked16(outs, wantY, &offs, ldr, ldc)
	if i := firstDiff(gotY, wantY); i >= 0 {
		t.Errorf("storeBlocked16 value %d = %v, want %v", i, gotY[i], wantY[i])
	}
	for c := range 16 { // goStoreBlocked16 itself: tile 5's pixel (2, 3), channel c
		px := 2*winoM + 3
		if g, w := wantY[offs[5]+2*ldr+3*ldc+c], outs[(c*16+px)*16+5]; g != w {
			t.Fatalf("goStoreBlocked16 channel %d = %v, want %v", c, g, w)
		}
	}
}

// TestWino16Switch checks that the kernel sets install the 16-wide transforms with "avx512"
// only, so that CATMARK_GO_KERNEL=avx2 or go turns them off.
func TestWino16Switch(t *testing.T) {
	saved := kernelName
	t.Cleanup(func() { _ = useKernelSet(saved) })
	for _, s := range kernelSets {
		if err := useKernelSet(s.name); err != nil {
			t.Fatal(err)
		}
		on := winoIn16 != nil
		all := on && winoOut16 != nil && transpose16 != nil && storeBlocked16 != nil
		none := winoIn16 == nil && winoOut16 == nil && transpose16 == nil && storeBlocked16 == nil
		if want := s.name == "avx512"; on != want || !(all || none) {
			t.Errorf("kernel set %q: 16-wide winoIn16 %v, all four %v, none %v; want on %v", s.name, on, all, none, want)
		}
	}
}

// TestWinograd16Paths runs the blocked tests' geometries (blocks 8 and 16, forward and input
// gradient) and the plain Winograd path against the reference with the 16-wide transforms on
// and off, and checks that both settings agree within 1e-6.
func TestWinograd16Paths(t *testing.T) {
	for _, g := range blockedGeoms() {
		oh, ow := g.Out()
		x, w, bias, dy, refY, refDX := refCase(g)
		u, ub := WinogradFilters(w, g.O, g.C, false), WinogradFilters(w, g.O, g.C, true)
		results := map[bool][][]float32{}
		for _, on := range wino16Settings() {
			t.Run(fmt.Sprintf("%+v/%s", g, wideName(on)), func(t *testing.T) {
				withWino16(t, on)
				var res [][]float32
				y := nans(g.N * g.O * oh * ow)
				WinogradForward(g, x, u, bias, y)
				dx := nans(len(x))
				WinogradBackwardData(g, dy, ub, dx)
				res = append(res, y, dx)
				for _, c := range []struct {
					what      string
					got, want []float32
				}{{"plain forward", y, refY}, {"plain backward data", dx, refDX}} {
					if e, err := enginetest.MaxRelErr(c.got, c.want); err != nil || e > enginetest.Tolerance {
						t.Errorf("%s: relative error %g (%v)", c.what, e, err)
					}
				}
				for _, bs := range []int{8, 16} {
					yb := nans(blockedLen(g.N, g.O, oh, ow, bs))
					WinogradForwardBlocked(g, bs, toBlocked(x, g.N, g.C, g.H, g.W, bs, nan32()), u, bias, yb)
					dxb := nans(blockedLen(g.N, g.C, g.H, g.W, bs))
					WinogradBackwardDataBlocked(g, bs, toBlocked(dy, g.N, g.O, oh, ow, bs, nan32()), ub, dxb)
					y, yPad := fromBlocked(yb, g.N, g.O, oh, ow, bs)
					dx, dxPad := fromBlocked(dxb, g.N, g.C, g.H, g.W, bs)
					if yPad != 0 || dxPad != 0 {
						t.Errorf("block %d: padding channels hold up to %g and %g, want 0", bs, yPad, dxPad)
					}
					for _, c := range []struct {
						what      string
						got, want []float32
					}{{"forward", y, refY}, {"backward data", dx, refDX}} {
						if e, err := enginetest.MaxRelErr(c.got, c.want); err != nil || e > enginetest.Tolerance {
							t.Errorf("block %d %s: relative error %g (%v)", bs, c.what, e, err)
						}
					}
					res = append(res, y, dx)
				}
				results[on] = res
			})
		}
		if on, off := results[true], results[false]; on != nil && off != nil {
			for i := range off {
				if e, err := enginetest.MaxRelErr(on[i], off[i]); err != nil || e > 1e-6 {
					t.Errorf("%+v: result %d, 16-wide against 8-wide: relative error %g (%v)", g, i, e, err)
				}
			}
		}
	}
}

// BenchmarkWinoTransforms16 times the 16-wide transforms against the 8-wide ones on the same
// work, sixteen tiles (one nr panel) of one channel, or of sixteen channels for the stores, on
// data in cache:
//
//	go test ./engine/purego -run '^$' -bench WinoTransforms16 -benchtime 200000x
func BenchmarkWinoTransforms16(b *testing.B) {
	if !has16() {
		b.Skip("no AVX-512F transforms in this build or on this CPU")
	}
	in16, out16, tr16, st16 := asmWino16()
	const ld, stride = 34, 32*nr + nr
	x := enginetest.Rand(enginetest.NewRand(8), 34*34+8, 1)
	off := make([]int32, 16)
	for l := range off {
		off[l] = int32(4 * l % 32)
	}
	dst := make([]float32, winoP*stride)
	var tmp8 [winoP * 8]float32
	var tmp16 [winoP * 16]float32
	var o8 [winoM * winoM * 8]float32
	var o16 [winoM * winoM * 16]float32
	b.Run("in/8x2", func(b *testing.B) {
		for b.Loop() {
			winoIn8(x, off[:8], ld, dst, stride, &tmp8)
			winoIn8(x, off[8:], ld, dst[8:], stride, &tmp8)
		}
	})
	b.Run("in/16", func(b *testing.B) {
		for b.Loop() {
			in16(x, off, ld, dst, stride, &tmp16)
		}
	})
	b.Run("out/8x2", func(b *testing.B) {
		for b.Loop() {
			winoOut8(dst, stride, 1, &o8, &tmp8)
			winoOut8(dst[8:], stride, 1, &o8, &tmp8)
		}
	})
	b.Run("out/16", func(b *testing.B) {
		for b.Loop() {
			out16(dst, stride, 1, &o16, &tmp16)
		}
	})
	// A 16×16 block of nChw16c pixels by channels into padded planes, as padBlocked moves it.
	src := enginetest.Rand(enginetest.NewRand(9), 16*16, 1)
	planes := make([]float32, 15*1200+16)
	b.Run("transpose/8x4", func(b *testing.B) {
		for b.Loop() {
			for i := 0; i < 16; i += 8 {
				for c := 0; c < 16; c += 8 {
					transpose8(src[i*16+c:], 16, planes[c*1200+i:], 1200)
				}
			}
		}
	})
	b.Run("transpose/16", func(b *testing.B) {
		for b.Loop() {
			tr16(src, 16, planes, 1200)
		}
	})
	// Sixteen channels of sixteen whole tiles into a 64×64 nChw16c plane.
	const ldr, ldc = 64 * 16, 16
	y := make([]float32, 64*ldr)
	var offs [16]int
	for l := range offs {
		offs[l] = l/4*winoM*ldr + l%4*winoM*ldc
	}
	outs16 := new([16 * winoM * winoM * 16]float32)
	var outs8 [8 * winoM * winoM * 8]float32
	b.Run("store/8x4", func(b *testing.B) {
		if storeBlocked8 == nil {
			b.Skip("no AVX2 storeBlocked8")
		}
		var o [8]int
		for b.Loop() {
			for h := 0; h < 16; h += 8 {
				for c := 0; c < 16; c += 8 {
					for l := range o {
						o[l] = offs[h+l] + c
					}
					storeBlocked8(&outs8, y, &o, ldr, ldc)
				}
			}
		}
	})
	b.Run("store/16", func(b *testing.B) {
		for b.Loop() {
			st16(outs16, y, &offs, ldr, ldc)
		}
	})
}

// TestOutputBlocked16Split checks outputBlocked16Split against the eight-wide outputBlocked on
// the channel ranges the tasks may get (starting and ending at multiples of 24, or at the last
// channel) for a whole panel of tiles and for a last panel with partial tiles: the results must
// be equal bit for bit, and no value outside the range's blocks may be written.
func TestOutputBlocked16Split(t *testing.T) {
	if !has16() {
		t.Skip("no AVX-512F transforms in this build or on this CPU")
	}
	withWino16(t, true)
	rng := enginetest.NewRand(23)
	for _, c := range []struct{ n, h, w, o int }{{2, 13, 10, 30}, {1, 19, 18, 50}, {3, 8, 8, 72}} {
		g := newWinoGeom(c.n, 4, c.h, c.w, c.o, 1)
		bias := enginetest.Rand(rng, c.o, 1)
		var ranges [][2]int
		for o0 := 0; o0 < c.o; o0 += 24 {
			for o1 := o0 + 24; o1 < c.o+24; o1 += 24 {
				ranges = append(ranges, [2]int{o0, min(o1, c.o)})
			}
		}
		for t0 := 0; t0 < g.tiles; t0 += nr {
			for _, r := range ranges {
				o0, o1 := r[0], r[1]
				mStride := (o1-o0)*nr + nr
				bf := &winoBufs{m: enginetest.Rand(rng, winoP*mStride, 1), mStride: mStride}
				n := blockedLen(c.n, c.o, g.oh, g.ow, 16)
				got, want := nans(n), nans(n)
				g.outputBlocked(bf, want, bias, 16, t0, o0, o0, o1)
				g.outputBlocked16Split(bf, got, bias, t0, o0, o1)
				if i := firstDiff(got, want); i >= 0 {
					t.Errorf("%+v tiles from %d, channels [%d, %d): value %d = %v, want %v", c, t0, o0, o1, i, got[i], want[i])
				}
			}
		}
	}
}
