//go:build amd64 && !purego

package purego

import "golang.org/x/sys/cpu"

func init() {
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		winoIn8, winoOut8, transpose8 = avx2WinoIn8, avx2WinoOut8, avx2Transpose8
		storeBlocked8 = avx2StoreBlocked8
	}
}

// avx2WinoIn8 is winoIn8 in AVX2 and FMA assembly: it reads eight floats from the start of each
// patch row (x must hold the two past the last row's six).
func avx2WinoIn8(x []float32, off []int32, ld int, dst []float32, stride int, tmp *[winoP * 8]float32) {
	off = off[:8]
	hi := off[0]
	for _, o := range off {
		if o < 0 {
			panic("purego: winoIn8: negative offset")
		}
		hi = max(hi, o)
	}
	_ = x[int(hi)+(winoA-1)*ld+7] // every value read lies in x
	_ = dst[(winoP-1)*stride+7]
	winoIn8asm(&x[0], &off[0], ld, &dst[0], stride, &tmp[0])
}

//go:noescape
func winoIn8asm(x *float32, off *int32, ld int, dst *float32, stride int, tmp *float32)

// avx2WinoOut8 is winoOut8 in AVX2 and FMA assembly.
func avx2WinoOut8(m []float32, stride int, bias float32, out *[winoM * winoM * 8]float32, tmp *[winoP * 8]float32) {
	_ = m[(winoP-1)*stride+7]
	winoOut8asm(&m[0], stride, bias, &out[0], &tmp[0])
}

//go:noescape
func winoOut8asm(m *float32, stride int, bias float32, out, tmp *float32)

// avx2Transpose8 is transpose8 in AVX assembly.
func avx2Transpose8(src []float32, lds int, dst []float32, ldd int) {
	_, _ = src[7*lds+7], dst[7*ldd+7]
	transpose8asm(&src[0], lds, &dst[0], ldd)
}

//go:noescape
func transpose8asm(src *float32, lds int, dst *float32, ldd int)

// avx2StoreBlocked8 is storeBlocked8 in AVX assembly.
func avx2StoreBlocked8(outs *[8 * winoM * winoM * 8]float32, y []float32, off *[8]int, ldr, ldc int) {
	last := (winoM-1)*ldr + (winoM-1)*ldc + 7
	if ldr < 0 || ldc < 0 {
		panic("purego: storeBlocked8: negative stride")
	}
	for _, o := range off {
		if o < 0 {
			panic("purego: storeBlocked8: negative offset")
		}
		_ = y[o+last] // every value written lies in y
	}
	storeBlocked8asm(&outs[0], &y[0], off, ldr, ldc)
}

//go:noescape
func storeBlocked8asm(outs *float32, y *float32, off *[8]int, ldr, ldc int)
