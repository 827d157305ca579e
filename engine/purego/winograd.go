package purego

import (
	"fmt"
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
// error: on the detector's 3×3 layers (32 to 128 channels) it reaches 4e-6 to 7.4e-6 of the
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
func (b *Backend) useWinograd(g convGeom) bool {
	if g.k != 3 || g.stride != 1 || b.winograd == WinogradOff {
		return false
	}
	if b.winograd == WinogradOn {
		return true
	}
	tiles := g.n * ((g.oh + winoM - 1) / winoM) * ((g.ow + winoM - 1) / winoM)
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
}

func newWinoGeom(n, c, h, w, o, pad int) winoGeom {
	g := winoGeom{n: n, c: c, h: h, w: w, o: o, pad: pad, oh: h + 2*pad - 2, ow: w + 2*pad - 2}
	g.th, g.tw = (g.oh+winoM-1)/winoM, (g.ow+winoM-1)/winoM
	g.tiles = n * g.th * g.tw
	return g
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

// input writes the transformed 6×6 input patches of tiles [t0, t0+nr) of x (N×C×H×W) into v as
// packed B panels: point ξ's C×nr matrix at v[ξ·C·nr:], v[(ξ·C + c)·nr + t−t0] = (Bᵀ d B)_ξ for
// channel c's patch under tile t; zero for tiles past the last.
func (g *winoGeom) input(x, v []float32, t0 int) {
	stride := g.c * nr // between points
	v = v[:winoP*stride]
	for j := 0; j < nr; j++ {
		t := t0 + j
		if t >= g.tiles {
			for p := j; p < len(v); p += nr {
				v[p] = 0
			}
			continue
		}
		img, rest := t/(g.th*g.tw), t%(g.th*g.tw)
		y0, x0 := rest/g.tw*winoM-g.pad, rest%g.tw*winoM-g.pad
		inside := y0 >= 0 && x0 >= 0 && y0+winoA <= g.h && x0+winoA <= g.w
		for ci := 0; ci < g.c; ci++ {
			plane := x[(img*g.c+ci)*g.h*g.w : (img*g.c+ci+1)*g.h*g.w]
			var d [winoA][winoA]float32
			if inside {
				for i := range winoA {
					row := plane[(y0+i)*g.w+x0:]
					d[i] = [winoA]float32(row[:winoA])
				}
			} else {
				for i := range winoA {
					if y := y0 + i; y >= 0 && y < g.h {
						row := plane[y*g.w : (y+1)*g.w]
						for k := max(0, -x0); k < winoA && x0+k < g.w; k++ {
							d[i][k] = row[x0+k]
						}
					}
				}
			}
			// Rows, then columns: Bᵀ·d·B.
			for i := range winoA {
				r := &d[i]
				r[0], r[1], r[2], r[3], r[4], r[5] = winoIn(r[0], r[1], r[2], r[3], r[4], r[5])
			}
			out := v[ci*nr+j:]
			for k := range winoA {
				v0, v1, v2, v3, v4, v5 := winoIn(d[0][k], d[1][k], d[2][k], d[3][k], d[4][k], d[5][k])
				out[(0*winoA+k)*stride] = v0
				out[(1*winoA+k)*stride] = v1
				out[(2*winoA+k)*stride] = v2
				out[(3*winoA+k)*stride] = v3
				out[(4*winoA+k)*stride] = v4
				out[(5*winoA+k)*stride] = v5
			}
		}
	}
}

// output transforms the products of tiles [t0, t0+nr) for output channels [o0, o1) back into y
// (N×O×OH×OW), adding the bias. m holds point ξ's rows×nr product at m[ξ·rows·nr:], row o−o0
// for channel o.
func (g *winoGeom) output(m, y, bias []float32, t0, o0, o1, rows int) {
	stride := rows * nr // between points
	for j := 0; j < nr && t0+j < g.tiles; j++ {
		t := t0 + j
		img, rest := t/(g.th*g.tw), t%(g.th*g.tw)
		oy0, ox0 := rest/g.tw*winoM, rest%g.tw*winoM
		ny, nx := min(winoM, g.oh-oy0), min(winoM, g.ow-ox0)
		for o := o0; o < o1; o++ {
			src := m[(o-o0)*nr+j:]
			var s [winoA][winoM]float32
			for i := range winoA {
				p := src[i*winoA*stride:]
				s[i][0], s[i][1], s[i][2], s[i][3] = winoOut1(p[0], p[stride], p[2*stride], p[3*stride], p[4*stride], p[5*stride])
			}
			var bv float32
			if bias != nil {
				bv = bias[o]
			}
			plane := y[(img*g.o+o)*g.oh*g.ow : (img*g.o+o+1)*g.oh*g.ow]
			for k := 0; k < nx; k++ {
				var col [winoM]float32
				col[0], col[1], col[2], col[3] = winoOut1(s[0][k], s[1][k], s[2][k], s[3][k], s[4][k], s[5][k])
				for i := 0; i < ny; i++ {
					plane[(oy0+i)*g.ow+ox0+k] = col[i] + bv
				}
			}
		}
	}
}

// winoConv computes y = conv(x, w) + bias (N×O×OH×OW) by Winograd F(4×4, 3×3), from u, the
// filters as winoFilter transforms them. The tasks are panels of nr tiles, each split further
// into groups of output channels when the panels are too few to occupy every goroutine.
func winoConv(g winoGeom, x, u, bias, y []float32) {
	mPanels := (g.o + mr - 1) / mr
	panel := mPanels * g.c * mr // floats of one U_ξ
	tPanels := (g.tiles + nr - 1) / nr
	nw := workers()
	groups := 1
	if tPanels < 2*nw {
		groups = min(mPanels, (2*nw+tPanels-1)/tPanels)
	}
	maxRows := (mPanels + groups - 1) / groups * mr
	vLen, mLen := winoP*g.c*nr, winoP*maxRows*nr
	bufs := make([]*[]float32, nw)
	defer func() {
		for _, b := range bufs {
			if b != nil {
				putScratch(b)
			}
		}
	}()
	parallel(tPanels*groups, func(wk, task int) {
		pn, gi := task/groups, task%groups
		if bufs[wk] == nil {
			bufs[wk] = getScratch(vLen + mLen)
		}
		v, m := (*bufs[wk])[:vLen], (*bufs[wk])[vLen:vLen+mLen]
		t0 := pn * nr
		g.input(x, v, t0)
		m0, m1 := gi*mPanels/groups, (gi+1)*mPanels/groups
		rows := (m1 - m0) * mr
		for p := 0; p < winoP; p++ {
			bp := v[p*g.c*nr : (p+1)*g.c*nr]
			for mi := m0; mi < m1; mi++ {
				microKernel(g.c, u[p*panel+mi*g.c*mr:p*panel+(mi+1)*g.c*mr], bp, m[(p*rows+(mi-m0)*mr)*nr:], nr)
			}
		}
		g.output(m, y, bias, t0, m0*mr, min(m1*mr, g.o), rows)
	})
}
