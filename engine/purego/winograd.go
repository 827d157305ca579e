package purego

import (
	"fmt"
	"math"
	"os"
)

// Winograd convolution F(4×4, 3×3) (Lavin and Gray, "Fast Algorithms for Convolutional Neural
// Networks", 2016) for 3×3 stride-1 convolutions.
//
// Each 4×4 tile of output pixels is computed from the 6×6 input patch under it as
//
//	Y = Aᵀ [ Σ_c (G g_{o,c} Gᵀ) ⊙ (Bᵀ d_c B) ] A
//
// with the interpolation points 0, ±1, ±2 and ∞ (the matrices Bᵀ, G and Aᵀ of winoIn, winoFilter1
// and winoOut1). Over all tiles and channels that is, for each of the 36 transform points ξ, the
// GEMM M_ξ = U_ξ · V_ξ of the transformed filters U_ξ (O×C) and the transformed input V_ξ
// (C×tiles): 36·C·O multiply-adds per tile of 16 outputs instead of 144·C·O, a factor 4 fewer.
// The GEMMs run on microKernel, 16 tiles (one nr-column panel) at a time: a task transforms the
// input of its 16 tiles straight into packed B panels, runs the 36 GEMMs against the cached,
// packed U_ξ, and transforms the 36 results back into the output, all within its own L2-sized
// buffers.
//
// The price is rounding: the transforms' coefficients (up to 8 in Aᵀ, 5 in Bᵀ) enlarge float32's
// error: on the detector's 3×3 layers (32 to 128 channels) it reaches 4.5e-6 to 7.75e-6 of the
// output's largest magnitude, against at most 1.05e-6 for the direct convolution, both well
// within the engine's conformance tolerance of 1e-4 (see TestWinogradError).

// Winograd selects when Conv2D and Conv2DBackward's input gradient use Winograd F(4×4, 3×3).
type Winograd int

const (
	// WinogradAuto uses Winograd where useWinograd's rule expects it to pay.
	WinogradAuto Winograd = iota
	// WinogradOff never uses it.
	WinogradOff
	// WinogradOn uses it for every 3×3 stride-1 convolution, whatever its size.
	WinogradOn
)

// WinogradEnv is the environment variable that sets the Winograd mode of the backend
// engine.Open("go") returns: "auto" (or unset), "off" or "on".
const WinogradEnv = "CATMARK_WINOGRAD"

// ParseWinograd returns the mode named "auto" (or ""), "off" or "on".
func ParseWinograd(s string) (Winograd, error) {
	switch s {
	case "", "auto":
		return WinogradAuto, nil
	case "off":
		return WinogradOff, nil
	case "on":
		return WinogradOn, nil
	}
	return 0, fmt.Errorf("purego: Winograd mode %q: want auto, off or on", s)
}

// String returns "auto", "off" or "on".
func (m Winograd) String() string {
	switch m {
	case WinogradAuto:
		return "auto"
	case WinogradOff:
		return "off"
	case WinogradOn:
		return "on"
	}
	return fmt.Sprintf("Winograd(%d)", int(m))
}

// winogradFromEnv returns the mode WinogradEnv names.
func winogradFromEnv() (Winograd, error) {
	m, err := ParseWinograd(os.Getenv(WinogradEnv))
	if err != nil {
		return 0, fmt.Errorf("%s: %w", WinogradEnv, err)
	}
	return m, nil
}

// SetWinograd sets when the backend uses Winograd convolutions (WinogradAuto after New). Call
// it before the backend's first operation.
func (b *Backend) SetWinograd(m Winograd) { b.winograd = m }

// The thresholds of useWinograd's automatic rule.
const (
	winoMinChannels = 16     // input and output channels at least
	winoMinSide     = 8      // output height and width at least
	winoMinTiles    = 2 * nr // 4×4 output tiles over the batch at least
)

// useWinograd reports whether a convolution of geometry g runs as Winograd F(4×4, 3×3). Only
// 3×3 stride-1 convolutions can (dilation 1 and one group are all the engine has). WinogradOn
// takes every one of them; WinogradAuto those with at least winoMinChannels input and output
// channels, an output at least winoMinSide square and at least winoMinTiles tiles over the batch
// (the 36 GEMMs' columns: fewer leave the micro-kernel's 16-column panels mostly empty, and
// narrow layers spend their time in the transforms).
func (b *Backend) useWinograd(g convGeom) bool { return b.winograd.use(g) }

