//go:build amd64 && !purego

package purego

// asmWino16 returns the AVX-512F transforms (the caller checks that the CPU has AVX-512F).
func asmWino16() (
	func([]float32, []int32, int, []float32, int, *[winoP * 16]float32),
	func([]float32, int, float32, *[winoM * winoM * 16]float32, *[winoP * 16]float32),
	func([]float32, int, []float32, int),
	func(*[16 * winoM * winoM * 16]float32, []float32, *[16]int, int, int),
) {
	return avx512WinoIn16, avx512WinoOut16, avx512Transpose16, avx512StoreBlocked16
}

// avx512WinoIn16 is winoIn16 in AVX-512F assembly: it reads eight floats from the start of each
// patch row (x must hold the two past the last row's six).
func avx512WinoIn16(x []float32, off []int32, ld int, dst []float32, stride int, tmp *[winoP * 16]float32) {
	off = off[:16]
	hi := off[0]
	for _, o := range off {
		if o < 0 {
			panic("purego: winoIn16: negative offset")
		}
		hi = max(hi, o)
	}
	_ = x[int(hi)+(winoA-1)*ld+7] // every value read lies in x
	_ = dst[(winoP-1)*stride+15]
	winoIn16asm(&x[0], &off[0], ld, &dst[0], stride, &tmp[0])
}

//go:noescape
func winoIn16asm(x *float32, off *int32, ld int, dst *float32, stride int, tmp *float32)

// avx512WinoOut16 is winoOut16 in AVX-512F assembly.
func avx512WinoOut16(m []float32, stride int, bias float32, out *[winoM * winoM * 16]float32, tmp *[winoP * 16]float32) {
	_ = m[(winoP-1)*stride+15]
	winoOut16asm(&m[0], stride, bias, &out[0], &tmp[0])
}

//go:noescape
func winoOut16asm(m *float32, stride int, bias float32, out, tmp *float32)

// avx512Transpose16 is transpose16 in AVX-512F assembly.
func avx512Transpose16(src []float32, lds int, dst []float32, ldd int) {
	_, _ = src[15*lds+15], dst[15*ldd+15]
	transpose16asm(&src[0], lds, &dst[0], ldd)
}

//go:noescape
func transpose16asm(src *float32, lds int, dst *float32, ldd int)

// avx512StoreBlocked16 is storeBlocked16 in AVX-512F assembly.
func avx512StoreBlocked16(outs *[16 * winoM * winoM * 16]float32, y []float32, off *[16]int, ldr, ldc int) {
	last := (winoM-1)*ldr + (winoM-1)*ldc + 15
	if ldr < 0 || ldc < 0 {
		panic("purego: storeBlocked16: negative stride")
	}
	for _, o := range off {
		if o < 0 {
			panic("purego: storeBlocked16: negative offset")
		}
		_ = y[o+last] // every value written lies in y
	}
	storeBlocked16asm(&outs[0], &y[0], off, ldr, ldc)
}

//go:noescape
func storeBlocked16asm(outs *float32, y *float32, off *[16]int, ldr, ldc int)
