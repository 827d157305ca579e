//go:build amd64 && !purego

#include "textflag.h"

// The 16-wide Winograd transforms in AVX-512F: winoIn8asm, winoOut8asm and transpose8asm
// (winograd_amd64.s) with 512-bit registers, whose four 128-bit lanes take the place of the two
// of a 256-bit one. The arithmetic is theirs, instruction for instruction.

// WINO_IN16 applies Bᵀ to the sixteen-lane vectors d0…d5 in Z0…Z5 (Z14 = 4, Z13 = 5; Z6–Z8
// scratch) and stores v0…v5 to O0…O5.
#define WINO_IN16(O0, O1, O2, O3, O4, O5) \
	VMOVAPS Z4, Z6; \
	VFMADD231PS Z14, Z0, Z6; \
	VFNMADD231PS Z13, Z2, Z6; \
	VMOVUPS Z6, O0; \
	VMOVAPS Z5, Z7; \
	VFMADD231PS Z14, Z1, Z7; \
	VFNMADD231PS Z13, Z3, Z7; \
	VMOVUPS Z7, O5; \
	VMOVAPS Z4, Z6; \
	VFNMADD231PS Z14, Z2, Z6; \
	VMOVAPS Z3, Z7; \
	VFNMADD231PS Z14, Z1, Z7; \
	VADDPS Z7, Z6, Z8; \
	VMOVUPS Z8, O1; \
	VSUBPS Z7, Z6, Z8; \
	VMOVUPS Z8, O2; \
	VSUBPS Z2, Z4, Z6; \
	VSUBPS Z1, Z3, Z7; \
	VADDPS Z7, Z7, Z7; \
	VADDPS Z7, Z6, Z8; \
	VMOVUPS Z8, O3; \
	VSUBPS Z7, Z6, Z8; \
	VMOVUPS Z8, O4

// LD4 loads four 128-bit pieces into the four lanes of Z (X is its low quarter): A0 into lane
// 0, A1 into 1, A2 into 2, A3 into 3.
#define LD4(Z, X, A0, A1, A2, A3) \
	VMOVUPS A0, X; \
	VINSERTF32X4 $1, A1, Z, Z; \
	VINSERTF32X4 $2, A2, Z, Z; \
	VINSERTF32X4 $3, A3, Z, Z

// TR4 transposes the 4×4 blocks of Z0…Z3 lane by lane (Z8–Z11 scratch): float j of lane q of
// Zi goes to float i of lane q of Zj.
#define TR4 \
	VUNPCKLPS Z1, Z0, Z8; \
	VUNPCKHPS Z1, Z0, Z9; \
	VUNPCKLPS Z3, Z2, Z10; \
	VUNPCKHPS Z3, Z2, Z11; \
	VSHUFPS $0x44, Z10, Z8, Z0; \
	VSHUFPS $0xEE, Z10, Z8, Z1; \
	VSHUFPS $0x44, Z11, Z9, Z2; \
	VSHUFPS $0xEE, Z11, Z9, Z3

// IN_LANES loads row r of the patches of lanes J, J+4, J+8 and J+12 (their offsets at the
// byte offsets B0…B3 of DI; the row at SI) into Zlo (floats 0–3) and Zhi (floats 4–7).
#define IN_LANES(B0, B1, B2, B3, ZLO, XLO, ZHI, XHI) \
	MOVLQSX B0(DI), AX; \
	MOVLQSX B1(DI), BX; \
	MOVLQSX B2(DI), CX; \
	MOVLQSX B3(DI), R8; \
	LD4(ZLO, XLO, (SI)(AX*4), (SI)(BX*4), (SI)(CX*4), (SI)(R8*4)); \
	LD4(ZHI, XHI, 16(SI)(AX*4), 16(SI)(BX*4), 16(SI)(CX*4), 16(SI)(R8*4))

// func winoIn16asm(x *float32, off *int32, ld int, dst *float32, stride int, tmp *float32)
// The row pass loads row r of the sixteen lanes' patches (lanes l, l+4, l+8 and l+12 in the
// four 128-bit lanes of one register), transposes them into the vectors d0…d5 of the row and
// writes d·B to tmp (36 vectors, (6r+k)·64 bytes); the column pass reads six of them at a time
// and writes Bᵀ(d·B) to dst.
TEXT ·winoIn16asm(SB), NOSPLIT, $0-48
	MOVQ x+0(FP), SI
	MOVQ off+8(FP), DI
	MOVQ ld+16(FP), R13
	SHLQ $2, R13 // ld in bytes
	MOVQ tmp+40(FP), DX
	MOVL $0x40800000, AX // 4.0
	VMOVD AX, X14
	VBROADCASTSS X14, Z14
	MOVL $0x40a00000, AX // 5.0
	VMOVD AX, X13
	VBROADCASTSS X13, Z13
	MOVQ $6, R9