func (m Winograd) use(g convGeom) bool {
	if g.k != 3 || g.stride != 1 || m == WinogradOff {
		return false
	}
	th, tw := (g.oh+winoM-1)/winoM, (g.ow+winoM-1)/winoM
	if g.n*g.c*(winoM*th+2)*(winoM*tw+2) >= math.MaxInt32 {
		return false // winoConv's padded input would outgrow its int32 offsets
	}
	if m == WinogradOn {
		return true
	}
	tiles := g.n * th * tw
	return g.c >= winoMinChannels && g.o >= winoMinChannels && g.oh >= winoMinSide && g.ow >= winoMinSide && tiles >= winoMinTiles
}

const (
	winoM = 4             // output tile side
	winoA = winoM + 2     // input tile side
	winoP = winoA * winoA // transform points
)

// winoGeom is the geometry of a 3×3 stride-1 convolution computed by winoConv.
type winoGeom struct {
	n, c, h, w int // input N×C×H×W
	o          int // output channels
	pad        int // padding on each side; negative crops (a backward pass's padding 2−p for p > 2)
	oh, ow     int // output size, H+2·pad−2 and W+2·pad−2
	th, tw     int // 4×4 tiles per image, down and across
	tiles      int // tiles over the batch, N·th·tw
	hp, wp     int // padded input planes, 4·th+2 × 4·tw+2: every tile's 6×6 patch lies inside
}

func newWinoGeom(n, c, h, w, o, pad int) winoGeom {
	g := winoGeom{n: n, c: c, h: h, w: w, o: o, pad: pad, oh: h + 2*pad - 2, ow: w + 2*pad - 2}
	g.th, g.tw = (g.oh+winoM-1)/winoM, (g.ow+winoM-1)/winoM
	g.tiles = n * g.th * g.tw
	g.hp, g.wp = winoM*g.th+2, winoM*g.tw+2
	return g
}

// paddedLen is the floats of the padded input, N·C·hp·wp, and the two that winoIn8 and
// winoIn16 may read past its end.
func (g *winoGeom) paddedLen() int { return g.n*g.c*g.hp*g.wp + 2 }

// padPlane writes plane p = i·C + c (image i, channel c) of x into its hp×wp plane of xp: input
// pixel (y, x) at (y+pad, x+pad), zero where no input pixel lands.
func (g *winoGeom) padPlane(x, xp []float32, p int) {
	src, dst := x[p*g.h*g.w:(p+1)*g.h*g.w], xp[p*g.hp*g.wp:(p+1)*g.hp*g.wp]
	lo, hi := max(0, g.pad), min(g.wp, g.w+g.pad) // padded columns that hold input
	for py := 0; py < g.hp; py++ {
		row := dst[py*g.wp : (py+1)*g.wp]
		y := py - g.pad
		if y < 0 || y >= g.h || hi <= lo {
			clear(row)
			continue
		}
		clear(row[:lo])
		copy(row[lo:hi], src[y*g.w+lo-g.pad:])
		clear(row[hi:])
	}
}

// tileOffset is where tile t's 6×6 patch starts in the padded input of channel 0.
func (g *winoGeom) tileOffset(t int) int32 {
	img, rest := t/(g.th*g.tw), t%(g.th*g.tw)
	return int32(img*g.c*g.hp*g.wp + rest/g.tw*winoM*g.wp + rest%g.tw*winoM)
}

