package purego

import "fmt"

// Winograd F(4×4, 3×3) on channel-blocked activations: the layout oneDNN keeps activations in
// (nChw8c, nChw16c; engine/dnnl calls these functions with CATMARK_DNNL_CONV=go-winograd or
// tune-go). An N×C×H×W tensor blocked by B channels is stored as N × ⌈C/B⌉ × H × W × B floats: value
// (n, c, y, x) at ((n·⌈C/B⌉ + c/B)·H + y)·W·B + x·B + c mod B. The last block's channels past C
// are padding: they are never read from an input and are written as zeros in an output, as
// oneDNN expects.
//
// The arithmetic is winoConv's: the same transformed filters (WinogradFilters), the same 36
// GEMMs per panel of nr tiles on the micro-kernel. Only the ends differ: the padded input copy
// that winoConv makes anyway is filled from the blocked input (a transposition of each pixel's
// B channels into B planes, in blocks of 8×8 by transpose8), and the output transform runs on
// eight output channels at a time, whose 4×4 results are transposed back so that each output
// pixel receives its eight channels as one contiguous run (storeBlocked8 for eight whole tiles).
// With the 16-wide AVX-512F transforms, nChw16c moves 16×16 blocks and sixteen output channels
// of sixteen tiles at a time instead (transpose16, outputBlocked16, storeBlocked16; see
// winograd16.go).

// blockedLen returns the floats of an N×C×H×W tensor blocked by bs channels.
func blockedLen(n, c, h, w, bs int) int { return n * ((c + bs - 1) / bs) * h * w * bs }

// transpose8 sets dst[j·ldd + i] = src[i·lds + j] for i, j < 8. It is AVX assembly where the CPU
// has AVX2 and FMA, else goTranspose8.
var transpose8 = goTranspose8

func goTranspose8(src []float32, lds int, dst []float32, ldd int) {
	_, _ = src[7*lds+7], dst[7*ldd+7]
	for i := range 8 {
		s := src[i*lds : i*lds+8 : i*lds+8]
		for j, v := range s {
			dst[j*ldd+i] = v
		}
	}
}

// storeBlocked8 writes eight whole 4×4 tiles of eight channels from outs (outputBlocked's
// bf.outs: outs[(c·16 + px)·8 + l] for channel c, pixel px = 4i+k and tile l) into the blocked
// output y: pixel (i, k) of tile l gets its eight channels at y[off[l] + i·ldr + k·ldc:][:8]. It
// is AVX assembly where the CPU has AVX2 and FMA, else nil (outputBlocked then transposes and
// copies in Go).
var storeBlocked8 func(outs *[8 * winoM * winoM * 8]float32, y []float32, off *[8]int, ldr, ldc int)

// padBlocked writes channel block cb of image img of the blocked input x (bs channels a block)
// into the padded plain planes of xp, as padPlane does for a plain input.
func (g *winoGeom) padBlocked(x, xp []float32, bs, img, cb int) {
	cbs := (g.c + bs - 1) / bs
	c0 := cb * bs
	cn := min(bs, g.c-c0)
	plane := g.hp * g.wp
	lo, hi := max(0, g.pad), min(g.wp, g.w+g.pad) // padded columns that hold input
	var buf [8 * 8]float32
	for py := 0; py < g.hp; py++ {
		y := py - g.pad
		dst := xp[((img*g.c+c0)*g.hp+py)*g.wp:]
		if y < 0 || y >= g.h || hi <= lo {
			for ci := range cn {
				clear(dst[ci*plane : ci*plane+g.wp])
			}
			continue
		}
		for ci := range cn {
			row := dst[ci*plane : ci*plane+g.wp]
			clear(row[:lo])
			clear(row[hi:])
		}
		src := x[((img*cbs+cb)*g.h+y)*g.w*bs:]
		px := lo
		// Sixteen pixels by sixteen channels at a time (nChw16c with the 16-wide transforms),
		// then eight by eight, the rest one by one.
		if bs == 16 && transpose16 != nil {
			var buf16 [16 * 16]float32
			for ; px+16 <= hi; px += 16 {
				s := src[(px-g.pad)*bs:]
				if cn == 16 {
					transpose16(s, bs, dst[px:], plane)
					continue
				}
				transpose16(s, bs, buf16[:], 16)
				for ci := range cn {
					copy(dst[ci*plane+px:ci*plane+px+16], buf16[ci*16:])
				}
			}
		}
		for ; px+8 <= hi; px += 8 {
			s := src[(px-g.pad)*bs:]
			for c8 := 0; c8+8 <= cn; c8 += 8 {
				transpose8(s[c8:], bs, dst[c8*plane+px:], plane)
			}
			if r := cn &^ 7; r < cn {
				transpose8(s[r:], bs, buf[:], 8)
				for ci := r; ci < cn; ci++ {
					copy(dst[ci*plane+px:ci*plane+px+8], buf[(ci-r)*8:])
				}
			}
		}
		for ; px < hi; px++ {
			s := src[(px-g.pad)*bs : (px-g.pad)*bs+cn]
			for ci, v := range s {
				dst[ci*plane+px] = v
			}
		}
	}
}

