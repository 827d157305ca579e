package purego

// microKernel sets the mr×nr tile c[r·ldc + j] (r < mr, j < nr) to Σ_p a[p·mr + r]·b[p·nr + j]
// over p < k: a is k×mr and b k×nr, both packed row by row (see packA and bSource.pack). It is
// the assembly kernel where the CPU has AVX2 and FMA, else goKernel.
var microKernel = goKernel

// kernelName names microKernel: "avx2" or "go".
var kernelName = "go"

// goKernel is microKernel in plain Go.
func goKernel(k int, a, b, c []float32, ldc int) {
	a, b = a[:k*mr], b[:k*nr]
	_ = c[(mr-1)*ldc+nr-1]
	var acc [mr][nr]float32
	for p := 0; p < k; p++ {
		ap := (*[mr]float32)(a[p*mr:])
		bp := (*[nr]float32)(b[p*nr:])
		for r := 0; r < mr; r++ {
			ar := ap[r]
			row := &acc[r]
			for j := 0; j < nr; j++ {
				row[j] += ar * bp[j]
			}
		}
	}
	for r := 0; r < mr; r++ {
		copy(c[r*ldc:r*ldc+nr], acc[r][:])
	}
}

// offKernel is microKernel with b given implicitly: row p of the k×nr matrix is
// b[off[p] : off[p]+nr], and maxOff ≥ every off[p] (the bounds check of the assembly kernel).
// It is the assembly kernel where the CPU has AVX2 and FMA, else
// goOffKernel.
var offKernel = goOffKernel

// goOffKernel is offKernel in plain Go.
func goOffKernel(k int, a, b []float32, off []int32, maxOff int, c []float32, ldc int) {
	a, off = a[:k*mr], off[:k]
	_ = c[(mr-1)*ldc+nr-1]
	var acc [mr][nr]float32
	for p, o := range off {
		ap := (*[mr]float32)(a[p*mr:])
		bp := (*[nr]float32)(b[o:])
		for r := 0; r < mr; r++ {
			ar := ap[r]
			row := &acc[r]
			for j := 0; j < nr; j++ {
				row[j] += ar * bp[j]
			}
		}
	}
	for r := 0; r < mr; r++ {
		copy(c[r*ldc:r*ldc+nr], acc[r][:])
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
