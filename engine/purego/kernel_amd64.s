//go:build amd64 && !purego

#include "textflag.h"

// func kernel6x16(k int, a, b, c *float32, ldc int)
// Y4–Y15 accumulate the 6×16 tile (row r in Y(4+2r), Y(5+2r)); Y0, Y1 hold a row of b and
// Y2, Y3 alternate as the broadcast element of a.
TEXT ·kernel6x16(SB), NOSPLIT, $0-40
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ c+24(FP), DX
	MOVQ ldc+32(FP), R8
	SHLQ $2, R8
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	VXORPS Y12, Y12, Y12
	VXORPS Y13, Y13, Y13
	VXORPS Y14, Y14, Y14
	VXORPS Y15, Y15, Y15
loop:
	VMOVUPS (DI), Y0
	VMOVUPS 32(DI), Y1
	VBROADCASTSS 0(SI), Y2
	VFMADD231PS Y0, Y2, Y4
	VFMADD231PS Y1, Y2, Y5
	VBROADCASTSS 4(SI), Y3
	VFMADD231PS Y0, Y3, Y6
	VFMADD231PS Y1, Y3, Y7
	VBROADCASTSS 8(SI), Y2
	VFMADD231PS Y0, Y2, Y8
	VFMADD231PS Y1, Y2, Y9
	VBROADCASTSS 12(SI), Y3
	VFMADD231PS Y0, Y3, Y10
	VFMADD231PS Y1, Y3, Y11
	VBROADCASTSS 16(SI), Y2
	VFMADD231PS Y0, Y2, Y12
	VFMADD231PS Y1, Y2, Y13
	VBROADCASTSS 20(SI), Y3
	VFMADD231PS Y0, Y3, Y14
	VFMADD231PS Y1, Y3, Y15
	ADDQ $24, SI
	ADDQ $64, DI
	DECQ CX
	JNZ loop
	VMOVUPS Y4, (DX)
	VMOVUPS Y5, 32(DX)
	ADDQ R8, DX
	VMOVUPS Y6, (DX)
	VMOVUPS Y7, 32(DX)
	ADDQ R8, DX
	VMOVUPS Y8, (DX)
	VMOVUPS Y9, 32(DX)
	ADDQ R8, DX
	VMOVUPS Y10, (DX)
	VMOVUPS Y11, 32(DX)
	ADDQ R8, DX
	VMOVUPS Y12, (DX)
	VMOVUPS Y13, 32(DX)
	ADDQ R8, DX
	VMOVUPS Y14, (DX)
	VMOVUPS Y15, 32(DX)
	VZEROUPPER
	RET

// func kernel6x16off(k int, a, b *float32, off *int32, c *float32, ldc int)
// As kernel6x16, but row p of b is the 16 floats at b + off[p] (an implicit im2col matrix).
TEXT ·kernel6x16off(SB), NOSPLIT, $0-48
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ off+24(FP), R10
	MOVQ c+32(FP), DX
	MOVQ ldc+40(FP), R8
	SHLQ $2, R8
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	VXORPS Y12, Y12, Y12
	VXORPS Y13, Y13, Y13
	VXORPS Y14, Y14, Y14
	VXORPS Y15, Y15, Y15
offloop:
	MOVLQSX (R10), R9
	VMOVUPS (DI)(R9*4), Y0
	VMOVUPS 32(DI)(R9*4), Y1
	VBROADCASTSS 0(SI), Y2
	VFMADD231PS Y0, Y2, Y4
	VFMADD231PS Y1, Y2, Y5
	VBROADCASTSS 4(SI), Y3
	VFMADD231PS Y0, Y3, Y6
	VFMADD231PS Y1, Y3, Y7
	VBROADCASTSS 8(SI), Y2
	VFMADD231PS Y0, Y2, Y8
	VFMADD231PS Y1, Y2, Y9
	VBROADCASTSS 12(SI), Y3
	VFMADD231PS Y0, Y3, Y10
	VFMADD231PS Y1, Y3, Y11
	VBROADCASTSS 16(SI), Y2
	VFMADD231PS Y0, Y2, Y12
	VFMADD231PS Y1, Y2, Y13
	VBROADCASTSS 20(SI), Y3
	VFMADD231PS Y0, Y3, Y14
	VFMADD231PS Y1, Y3, Y15
	ADDQ $4, R10
	ADDQ $24, SI
	DECQ CX
	JNZ offloop
	VMOVUPS Y4, (DX)
	VMOVUPS Y5, 32(DX)
	ADDQ R8, DX
	VMOVUPS Y6, (DX)
	VMOVUPS Y7, 32(DX)
	ADDQ R8, DX
	VMOVUPS Y8, (DX)
	VMOVUPS Y9, 32(DX)
	ADDQ R8, DX
	VMOVUPS Y10, (DX)
	VMOVUPS Y11, 32(DX)
	ADDQ R8, DX
	VMOVUPS Y12, (DX)
	VMOVUPS Y13, 32(DX)
	ADDQ R8, DX
	VMOVUPS Y14, (DX)
	VMOVUPS Y15, 32(DX)
	VZEROUPPER
	RET