// winoFilter returns the transformed filters of a convolution with m output and k input
// channels, packed for microKernel: for each point ξ, U_ξ (m×k) in packA's panels,
// u[ξ·P + i·k·mr + p·mr + r] = U_ξ[i·mr + r][p] with P = ⌈m/mr⌉·k·mr, zero past row m.
//
// Forward (back false), w is the convolution's O×C×3×3 weight tensor, m = O and k = C. With back,
// the filters are those of the input gradient's convolution, w rotated by 180° with its channel
// axes swapped (m = C, k = O): U_ξ[c][o] = (G rot(w[o][c]) Gᵀ)_ξ. The transform runs in float64.
func winoFilter(w []float32, o, c int, back bool) []float32 {
	m, k := o, c
	if back {
		m, k = c, o
	}
	panel := (m + mr - 1) / mr * k * mr
	u := make([]float32, winoP*panel)
	parallel(o, func(_, oi int) {
		var g [3][3]float64
		var t [winoA][3]float64
		for ci := 0; ci < c; ci++ {
			src := w[(oi*c+ci)*9 : (oi*c+ci+1)*9]
			for i := range 3 {
				for j := range 3 {
					if back {
						g[i][j] = float64(src[(2-i)*3+2-j])
					} else {
						g[i][j] = float64(src[i*3+j])
					}
				}
			}
			// t = G·g (6×3), then U = t·Gᵀ (6×6).
			for j := range 3 {
				t[0][j], t[1][j], t[2][j], t[3][j], t[4][j], t[5][j] = winoFilter1(g[0][j], g[1][j], g[2][j])
			}
			row, col := oi, ci // of U_ξ
			if back {
				row, col = ci, oi
			}
			base := (row/mr)*k*mr + col*mr + row%mr
			for i := range winoA {
				var v [winoA]float64
				v[0], v[1], v[2], v[3], v[4], v[5] = winoFilter1(t[i][0], t[i][1], t[i][2])
				for j := range winoA {
					u[(i*winoA+j)*panel+base] = float32(v[j])
				}
			}
		}
	})
	return u
}

// winoFilter1 is G·(g0, g1, g2): the filter transform in one dimension.
func winoFilter1(g0, g1, g2 float64) (u0, u1, u2, u3, u4, u5 float64) {
	a, b := -(g0+g2)/6, g0/24+g2/6
	return g0 / 4, a - g1/6, a + g1/6, b + g1/12, b - g1/12, g2
}

// winoIn is Bᵀ·d: the input transform in one dimension.
func winoIn(d0, d1, d2, d3, d4, d5 float32) (v0, v1, v2, v3, v4, v5 float32) {
	a, b := d4-4*d2, d3-4*d1
	c, e := d4-d2, 2*(d3-d1)
	return 4*d0 - 5*d2 + d4, a + b, a - b, c + e, c - e, 4*d1 - 5*d3 + d5
}

// winoOut1 is Aᵀ·s: the output transform in one dimension.
func winoOut1(s0, s1, s2, s3, s4, s5 float32) (y0, y1, y2, y3 float32) {
	a, b := s1+s2, s1-s2
	c, d := s3+s4, s3-s4
	return s0 + a + c, b + 2*d, a + 4*c, b + 8*d + s5
}

// winoIn8 transforms eight 6×6 patches at once, one per lane l < 8: the patch of lane l is
// x[off[l] + r·ld + s] (r, s < 6), and point ξ = 6i+k of its transform Bᵀ d B goes to
// dst[ξ·stride + l]. x must hold two floats past the last row of every patch (the assembly
// reads rows eight floats at a time). tmp is scratch. It is AVX2 assembly where the CPU has it,
// else goWinoIn8.
var winoIn8 = goWinoIn8

func goWinoIn8(x []float32, off []int32, ld int, dst []float32, stride int, tmp *[winoP * 8]float32) {
	off = off[:8]
	_ = dst[(winoP-1)*stride+7]
	// Rows: tmp[(6r+k)·8 + l] = (d_l B)[r][k].
	for r := range winoA {
		for l, o := range off {
			d := x[int(o)+r*ld : int(o)+r*ld+winoA : int(o)+r*ld+winoA]
			t := tmp[r*winoA*8+l:]
			t[0], t[8], t[16], t[24], t[32], t[40] = winoIn(d[0], d[1], d[2], d[3], d[4], d[5])
		}
	}
	// Columns.
	for k := range winoA {
		for l := range 8 {
			t := tmp[k*8+l:]
			v0, v1, v2, v3, v4, v5 := winoIn(t[0], t[48], t[96], t[144], t[192], t[240])
			dst[(0*winoA+k)*stride+l] = v0
			dst[(1*winoA+k)*stride+l] = v1
			dst[(2*winoA+k)*stride+l] = v2
			dst[(3*winoA+k)*stride+l] = v3
			dst[(4*winoA+k)*stride+l] = v4
			dst[(5*winoA+k)*stride+l] = v5
		}
	}
}

// winoOut8 transforms eight 6×6 products back at once, one per lane l < 8: point ξ of lane l's
// product M is m[ξ·stride + l], and out[(4i+k)·8 + l] = (Aᵀ M A)[i][k] + bias. tmp is scratch.
// It is AVX2 assembly where the CPU has it, else goWinoOut8.
var winoOut8 = goWinoOut8

