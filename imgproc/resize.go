package imgproc

import "math"

// precisionBits is the fixed-point precision of Pillow's 8-bit resampling coefficients.
const precisionBits = 32 - 8 - 2

// kernel holds the fixed-point weights of a one-dimensional resampling pass: output sample i
// reads input samples start[i] … start[i]+n[i]-1 with weights w[i*size : i*size+n[i]].
type kernel struct {
	size  int
	start []int
	n     []int
	w     []int32
}

// bilinearKernel computes the weights Pillow's Image.resize uses for BILINEAR when mapping in
// samples onto out samples: a triangle filter whose support widens with the scale when
// shrinking (so shrinking averages, as an antialiasing filter), normalised to sum 1, then
// rounded to precisionBits fixed point (libImaging/Resample.c, precompute_coeffs and
// normalize_coeffs_8bpc).
func bilinearKernel(in, out int) kernel {
	scale := float64(in) / float64(out)
	filterScale := math.Max(scale, 1)
	support := 1.0 * filterScale
	size := int(math.Ceil(support))*2 + 1
	k := kernel{size: size, start: make([]int, out), n: make([]int, out), w: make([]int32, out*size)}
	tmp := make([]float64, size)
	for i := 0; i < out; i++ {
		center := (float64(i) + 0.5) * scale
		lo := int(center - support + 0.5) // C's (int) truncates toward zero, as Go's conversion
		if lo < 0 {
			lo = 0
		}
		hi := int(center + support + 0.5)
		if hi > in {
			hi = in
		}
		n := hi - lo
		sum := 0.0
		for j := 0; j < n; j++ {
			t := math.Abs((float64(j+lo) - center + 0.5) / filterScale)
			v := 0.0
			if t < 1 {
				v = 1 - t
			}
			tmp[j] = v
			sum += v
		}
		for j := 0; j < n; j++ {
			v := tmp[j]
			if sum != 0 {
				v /= sum
			}
			if v < 0 {
				k.w[i*size+j] = int32(-0.5 + v*(1<<precisionBits))
			} else {
				k.w[i*size+j] = int32(0.5 + v*(1<<precisionBits))
			}
		}
		k.start[i], k.n[i] = lo, n
	}
	return k
}

// clip8 turns a fixed-point sum into a byte, as Pillow's clip8.
func clip8(v int32) uint8 {
	if v >= 255<<precisionBits {
		return 255
	}
	if v <= 0 {
		return 0
	}
	return uint8(v >> precisionBits)
}

// Resize returns m scaled to w×h with bilinear interpolation, the aspect ratio not kept. It
// reproduces Pillow's Image.resize((w, h), Image.BILINEAR) on 8-bit RGB exactly (the seed's
// resize): a horizontal pass, rounded to bytes, then a vertical pass, each a triangle filter
// that widens to average over the source pixels when shrinking.
func (m *RGB) Resize(w, h int) *RGB {
	if w <= 0 || h <= 0 {
		panic("imgproc: Resize to a non-positive size")
	}
	if m.W == 0 || m.H == 0 {
		panic("imgproc: Resize of an empty image")
	}
	src := m
	if w != m.W {
		src = resizeH(src, w)
	}
	if h != m.H {
		src = resizeV(src, h)
	}
	if src == m {
		return m.Clone()
	}
	return src
}

func resizeH(m *RGB, w int) *RGB {
	k := bilinearKernel(m.W, w)
	out := New(w, m.H)
	const half = 1 << (precisionBits - 1)
	for y := 0; y < m.H; y++ {
		row := m.Pix[y*m.W*3 : (y+1)*m.W*3]
		o := out.Pix[y*w*3 : (y+1)*w*3]
		for x := 0; x < w; x++ {
			ws := k.w[x*k.size : x*k.size+k.n[x]]
			in := row[k.start[x]*3:]
			r, g, b := int32(half), int32(half), int32(half)
			// Unrolled for the tap counts of common scales (2: enlarging, 3–4: shrinking by
			// up to 1.5); the loop handles the rest.
			switch len(ws) {
			case 2:
				p, c0, c1 := in[:6:6], ws[0], ws[1]
				r += int32(p[0])*c0 + int32(p[3])*c1
				g += int32(p[1])*c0 + int32(p[4])*c1
				b += int32(p[2])*c0 + int32(p[5])*c1
			case 3:
				p, c0, c1, c2 := in[:9:9], ws[0], ws[1], ws[2]
				r += int32(p[0])*c0 + int32(p[3])*c1 + int32(p[6])*c2
				g += int32(p[1])*c0 + int32(p[4])*c1 + int32(p[7])*c2
				b += int32(p[2])*c0 + int32(p[5])*c1 + int32(p[8])*c2
			case 4:
				p, c0, c1, c2, c3 := in[:12:12], ws[0], ws[1], ws[2], ws[3]
				r += int32(p[0])*c0 + int32(p[3])*c1 + int32(p[6])*c2 + int32(p[9])*c3
				g += int32(p[1])*c0 + int32(p[4])*c1 + int32(p[7])*c2 + int32(p[10])*c3
				b += int32(p[2])*c0 + int32(p[5])*c1 + int32(p[8])*c2 + int32(p[11])*c3
			default:
				in = in[:3*len(ws)]
				for j, c := range ws {
					p := in[3*j : 3*j+3 : 3*j+3]
					r += int32(p[0]) * c
					g += int32(p[1]) * c
					b += int32(p[2]) * c
				}
			}
			q := o[3*x : 3*x+3 : 3*x+3]
			q[0], q[1], q[2] = clip8(r), clip8(g), clip8(b)
		}
	}
	return out
}

func resizeV(m *RGB, h int) *RGB {
	k := bilinearKernel(m.H, h)
	out := New(m.W, h)
	stride := m.W * 3
	acc := make([]int32, stride)
	const half = 1 << (precisionBits - 1)
	for y := 0; y < h; y++ {
		ws := k.w[y*k.size : y*k.size+k.n[y]]
		rows := m.Pix[k.start[y]*stride : (k.start[y]+len(ws))*stride]
		j := 0
		// The first one or two taps initialise the sums; the rest add, two rows at a time.
		if len(ws) >= 2 {
			c0, c1 := ws[0], ws[1]
			r0, r1 := rows[:len(acc)], rows[stride:stride+len(acc)]
			for i := range acc {
				acc[i] = half + int32(r0[i])*c0 + int32(r1[i])*c1
			}
			j = 2
		} else {
			c0, r0 := ws[0], rows[:len(acc)]
			for i := range acc {
				acc[i] = half + int32(r0[i])*c0
			}
			j = 1
		}
		for ; j+1 < len(ws); j += 2 {
			c0, c1 := ws[j], ws[j+1]
			r0, r1 := rows[j*stride:], rows[(j+1)*stride:]
			r0, r1 = r0[:len(acc)], r1[:len(acc)]
			for i := range acc {
				acc[i] += int32(r0[i])*c0 + int32(r1[i])*c1
			}
		}
		if j < len(ws) {
			c0, r0 := ws[j], rows[j*stride:]
			r0 = r0[:len(acc)]
			for i := range acc {
				acc[i] += int32(r0[i]) * c0
			}
		}
		o := out.Pix[y*stride:]
		o = o[:len(acc)]
		for i, v := range acc {
			o[i] = clip8(v)
		}
	}
	return out
}