// outputBlocked is output for a blocked output y (bs channels a block): it transforms the
// products of tiles [t0, t0+nr) for output channels [o0, o1) back into y, adding the bias, eight
// channels at a time (o0 is a multiple of 8), and where o1 is the last channel it also writes
// the zeros of the padding channels of the last block. Row o−m0 of bf.m's products is channel
// o's.
func (g *winoGeom) outputBlocked(bf *winoBufs, y, bias []float32, bs, t0, m0, o0, o1 int) {
	obs := (g.o + bs - 1) / bs
	end := o1
	if o1 == g.o {
		end = obs * bs
	}
	var tr [winoM * winoM * 8 * 8]float32 // tr[(l·16 + px)·8 + c]: tile l's pixel px, channel c
	for j0 := o0; j0 < end; j0 += 8 {
		blk, ci0 := j0/bs, j0%bs
		for h := 0; h < nr && t0+h < g.tiles; h += 8 {
			for c := range 8 {
				out := (*[winoM * winoM * 8]float32)(bf.outs[c*winoM*winoM*8:])
				o := j0 + c
				if o >= o1 {
					clear(out[:])
					continue
				}
				var bv float32
				if bias != nil {
					bv = bias[o]
				}
				winoOut8(bf.m[(o-m0)*nr+h:], bf.mStride, bv, out, &bf.tmp)
			}
			if storeBlocked8 != nil && t0+h+8 <= g.tiles {
				var off [8]int
				full := true
				for l := range off {
					t := t0 + h + l
					img, rest := t/(g.th*g.tw), t%(g.th*g.tw)
					oy0, ox0 := rest/g.tw*winoM, rest%g.tw*winoM
					full = full && oy0+winoM <= g.oh && ox0+winoM <= g.ow
					off[l] = ((img*obs+blk)*g.oh+oy0)*g.ow*bs + ox0*bs + ci0
				}
				if full {
					storeBlocked8(&bf.outs, y, &off, g.ow*bs, bs)
					continue
				}
			}
			// bf.outs[(c·16 + px)·8 + l] → tr[(l·16 + px)·8 + c].
			for px := range winoM * winoM {
				transpose8(bf.outs[px*8:], winoM*winoM*8, tr[px*8:], winoM*winoM*8)
			}
			for l := 0; l < 8 && t0+h+l < g.tiles; l++ {
				t := t0 + h + l
				img, rest := t/(g.th*g.tw), t%(g.th*g.tw)
				oy0, ox0 := rest/g.tw*winoM, rest%g.tw*winoM
				ny, nx := min(winoM, g.oh-oy0), min(winoM, g.ow-ox0)
				base := ((img*obs+blk)*g.oh+oy0)*g.ow*bs + ox0*bs + ci0
				for i := 0; i < ny; i++ {
					row := y[base+i*g.ow*bs:]
					src := tr[(l*winoM*winoM+i*winoM)*8:]
					for k := 0; k < nx; k++ {
						*(*[8]float32)(row[k*bs:]) = *(*[8]float32)(src[k*8:])
					}
				}
			}
		}
	}
}

// winoConvBlocked is winoConv with the input x and output y blocked by bs channels (a multiple
// of 8).
func winoConvBlocked(g winoGeom, bs int, x, u, bias, y []float32) {
	cbs := (g.c + bs - 1) / bs
	// Output channel groups split among tasks in multiples of 4 panels (24 channels), so that
	// every task's eight-channel groups start at a multiple of 8.
	out := func(bf *winoBufs, t0, o0, o1 int) { g.outputBlocked(bf, y, bias, bs, t0, o0, o0, o1) }
	if bs == 16 && winoOut16 != nil {
		out = func(bf *winoBufs, t0, o0, o1 int) { g.outputBlocked16Split(bf, y, bias, t0, o0, o1) }
	}
	winoRun(g, u, 4, func(xp []float32) {
		parallel(g.n*cbs, func(_, p int) { g.padBlocked(x, xp, bs, p/cbs, p%cbs) })
	}, out)
}

func checkBlock(op string, bs int) {
	if bs != 8 && bs != 16 {
		panic(fmt.Sprintf("purego: %s: channel block %d, want 8 or 16", op, bs))
	}
}

// WinogradForwardBlocked is WinogradForward on tensors blocked by block channels (8 or 16; see
// the layout above): x holds N×⌈C/block⌉×H×W×block floats, y N×⌈O/block⌉×OH×OW×block, and
// y's padding channels are set to zero. u and bias are as for WinogradForward.
func WinogradForwardBlocked(g WinogradGeom, block int, x, u, bias, y []float32) {
	const op = "WinogradForwardBlocked"
	checkBlock(op, block)
	g.checkForward(op, block, x, u, bias, y)
	winoConvBlocked(newWinoGeom(g.N, g.C, g.H, g.W, g.O, g.Pad), block, x, u, bias, y)
}

// WinogradBackwardDataBlocked is WinogradBackwardData on tensors blocked by block channels (8
// or 16): dy holds N×⌈O/block⌉×OH×OW×block floats, dx N×⌈C/block⌉×H×W×block, and dx's padding
// channels are set to zero. u is WinogradFilters(w, O, C, true).
func WinogradBackwardDataBlocked(g WinogradGeom, block int, dy, u, dx []float32) {
	const op = "WinogradBackwardDataBlocked"
	checkBlock(op, block)
	g.checkBackwardData(op, block, dy, u, dx)
	oh, ow := g.Out()
	winoConvBlocked(newWinoGeom(g.N, g.O, oh, ow, g.C, 2-g.Pad), block, dy, u, nil, dx)
}