func goWinoOut8(m []float32, stride int, bias float32, out *[winoM * winoM * 8]float32, tmp *[winoP * 8]float32) {
	_ = m[(winoP-1)*stride+7]
	// Rows: tmp[(4i+k)·8 + l] = (M A)[i][k].
	for i := range winoA {
		for l := range 8 {
			p := m[i*winoA*stride+l:]
			t := tmp[i*winoM*8+l:]
			t[0], t[8], t[16], t[24] = winoOut1(p[0], p[stride], p[2*stride], p[3*stride], p[4*stride], p[5*stride])
		}
	}
	// Columns.
	for k := range winoM {
		for l := range 8 {
			t := tmp[k*8+l:]
			y0, y1, y2, y3 := winoOut1(t[0], t[32], t[64], t[96], t[128], t[160])
			out[(0*winoM+k)*8+l] = y0 + bias
			out[(1*winoM+k)*8+l] = y1 + bias
			out[(2*winoM+k)*8+l] = y2 + bias
			out[(3*winoM+k)*8+l] = y3 + bias
		}
	}
}

// winoBufs is one goroutine's scratch for winoConv.
type winoBufs struct {
	v, m []float32 // transformed input (36 packed C×nr panels) and products (36 rows×nr)
	// Floats between the points' panels in v and products in m: a cache line more than they
	// hold, so that the 36 points of one tile do not all fall in the same few cache sets.
	vStride, mStride int
	tmp              [winoP * 8]float32
	out              [winoM * winoM * 8]float32
	outs             [8 * winoM * winoM * 8]float32 // eight channels' out, for outputBlocked
	tmp16            [winoP * 16]float32            // winoIn16's and winoOut16's scratch
	out16            [winoM * winoM * 16]float32    // winoOut16's out, for output
	// outputBlocked16's sixteen channels' out16 and their transposition, allocated on first use.
	outs16, tr16 *[16 * winoM * winoM * 16]float32
}

// input writes the transformed 6×6 patches of tiles [t0, t0+nr) of xp (the padded input) into
// v as packed B panels: point ξ's C×nr matrix at v[ξ·vStride:], v[ξ·vStride + c·nr + t−t0] =
// (Bᵀ d B)_ξ for channel c's patch under tile t. Columns past the last tile repeat it.
func (g *winoGeom) input(xp []float32, bf *winoBufs, t0 int) {
	var off [nr]int32
	for j := range off {
		off[j] = g.tileOffset(min(t0+j, g.tiles-1))
	}
	plane := g.hp * g.wp
	if winoIn16 != nil {
		for ci := 0; ci < g.c; ci++ {
			winoIn16(xp[ci*plane:], off[:], g.wp, bf.v[ci*nr:], bf.vStride, &bf.tmp16)
		}
		return
	}
	for ci := 0; ci < g.c; ci++ {
		x := xp[ci*plane:]
		winoIn8(x, off[:8], g.wp, bf.v[ci*nr:], bf.vStride, &bf.tmp)
		if t0+8 < g.tiles {
			winoIn8(x, off[8:], g.wp, bf.v[ci*nr+8:], bf.vStride, &bf.tmp)
		}
	}
}

// output transforms the products of tiles [t0, t0+nr) for output channels [o0, o1) back into y
// (N×O×OH×OW), adding the bias. bf.m holds point ξ's product at m[ξ·mStride:], nr columns
// a row, row o−o0 for channel o.
func (g *winoGeom) output(bf *winoBufs, y, bias []float32, t0, o0, o1 int) {
	for o := o0; o < o1; o++ {
		var bv float32
		if bias != nil {
			bv = bias[o]
		}
		if winoOut16 != nil {
			winoOut16(bf.m[(o-o0)*nr:], bf.mStride, bv, &bf.out16, &bf.tmp16)
			g.storeTiles(y, bf.out16[:], 16, o, t0, min(nr, g.tiles-t0))
			continue
		}
		for h := 0; h < nr && t0+h < g.tiles; h += 8 {
			winoOut8(bf.m[(o-o0)*nr+h:], bf.mStride, bv, &bf.out, &bf.tmp)
			g.storeTiles(y, bf.out[:], 8, o, t0+h, min(8, g.tiles-t0-h))
		}
	}
}