// func scaleShift8(dst, src *float32, n int, s, t float32, relu bool)
// dst[i] = src[i]·s + t (then max(·, 0) with relu) for i < n, n a multiple of 8.
TEXT ·scaleShift8(SB), NOSPLIT, $0-33
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS s+24(FP), Y1
	VBROADCASTSS t+28(FP), Y2
	VXORPS Y3, Y3, Y3
	MOVBLZX relu+32(FP), AX
	SHRQ $3, CX
	JEQ ssdone
	TESTQ AX, AX
	JNE ssrelu
ssloop:
	VMOVUPS (SI), Y0
	VFMADD213PS Y2, Y1, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ ssloop
	JMP ssdone
ssrelu:
	VMOVUPS (SI), Y0
	VFMADD213PS Y2, Y1, Y0
	VMAXPS Y3, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ ssrelu
ssdone:
	VZEROUPPER
	RET

// func add8(dst, a, b *float32, n int, relu bool)
// dst[i] = a[i] + b[i] (then max(·, 0) with relu) for i < n, n a multiple of 8.
TEXT ·add8(SB), NOSPLIT, $0-33
	MOVQ dst+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DX
	MOVQ n+24(FP), CX
	MOVBLZX relu+32(FP), AX
	VXORPS Y3, Y3, Y3
	SHRQ $3, CX
	JEQ adone
	TESTQ AX, AX
	JNE arelu
aloop:
	VMOVUPS (SI), Y0
	VADDPS (DX), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DX
	ADDQ $32, DI
	DECQ CX
	JNZ aloop
	JMP adone
arelu:
	VMOVUPS (SI), Y0
	VADDPS (DX), Y0, Y0
	VMAXPS Y3, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DX
	ADDQ $32, DI
	DECQ CX
	JNZ arelu
adone:
	VZEROUPPER
	RET

// func maxWindow8(n int, q *float32, off *int32, kk int, best, argk *float32)
// For i < n (a multiple of 8): best[i] is the maximum of q[off[k]+i] over k < kk, taken in
// order k = 0, 1, … with the reference's rule (a later value wins when greater, or when NaN),
// and argk[i] the winning k as a float32.
TEXT ·maxWindow8(SB), NOSPLIT, $0-48
	MOVQ n+0(FP), CX
	MOVQ q+8(FP), SI
	MOVQ off+16(FP), R10
	MOVQ kk+24(FP), BX
	MOVQ best+32(FP), DI
	MOVQ argk+40(FP), DX
	MOVL $0x3f800000, AX
	MOVQ AX, X4
	VBROADCASTSS X4, Y4
	SHRQ $3, CX
	JEQ mwdone
mwchunk:
	MOVQ R10, R11
	MOVLQSX (R11), R9
	VMOVUPS (SI)(R9*4), Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y3, Y3, Y3
	MOVQ BX, R12
	DECQ R12
	JEQ mwstore
mwk:
	ADDQ $4, R11
	VADDPS Y4, Y3, Y3
	MOVLQSX (R11), R9
	VMOVUPS (SI)(R9*4), Y2
	VCMPPS $0x1e, Y0, Y2, Y5
	VCMPPS $3, Y2, Y2, Y6
	VORPS Y6, Y5, Y5
	VBLENDVPS Y5, Y2, Y0, Y0
	VBLENDVPS Y5, Y3, Y1, Y1
	DECQ R12
	JNZ mwk
mwstore:
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, (DX)
	ADDQ $32, SI
	ADDQ $32, DI
	ADDQ $32, DX
	DECQ CX
	JNZ mwchunk
mwdone:
	VZEROUPPER
	RET