in16rows:
	IN_LANES(0, 16, 32, 48, Z0, X0, Z4, X4)
	IN_LANES(4, 20, 36, 52, Z1, X1, Z5, X5)
	IN_LANES(8, 24, 40, 56, Z2, X2, Z6, X6)
	IN_LANES(12, 28, 44, 60, Z3, X3, Z7, X7)
	// d0…d3: floats 0–3; d4, d5: floats 4 and 5 (6 and 7 are read and dropped).
	TR4
	VUNPCKLPS Z5, Z4, Z8
	VUNPCKLPS Z7, Z6, Z9
	VSHUFPS $0x44, Z9, Z8, Z4
	VSHUFPS $0xEE, Z9, Z8, Z5
	WINO_IN16(0(DX), 64(DX), 128(DX), 192(DX), 256(DX), 320(DX))
	ADDQ R13, SI
	ADDQ $384, DX
	DECQ R9
	JNZ in16rows

	// Column k: tmp + 64k, rows 384 bytes apart; output i at dst + (6i+k)·stride.
	MOVQ dst+24(FP), R10
	MOVQ stride+32(FP), R8
	SHLQ $2, R8 // stride in bytes
	MOVQ R8, R11
	IMULQ $6, R11 // 6·stride: between outputs i
	LEAQ (R11)(R11*2), R12 // 3·(6·stride)
	LEAQ (R11)(R11*4), R13 // 5·(6·stride)
	MOVQ tmp+40(FP), R9
	MOVQ $6, BX
in16cols:
	VMOVUPS 0(R9), Z0
	VMOVUPS 384(R9), Z1
	VMOVUPS 768(R9), Z2
	VMOVUPS 1152(R9), Z3
	VMOVUPS 1536(R9), Z4
	VMOVUPS 1920(R9), Z5
	WINO_IN16((R10), (R10)(R11*1), (R10)(R11*2), (R10)(R12*1), (R10)(R11*4), (R10)(R13*1))
	ADDQ $64, R9
	ADDQ R8, R10
	DECQ BX
	JNZ in16cols
	VZEROUPPER
	RET

// WINO_OUT16 applies Aᵀ to the sixteen-lane vectors s0…s5 in Z0…Z5 (Z13 = 2, Z14 = 4,
// Z15 = 8, Z12 added to every output; Z6–Z9 scratch) and stores y0…y3 to O0…O3.
#define WINO_OUT16(O0, O1, O2, O3) \
	VADDPS Z2, Z1, Z6; \
	VSUBPS Z2, Z1, Z7; \
	VADDPS Z4, Z3, Z8; \
	VSUBPS Z4, Z3, Z9; \
	VADDPS Z6, Z0, Z0; \
	VADDPS Z8, Z0, Z0; \
	VADDPS Z12, Z0, Z0; \
	VMOVUPS Z0, O0; \
	VADDPS Z12, Z7, Z1; \
	VFMADD231PS Z13, Z9, Z1; \
	VMOVUPS Z1, O1; \
	VADDPS Z12, Z6, Z2; \
	VFMADD231PS Z14, Z8, Z2; \
	VMOVUPS Z2, O2; \
	VADDPS Z5, Z7, Z3; \
	VADDPS Z12, Z3, Z3; \
	VFMADD231PS Z15, Z9, Z3; \
	VMOVUPS Z3, O3

// func winoOut16asm(m *float32, stride int, bias float32, out, tmp *float32)
// The row pass reads the six points of a row of the sixteen lanes' products and writes M·A to
// tmp (24 vectors, (4i+k)·64 bytes); the column pass writes Aᵀ(M·A) + bias to out.
TEXT ·winoOut16asm(SB), NOSPLIT, $0-40
	MOVQ m+0(FP), SI
	MOVQ stride+8(FP), R8
	MOVQ out+24(FP), DI
	MOVQ tmp+32(FP), DX
	SHLQ $2, R8 // stride in bytes
	LEAQ (R8)(R8*2), R10 // 3·stride
	LEAQ (R8)(R8*4), R11 // 5·stride
	MOVQ R8, R12
	IMULQ $6, R12 // 6·stride: between rows
	MOVL $0x40000000, AX // 2.0
	VMOVD AX, X13
	VBROADCASTSS X13, Z13
	MOVL $0x40800000, AX // 4.0
	VMOVD AX, X14
	VBROADCASTSS X14, Z14
	MOVL $0x41000000, AX // 8.0
	VMOVD AX, X15
	VBROADCASTSS X15, Z15
	VXORPS Y12, Y12, Y12 // no bias in the row pass (zeroes all of Z12)
	MOVQ DX, R9
	MOVQ $6, BX
out16rows:
	VMOVUPS (SI), Z0
	VMOVUPS (SI)(R8*1), Z1
	VMOVUPS (SI)(R8*2), Z2
	VMOVUPS (SI)(R10*1), Z3
	VMOVUPS (SI)(R8*4), Z4
	VMOVUPS (SI)(R11*1), Z5
	WINO_OUT16(0(R9), 64(R9), 128(R9), 192(R9))
	ADDQ R12, SI
	ADDQ $256, R9
	DECQ BX
	JNZ out16rows

	VBROADCASTSS bias+16(FP), Z12
	MOVQ DX, R9
	MOVQ $4, BX
