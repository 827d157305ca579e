package purego

// Sixteen-wide Winograd transforms, for CPUs with AVX-512F.
//
// Where the data flow gains from sixteen lanes:
//
//   - The input transform: winoGeom.input transforms, channel by channel, the patches of one
//     panel of nr = 16 tiles into the packed B panels, whose rows are 16 floats (one per tile).
//     winoIn16 does all sixteen tiles of a channel in one call, where winoIn8 needs two: the
//     gather of the patch rows and their 4×4 transposes cost the same loads, but the
//     transposes and the transform's arithmetic run on 512-bit registers, half the
//     instructions. The plain and the blocked paths share this step (padBlocked first makes
//     plain padded planes), so both gain.
//   - The output transform: the products' rows are also nr = 16 tiles wide, so winoOut16
//     transforms one output channel of the whole panel in one call, where winoOut8 needs two.
//     winoGeom.output uses it for plain outputs.
//   - The nChw16c store: outputBlocked16 transforms sixteen output channels of the panel's
//     sixteen tiles, then storeBlocked16 transposes each output pixel's 16×16 block (channels by
//     tiles) so that each tile's pixel receives its sixteen channels as one 64-byte store, the
//     block's whole run in nChw16c. The tasks' output channel groups start and end at multiples
//     of 24 (four micro-kernel panels); the eight channels of a group that starts or ends in
//     the middle of a 16-channel block go through the eight-wide outputBlocked.
//   - The nChw16c input: padBlocked transposes sixteen pixels by sixteen channels at a time
//     (transpose16) into the padded planes.
//
// What stays eight wide: nChw8c's input copy and output (its blocks hold eight channels, so a
// pixel's run is eight floats; only the input transform is 16-wide there), and the half blocks
// above. The edge tiles of an nChw16c output (a panel with partial or missing tiles) are
// transposed by transpose16 into a buffer and copied in Go, as outputBlocked does eight wide.
//
// The arithmetic is winoIn8's and winoOut8's, operation for operation (the same FMAs in the
// same order), so the results equal the AVX2 transforms' bit for bit. The sixteen-wide
// transforms are installed with the "avx512" micro-kernel set (useKernelSet): KernelEnv
// (CATMARK_GO_KERNEL) set to avx2 or go turns them off too. Each of winoIn16, winoOut16,
// transpose16 and storeBlocked16 is nil where they are off; the go* functions below are their
// definitions, which the tests hold the assembly to.

// The 16-wide transforms, nil where off (see above).
var (
	// winoIn16 is winoIn8 for sixteen lanes: the patch of lane l < 16 is
	// x[off[l] + r·ld + s] (r, s < 6), and point ξ of its transform goes to dst[ξ·stride + l].
	// x must hold two floats past the last row of every patch.
	winoIn16 func(x []float32, off []int32, ld int, dst []float32, stride int, tmp *[winoP * 16]float32)
	// winoOut16 is winoOut8 for sixteen lanes: point ξ of lane l's product M is
	// m[ξ·stride + l], and out[(4i+k)·16 + l] = (Aᵀ M A)[i][k] + bias.
	winoOut16 func(m []float32, stride int, bias float32, out *[winoM * winoM * 16]float32, tmp *[winoP * 16]float32)
	// transpose16 sets dst[j·ldd + i] = src[i·lds + j] for i, j < 16.
	transpose16 func(src []float32, lds int, dst []float32, ldd int)
	// storeBlocked16 writes sixteen whole 4×4 tiles of sixteen channels from outs
	// (outputBlocked16's bf.outs16: outs[(c·16 + px)·16 + l] for channel c, pixel px = 4i+k and
	// tile l) into the nChw16c output y: pixel (i, k) of tile l gets its sixteen channels at
	// y[off[l] + i·ldr + k·ldc:][:16].
	storeBlocked16 func(outs *[16 * winoM * winoM * 16]float32, y []float32, off *[16]int, ldr, ldc int)
)

// useWino16 installs the 16-wide transforms (on) or removes them. It is not safe to call while
// convolutions run.
func useWino16(on bool) {
	winoIn16, winoOut16, transpose16, storeBlocked16 = nil, nil, nil, nil
	if on {
		winoIn16, winoOut16, transpose16, storeBlocked16 = asmWino16()
	}
}

func goWinoIn16(x []float32, off []int32, ld int, dst []float32, stride int, tmp *[winoP * 16]float32) {
	off = off[:16]
	_ = dst[(winoP-1)*stride+15]
	for r := range winoA {
		for l, o := range off {
			d := x[int(o)+r*ld : int(o)+r*ld+winoA : int(o)+r*ld+winoA]
			t := tmp[r*winoA*16+l:]
			t[0], t[16], t[32], t[48], t[64], t[80] = winoIn(d[0], d[1], d[2], d[3], d[4], d[5])
		}
	}
	for k := range winoA {
		for l := range 16 {
			t := tmp[k*16+l:]
			v0, v1, v2, v3, v4, v5 := winoIn(t[0], t[96], t[192], t[288], t[384], t[480])
			dst[(0*winoA+k)*stride+l] = v0
			dst[(1*winoA+k)*stride+l] = v1
			dst[(2*winoA+k)*stride+l] = v2
			dst[(3*winoA+k)*stride+l] = v3
			dst[(4*winoA+k)*stride+l] = v4
			dst[(5*winoA+k)*stride+l] = v5
		}
	}
}