// storeTiles writes output channel o of the n tiles from t0 into y (N×O×OH×OW) from out, the
// tiles' 4×4 results w lanes wide: out[(4i+k)·w + l] for tile t0+l.
func (g *winoGeom) storeTiles(y, out []float32, w, o, t0, n int) {
	for l := range n {
		t := t0 + l
		img, rest := t/(g.th*g.tw), t%(g.th*g.tw)
		oy0, ox0 := rest/g.tw*winoM, rest%g.tw*winoM
		plane := y[(img*g.o+o)*g.oh*g.ow : (img*g.o+o+1)*g.oh*g.ow]
		ny, nx := min(winoM, g.oh-oy0), min(winoM, g.ow-ox0)
		for i := 0; i < ny; i++ {
			row := plane[(oy0+i)*g.ow+ox0:]
			src := out[i*winoM*w+l:]
			if nx == winoM {
				*(*[winoM]float32)(row) = [winoM]float32{src[0], src[w], src[2*w], src[3*w]}
				continue
			}
			for k := 0; k < nx; k++ {
				row[k] = src[k*w]
			}
		}
	}
}

// winoConv computes y = conv(x, w) + bias (N×O×OH×OW) by Winograd F(4×4, 3×3), from u, the
// filters as winoFilter transforms them. It pads a copy of x so that every tile's patch lies
// inside it; the tasks are then panels of nr tiles, each split further into groups of output
// channels when the panels are too few to occupy every goroutine. g.paddedLen() must be below
// 2³¹ (the tiles' offsets are int32).
func winoConv(g winoGeom, x, u, bias, y []float32) {
	winoRun(g, u, 1, func(xp []float32) {
		parallel(g.n*g.c, func(_, p int) { g.padPlane(x, xp, p) })
	}, func(bf *winoBufs, t0, o0, o1 int) {
		g.output(bf, y, bias, t0, o0, o1)
	})
}

// winoRun is the body of winoConv and winoConvBlocked: pad fills the padded plain input
// (N×C×hp×wp, its tail already cleared), and out transforms the products of the panel of tiles
// from t0 for output channels [o0, o1) back into the output. The output channels are split
// among tasks in whole multiples of align panels of mr channels (the last group excepted).
func winoRun(g winoGeom, u []float32, align int, pad func(xp []float32), out func(bf *winoBufs, t0, o0, o1 int)) {
	xpBuf := getScratch(g.paddedLen())
	defer putScratch(xpBuf)
	xp := *xpBuf
	clear(xp[g.n*g.c*g.hp*g.wp:])
	pad(xp)

	mPanels := (g.o + mr - 1) / mr
	panel := mPanels * g.c * mr // floats of one U_ξ
	tPanels := (g.tiles + nr - 1) / nr
	units := (mPanels + align - 1) / align // groups of align panels that tasks may split
	nw := workers()
	groups := 1
	if tPanels < 2*nw {
		groups = min(units, (2*nw+tPanels-1)/tPanels)
	}
	maxRows := (units + groups - 1) / groups * align * mr
	vStride, mStride := g.c*nr+nr, maxRows*nr+nr
	vLen, mLen := winoP*vStride, winoP*mStride
	bufs := make([]*winoBufs, nw)
	scr := make([]*[]float32, nw)
	defer func() {
		for _, b := range scr {
			if b != nil {
				putScratch(b)
			}
		}
	}()
	parallel(tPanels*groups, func(wk, task int) {
		pn, gi := task/groups, task%groups
		bf := bufs[wk]
		if bf == nil {
			scr[wk] = getScratch(vLen + mLen)
			v := *scr[wk]
			clear(v[:vLen]) // columns past the last tile are left as they are: keep them finite
			bf = &winoBufs{v: v[:vLen], m: v[vLen : vLen+mLen], vStride: vStride, mStride: mStride}
			bufs[wk] = bf
		}
		t0 := pn * nr
		g.input(xp, bf, t0)
		m0, m1 := min(mPanels, gi*units/groups*align), min(mPanels, (gi+1)*units/groups*align)
		for p := 0; p < winoP; p++ {
			bp := bf.v[p*vStride : p*vStride+g.c*nr]
			for mi := m0; mi < m1; mi++ {
				microKernel(g.c, u[p*panel+mi*g.c*mr:p*panel+(mi+1)*g.c*mr], bp, bf.m[p*mStride+(mi-m0)*mr*nr:], nr)
			}
		}
		out(bf, t0, m0*mr, min(m1*mr, g.o))
	})
}