out16cols:
	VMOVUPS 0(R9), Z0
	VMOVUPS 256(R9), Z1
	VMOVUPS 512(R9), Z2
	VMOVUPS 768(R9), Z3
	VMOVUPS 1024(R9), Z4
	VMOVUPS 1280(R9), Z5
	WINO_OUT16(0(DI), 256(DI), 512(DI), 768(DI))
	ADDQ $64, R9
	ADDQ $64, DI
	DECQ BX
	JNZ out16cols
	VZEROUPPER
	RET

// func transpose16asm(src *float32, lds int, dst *float32, ldd int)
// Four passes, one per group of four columns of src (floats 4g…4g+3): rows j, j+4, j+8 and
// j+12 share a register (its four 128-bit lanes) for j < 4, and transposing the 4×4 blocks lane
// by lane gives column 4g+j of src (row 4g+j of dst) whole in one register. SI and R13 point at
// rows 0 and 8 of the group's columns.
TEXT ·transpose16asm(SB), NOSPLIT, $0-32
	MOVQ src+0(FP), SI
	MOVQ lds+8(FP), R8
	MOVQ dst+16(FP), DI
	MOVQ ldd+24(FP), R9
	SHLQ $2, R8 // strides in bytes
	SHLQ $2, R9
	LEAQ (R8)(R8*2), R10 // 3·lds
	LEAQ (R8)(R8*4), R11 // 5·lds
	LEAQ (R10)(R8*4), R12 // 7·lds
	LEAQ (SI)(R8*8), R13 // row 8
	LEAQ (R9)(R9*2), BX // 3·ldd
	MOVQ R9, AX
	SHLQ $2, AX // 4·ldd
	MOVQ $4, CX
tr16:
	LD4(Z0, X0, (SI), (SI)(R8*4), (R13), (R13)(R8*4))
	LD4(Z1, X1, (SI)(R8*1), (SI)(R11*1), (R13)(R8*1), (R13)(R11*1))
	LD4(Z2, X2, (SI)(R8*2), (SI)(R10*2), (R13)(R8*2), (R13)(R10*2))
	LD4(Z3, X3, (SI)(R10*1), (SI)(R12*1), (R13)(R10*1), (R13)(R12*1))
	TR4
	VMOVUPS Z0, (DI)
	VMOVUPS Z1, (DI)(R9*1)
	VMOVUPS Z2, (DI)(R9*2)
	VMOVUPS Z3, (DI)(BX*1)
	ADDQ $16, SI
	ADDQ $16, R13
	ADDQ AX, DI
	DECQ CX
	JNZ tr16
	VZEROUPPER
	RET

// BLK16_GROUP transposes one group of four tiles (columns 4g…4g+3 of the pixel's 16×16 block
// of outs: sixteen channels 1024 bytes apart from SI) and stores each tile's sixteen channels at
// R8 (the pixel's offset in y) plus the tile's offset, read from R14 at byte offsets B0…B3.
#define BLK16_GROUP(B0, B1, B2, B3) \
	LD4(Z0, X0, 0(SI), 4096(SI), 8192(SI), 12288(SI)); \
	LD4(Z1, X1, 1024(SI), 5120(SI), 9216(SI), 13312(SI)); \
	LD4(Z2, X2, 2048(SI), 6144(SI), 10240(SI), 14336(SI)); \
	LD4(Z3, X3, 3072(SI), 7168(SI), 11264(SI), 15360(SI)); \
	TR4; \
	MOVQ B0(R14), AX; \
	VMOVUPS Z0, (R8)(AX*4); \
	MOVQ B1(R14), AX; \
	VMOVUPS Z1, (R8)(AX*4); \
	MOVQ B2(R14), AX; \
	VMOVUPS Z2, (R8)(AX*4); \
	MOVQ B3(R14), AX; \
	VMOVUPS Z3, (R8)(AX*4); \
	ADDQ $16, SI

// func storeBlocked16asm(outs *float32, y *float32, off *[16]int, ldr, ldc int)
// outs is outputBlocked16's bf.outs16: sixteen channels' 4×4 results for sixteen tiles,
// outs[(c·16 + px)·16 + l]. Pixel (i, k) of tile l gets its sixteen channels at
// y + off[l] + i·ldr + k·ldc (floats). The pixels run in order, px = 4i+k, each 64 bytes on
// from the last in outs.
TEXT ·storeBlocked16asm(SB), NOSPLIT, $0-40
	MOVQ outs+0(FP), SI
	MOVQ y+8(FP), R13
	MOVQ off+16(FP), R14
	MOVQ ldr+24(FP), DI
	MOVQ ldc+32(FP), DX
	SHLQ $2, DI // strides in bytes
	SHLQ $2, DX
	MOVQ $4, CX
blk16rows:
	MOVQ R13, R8
	MOVQ $4, BX
blk16px:
	BLK16_GROUP(0, 8, 16, 24)
	BLK16_GROUP(32, 40, 48, 56)
	BLK16_GROUP(64, 72, 80, 88)
	BLK16_GROUP(96, 104, 112, 120)
	ADDQ DX, R8
	DECQ BX
	JNZ blk16px
	ADDQ DI, R13
	DECQ CX
	JNZ blk16rows
	VZEROUPPER
	RET