func goWinoOut16(m []float32, stride int, bias float32, out *[winoM * winoM * 16]float32, tmp *[winoP * 16]float32) {
	_ = m[(winoP-1)*stride+15]
	for i := range winoA {
		for l := range 16 {
			p := m[i*winoA*stride+l:]
			t := tmp[i*winoM*16+l:]
			t[0], t[16], t[32], t[48] = winoOut1(p[0], p[stride], p[2*stride], p[3*stride], p[4*stride], p[5*stride])
		}
	}
	for k := range winoM {
		for l := range 16 {
			t := tmp[k*16+l:]
			y0, y1, y2, y3 := winoOut1(t[0], t[64], t[128], t[192], t[256], t[320])
			out[(0*winoM+k)*16+l] = y0 + bias
			out[(1*winoM+k)*16+l] = y1 + bias
			out[(2*winoM+k)*16+l] = y2 + bias
			out[(3*winoM+k)*16+l] = y3 + bias
		}
	}
}

func goTranspose16(src []float32, lds int, dst []float32, ldd int) {
	_, _ = src[15*lds+15], dst[15*ldd+15]
	for i := range 16 {
		s := src[i*lds : i*lds+16 : i*lds+16]
		for j, v := range s {
			dst[j*ldd+i] = v
		}
	}
}

func goStoreBlocked16(outs *[16 * winoM * winoM * 16]float32, y []float32, off *[16]int, ldr, ldc int) {
	for l, o := range off {
		for px := range winoM * winoM {
			dst := y[o+px/winoM*ldr+px%winoM*ldc:][:16]
			for c := range dst {
				dst[c] = outs[(c*winoM*winoM+px)*16+l]
			}
		}
	}
}

// outputBlocked16Split is outputBlocked for nChw16c with the 16-wide transforms, for a task's
// output channels [o0, o1) (multiples of 8; o1 may also be the last channel): the whole
// 16-channel blocks go to outputBlocked16, an eight-channel half block at either end to
// outputBlocked.
func (g *winoGeom) outputBlocked16Split(bf *winoBufs, y, bias []float32, t0, o0, o1 int) {
	a := min(o1, (o0+15)&^15) // the first block boundary
	if a > o0 {
		g.outputBlocked(bf, y, bias, 16, t0, o0, o0, a)
	}
	if a >= o1 {
		return
	}
	b := o1 // the last block boundary, or the last channel
	if o1 != g.o {
		b = a + (o1-a)&^15
	}
	if b > a {
		g.outputBlocked16(bf, y, bias, t0, o0, a, b)
	}
	if b < o1 {
		g.outputBlocked(bf, y, bias, 16, t0, o0, b, o1)
	}
}

// outputBlocked16 is outputBlocked for nChw16c with the 16-wide transforms: sixteen output
// channels of the panel's sixteen tiles at a time (o0 is a multiple of 16; o1 too unless it is
// the last channel). Row o−m0 of bf.m's products is channel o's.
func (g *winoGeom) outputBlocked16(bf *winoBufs, y, bias []float32, t0, m0, o0, o1 int) {
	const bs = 16
	obs := (g.o + bs - 1) / bs
	end := o1
	if o1 == g.o {
		end = obs * bs
	}
	if bf.outs16 == nil {
		bf.outs16 = new([16 * winoM * winoM * 16]float32)
	}
	outs := bf.outs16
	for j0 := o0; j0 < end; j0 += bs {
		blk := j0 / bs
		for c := range bs {
			out := (*[winoM * winoM * 16]float32)(outs[c*winoM*winoM*16:])
			o := j0 + c
			if o >= o1 {
				clear(out[:])
				continue
			}
			var bv float32
			if bias != nil {
				bv = bias[o]
			}
			winoOut16(bf.m[(o-m0)*nr:], bf.mStride, bv, out, &bf.tmp16)
		}
		var off [16]int
		full := t0+16 <= g.tiles
		for l := range off {
			t := min(t0+l, g.tiles-1)
			img, rest := t/(g.th*g.tw), t%(g.th*g.tw)
			oy0, ox0 := rest/g.tw*winoM, rest%g.tw*winoM
			full = full && oy0+winoM <= g.oh && ox0+winoM <= g.ow
			off[l] = ((img*obs+blk)*g.oh+oy0)*g.ow*bs + ox0*bs
		}
		if full {
			storeBlocked16(outs, y, &off, g.ow*bs, bs)
			continue
		}
		// outs[(c·16 + px)·16 + l] → tr[(l·16 + px)·16 + c]: tile l's pixel px, channel c.
		tr := outs16Scratch(bf)
		for px := range winoM * winoM {
			transpose16(outs[px*16:], winoM*winoM*16, tr[px*16:], winoM*winoM*16)
		}
		for l := 0; l < 16 && t0+l < g.tiles; l++ {
			rest := (t0 + l) % (g.th * g.tw)
			oy0, ox0 := rest/g.tw*winoM, rest%g.tw*winoM
			ny, nx := min(winoM, g.oh-oy0), min(winoM, g.ow-ox0)
			for i := 0; i < ny; i++ {
				row := y[off[l]+i*g.ow*bs:]
				src := tr[(l*winoM*winoM+i*winoM)*16:]
				for k := 0; k < nx; k++ {
					*(*[16]float32)(row[k*bs:]) = *(*[16]float32)(src[k*16:])
				}
			}
		}
	}
}

// outs16Scratch returns bf's buffer for outputBlocked16's transposed tiles.
func outs16Scratch(bf *winoBufs) *[16 * winoM * winoM * 16]float32 {
	if bf.tr16 == nil {
		bf.tr16 = new([16 * winoM * winoM * 16]float32)
	}
	return bf.tr16
}
