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
