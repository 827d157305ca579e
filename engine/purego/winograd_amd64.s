//go:build amd64 && !purego

#include "textflag.h"

// Constants reach the vector registers through VMOVD (VEX-encoded): a legacy-SSE MOVQ to an X
// register between AVX instructions costs an SSE/AVX transition, which made these kernels
// several times slower.

// WINO_IN applies Bᵀ to the eight-lane vectors d0…d5 in Y0…Y5 (Y14 = 4, Y13 = 5; Y6–Y8
// scratch) and stores v0…v5 to O0…O5.
#define WINO_IN(O0, O1, O2, O3, O4, O5) \
	VMOVAPS Y4, Y6; \
	VFMADD231PS Y14, Y0, Y6; \
	VFNMADD231PS Y13, Y2, Y6; \
	VMOVUPS Y6, O0; \
	VMOVAPS Y5, Y7; \
	VFMADD231PS Y14, Y1, Y7; \
	VFNMADD231PS Y13, Y3, Y7; \
	VMOVUPS Y7, O5; \
	VMOVAPS Y4, Y6; \
	VFNMADD231PS Y14, Y2, Y6; \
	VMOVAPS Y3, Y7; \
	VFNMADD231PS Y14, Y1, Y7; \
	VADDPS Y7, Y6, Y8; \
	VMOVUPS Y8, O1; \
	VSUBPS Y7, Y6, Y8; \
	VMOVUPS Y8, O2; \
	VSUBPS Y2, Y4, Y6; \
	VSUBPS Y1, Y3, Y7; \
	VADDPS Y7, Y7, Y7; \
	VADDPS Y7, Y6, Y8; \
	VMOVUPS Y8, O3; \
	VSUBPS Y7, Y6, Y8; \
	VMOVUPS Y8, O4

// func winoIn8asm(x *float32, off *int32, ld int, dst *float32, stride int, tmp *float32)
// The row pass loads row r of the eight lanes' patches (eight floats from each, lane l's
// pointer in AX, BX, CX, R8, R9, R10, R11, R12), transposes them into the vectors d0…d5 of
// the row (lanes l and l+4 share a 128-bit load pair), and writes d·B to tmp (36 vectors,
// (6r+k)·32 bytes); the column pass reads six of them at a time and writes Bᵀ(d·B) to dst.
TEXT ·winoIn8asm(SB), NOSPLIT, $0-48
	MOVQ x+0(FP), SI
	MOVQ off+8(FP), DI
	MOVQ ld+16(FP), R13
	SHLQ $2, R13 // ld in bytes
	MOVLQSX 0(DI), AX
	LEAQ (SI)(AX*4), AX
	MOVLQSX 4(DI), BX
	LEAQ (SI)(BX*4), BX
	MOVLQSX 8(DI), CX
	LEAQ (SI)(CX*4), CX
	MOVLQSX 12(DI), R8
	LEAQ (SI)(R8*4), R8
	MOVLQSX 16(DI), R9
	LEAQ (SI)(R9*4), R9
	MOVLQSX 20(DI), R10
	LEAQ (SI)(R10*4), R10
	MOVLQSX 24(DI), R11
	LEAQ (SI)(R11*4), R11
	MOVLQSX 28(DI), R12
	LEAQ (SI)(R12*4), R12
	MOVQ tmp+40(FP), DX
	MOVL $0x40800000, SI // 4.0
	VMOVD SI, X14
	VBROADCASTSS X14, Y14
	MOVL $0x40a00000, SI // 5.0
	VMOVD SI, X13
	VBROADCASTSS X13, Y13
	MOVQ $6, SI
inrows:
	// d0…d3: the 4×4 transposes of [lane l | lane l+4] rows, floats 0–3.
	VMOVUPS (AX), X0
	VINSERTF128 $1, (R9), Y0, Y0
	VMOVUPS (BX), X1
	VINSERTF128 $1, (R10), Y1, Y1
	VMOVUPS (CX), X2
	VINSERTF128 $1, (R11), Y2, Y2
	VMOVUPS (R8), X3
	VINSERTF128 $1, (R12), Y3, Y3
	VUNPCKLPS Y1, Y0, Y4
	VUNPCKHPS Y1, Y0, Y5
	VUNPCKLPS Y3, Y2, Y6
	VUNPCKHPS Y3, Y2, Y7
	VSHUFPS $0x44, Y6, Y4, Y0
	VSHUFPS $0xEE, Y6, Y4, Y1
	VSHUFPS $0x44, Y7, Y5, Y2
	VSHUFPS $0xEE, Y7, Y5, Y3
	// d4, d5: floats 4 and 5 (6 and 7 are read and dropped).
	VMOVUPS 16(AX), X4
	VINSERTF128 $1, 16(R9), Y4, Y4
	VMOVUPS 16(BX), X5
	VINSERTF128 $1, 16(R10), Y5, Y5
	VMOVUPS 16(CX), X6
	VINSERTF128 $1, 16(R11), Y6, Y6
	VMOVUPS 16(R8), X7
	VINSERTF128 $1, 16(R12), Y7, Y7
	VUNPCKLPS Y5, Y4, Y8
	VUNPCKLPS Y7, Y6, Y9
	VSHUFPS $0x44, Y9, Y8, Y4
	VSHUFPS $0xEE, Y9, Y8, Y5
	WINO_IN(0(DX), 32(DX), 64(DX), 96(DX), 128(DX), 160(DX))
	ADDQ R13, AX
	ADDQ R13, BX
	ADDQ R13, CX
	ADDQ R13, R8
	ADDQ R13, R9
	ADDQ R13, R10
	ADDQ R13, R11
	ADDQ R13, R12
	ADDQ $192, DX
	DECQ SI
	JNZ inrows

	// Column k: tmp + 32k, rows 192 bytes apart; output i at dst + (6i+k)·stride.
	MOVQ dst+24(FP), R10
	MOVQ stride+32(FP), R8
	SHLQ $2, R8 // stride in bytes
	MOVQ R8, R11
	IMULQ $6, R11 // 6·stride: between outputs i
	LEAQ (R11)(R11*2), R12 // 3·(6·stride)
	LEAQ (R11)(R11*4), R13 // 5·(6·stride)
	MOVQ tmp+40(FP), R9
	MOVQ $6, BX
incols:
	VMOVUPS 0(R9), Y0
	VMOVUPS 192(R9), Y1
	VMOVUPS 384(R9), Y2
	VMOVUPS 576(R9), Y3
	VMOVUPS 768(R9), Y4
	VMOVUPS 960(R9), Y5
	WINO_IN((R10), (R10)(R11*1), (R10)(R11*2), (R10)(R12*1), (R10)(R11*4), (R10)(R13*1))
	ADDQ $32, R9
	ADDQ R8, R10
	DECQ BX
	JNZ incols
	VZEROUPPER
	RET

// WINO_OUT applies Aᵀ to the eight-lane vectors s0…s5 in Y0…Y5 (Y13 = 2, Y14 = 4, Y15 = 8,
// Y12 added to every output; Y6–Y9 scratch) and stores y0…y3 to O0…O3.
#define WINO_OUT(O0, O1, O2, O3) \
	VADDPS Y2, Y1, Y6; \
	VSUBPS Y2, Y1, Y7; \
	VADDPS Y4, Y3, Y8; \
	VSUBPS Y4, Y3, Y9; \
	VADDPS Y6, Y0, Y0; \
	VADDPS Y8, Y0, Y0; \
	VADDPS Y12, Y0, Y0; \
	VMOVUPS Y0, O0; \
	VADDPS Y12, Y7, Y1; \
	VFMADD231PS Y13, Y9, Y1; \
	VMOVUPS Y1, O1; \
	VADDPS Y12, Y6, Y2; \
	VFMADD231PS Y14, Y8, Y2; \
	VMOVUPS Y2, O2; \
	VADDPS Y5, Y7, Y3; \
	VADDPS Y12, Y3, Y3; \
	VFMADD231PS Y15, Y9, Y3; \
	VMOVUPS Y3, O3

// func winoOut8asm(m *float32, stride int, bias float32, out, tmp *float32)
// The row pass reads the six points of a row of the eight lanes' products and writes M·A to
// tmp (24 vectors, (4i+k)·32 bytes); the column pass writes Aᵀ(M·A) + bias to out.
TEXT ·winoOut8asm(SB), NOSPLIT, $0-40
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
	VBROADCASTSS X13, Y13
	MOVL $0x40800000, AX // 4.0
	VMOVD AX, X14
	VBROADCASTSS X14, Y14
	MOVL $0x41000000, AX // 8.0
	VMOVD AX, X15
	VBROADCASTSS X15, Y15
	VXORPS Y12, Y12, Y12 // no bias in the row pass
	MOVQ DX, R9
	MOVQ $6, BX
outrows:
	VMOVUPS (SI), Y0
	VMOVUPS (SI)(R8*1), Y1
	VMOVUPS (SI)(R8*2), Y2
	VMOVUPS (SI)(R10*1), Y3
	VMOVUPS (SI)(R8*4), Y4
	VMOVUPS (SI)(R11*1), Y5
	WINO_OUT(0(R9), 32(R9), 64(R9), 96(R9))
	ADDQ R12, SI
	ADDQ $128, R9
	DECQ BX
	JNZ outrows

	VBROADCASTSS bias+16(FP), Y12
	MOVQ DX, R9
	MOVQ $4, BX
outcols:
	VMOVUPS 0(R9), Y0
	VMOVUPS 128(R9), Y1
	VMOVUPS 256(R9), Y2
	VMOVUPS 384(R9), Y3
	VMOVUPS 512(R9), Y4
	VMOVUPS 640(R9), Y5
	WINO_OUT(0(DI), 128(DI), 256(DI), 384(DI))
	ADDQ $32, R9
	ADDQ $32, DI
	DECQ BX
	JNZ outcols
	VZEROUPPER
	RET

// func transpose8asm(src *float32, lds int, dst *float32, ldd int)
// Rows i and i+4 of src share a register (low and high 128-bit halves), for floats 0–3 in
// Y0–Y3 and floats 4–7 in Y4–Y7; each group of four is then transposed as 4×4 blocks per half,
// which gives column j of src (row j of dst) whole in one register.
TEXT ·transpose8asm(SB), NOSPLIT, $0-32
	MOVQ src+0(FP), SI
	MOVQ lds+8(FP), R8
	MOVQ dst+16(FP), DI
	MOVQ ldd+24(FP), R9
	SHLQ $2, R8 // strides in bytes
	SHLQ $2, R9
	LEAQ (R8)(R8*2), R10 // 3·lds
	LEAQ (R8)(R8*4), R11 // 5·lds
	LEAQ (R10)(R8*4), R12 // 7·lds
	LEAQ (R9)(R9*2), BX // 3·ldd
	LEAQ (R9)(R9*4), CX // 5·ldd
	LEAQ (BX)(R9*4), DX // 7·ldd
	VMOVUPS (SI), X0
	VINSERTF128 $1, (SI)(R8*4), Y0, Y0
	VMOVUPS (SI)(R8*1), X1
	VINSERTF128 $1, (SI)(R11*1), Y1, Y1
	VMOVUPS (SI)(R8*2), X2
	VINSERTF128 $1, (SI)(R10*2), Y2, Y2
	VMOVUPS (SI)(R10*1), X3
	VINSERTF128 $1, (SI)(R12*1), Y3, Y3
	VMOVUPS 16(SI), X4
	VINSERTF128 $1, 16(SI)(R8*4), Y4, Y4
	VMOVUPS 16(SI)(R8*1), X5
	VINSERTF128 $1, 16(SI)(R11*1), Y5, Y5
	VMOVUPS 16(SI)(R8*2), X6
	VINSERTF128 $1, 16(SI)(R10*2), Y6, Y6
	VMOVUPS 16(SI)(R10*1), X7
	VINSERTF128 $1, 16(SI)(R12*1), Y7, Y7
	VUNPCKLPS Y1, Y0, Y8
	VUNPCKHPS Y1, Y0, Y9
	VUNPCKLPS Y3, Y2, Y10
	VUNPCKHPS Y3, Y2, Y11
	VSHUFPS $0x44, Y10, Y8, Y0
	VSHUFPS $0xEE, Y10, Y8, Y1
	VSHUFPS $0x44, Y11, Y9, Y2
	VSHUFPS $0xEE, Y11, Y9, Y3
	VUNPCKLPS Y5, Y4, Y8
	VUNPCKHPS Y5, Y4, Y9
	VUNPCKLPS Y7, Y6, Y10
	VUNPCKHPS Y7, Y6, Y11
	VSHUFPS $0x44, Y10, Y8, Y4
	VSHUFPS $0xEE, Y10, Y8, Y5
	VSHUFPS $0x44, Y11, Y9, Y6
	VSHUFPS $0xEE, Y11, Y9, Y7
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, (DI)(R9*1)
	VMOVUPS Y2, (DI)(R9*2)
	VMOVUPS Y3, (DI)(BX*1)
	VMOVUPS Y4, (DI)(R9*4)
	VMOVUPS Y5, (DI)(CX*1)
	VMOVUPS Y6, (DI)(BX*2)
	VMOVUPS Y7, (DI)(DX*1)
	VZEROUPPER
	RET

// BLK_PX transposes one output pixel's 8×8 block of bf.outs (eight channels at SI + 512c, the
// eight tiles' values in each row) and stores tile l's eight channels at its base pointer (AX,
// BX, CX, R8–R12 for l = 0…7) plus the pixel offset R13; then it moves SI to the next pixel
// and R13 one pixel to the right (DX).
#define BLK_PX \
	VMOVUPS 0(SI), X0; \
	VINSERTF128 $1, 2048(SI), Y0, Y0; \
	VMOVUPS 512(SI), X1; \
	VINSERTF128 $1, 2560(SI), Y1, Y1; \
	VMOVUPS 1024(SI), X2; \
	VINSERTF128 $1, 3072(SI), Y2, Y2; \
	VMOVUPS 1536(SI), X3; \
	VINSERTF128 $1, 3584(SI), Y3, Y3; \
	VMOVUPS 16(SI), X4; \
	VINSERTF128 $1, 2064(SI), Y4, Y4; \
	VMOVUPS 528(SI), X5; \
	VINSERTF128 $1, 2576(SI), Y5, Y5; \
	VMOVUPS 1040(SI), X6; \
	VINSERTF128 $1, 3088(SI), Y6, Y6; \
	VMOVUPS 1552(SI), X7; \
	VINSERTF128 $1, 3600(SI), Y7, Y7; \
	VUNPCKLPS Y1, Y0, Y8; \
	VUNPCKHPS Y1, Y0, Y9; \
	VUNPCKLPS Y3, Y2, Y10; \
	VUNPCKHPS Y3, Y2, Y11; \
	VSHUFPS $0x44, Y10, Y8, Y0; \
	VSHUFPS $0xEE, Y10, Y8, Y1; \
	VSHUFPS $0x44, Y11, Y9, Y2; \
	VSHUFPS $0xEE, Y11, Y9, Y3; \
	VUNPCKLPS Y5, Y4, Y8; \
	VUNPCKHPS Y5, Y4, Y9; \
	VUNPCKLPS Y7, Y6, Y10; \
	VUNPCKHPS Y7, Y6, Y11; \
	VSHUFPS $0x44, Y10, Y8, Y4; \
	VSHUFPS $0xEE, Y10, Y8, Y5; \
	VSHUFPS $0x44, Y11, Y9, Y6; \
	VSHUFPS $0xEE, Y11, Y9, Y7; \
	VMOVUPS Y0, (AX)(R13*1); \
	VMOVUPS Y1, (BX)(R13*1); \
	VMOVUPS Y2, (CX)(R13*1); \
	VMOVUPS Y3, (R8)(R13*1); \
	VMOVUPS Y4, (R9)(R13*1); \
	VMOVUPS Y5, (R10)(R13*1); \
	VMOVUPS Y6, (R11)(R13*1); \
	VMOVUPS Y7, (R12)(R13*1); \
	ADDQ $32, SI; \
	ADDQ DX, R13

// BLK_ROW stores a row of four pixels and moves R13 to the next row's start (R14 += DI).
#define BLK_ROW \
	BLK_PX; \
	BLK_PX; \
	BLK_PX; \
	BLK_PX; \
	ADDQ DI, R14; \
	MOVQ R14, R13

// func storeBlocked8asm(outs *float32, y *float32, off *int, ldr, ldc int)
// outs is outputBlocked's bf.outs: eight channels' 4×4 results for eight tiles,
// outs[(c·16 + px)·8 + l]. Pixel (i, k) of tile l gets its eight channels at
// y + off[l] + i·ldr + k·ldc (floats).
TEXT ·storeBlocked8asm(SB), NOSPLIT, $0-40
	MOVQ outs+0(FP), SI
	MOVQ y+8(FP), R13
	MOVQ off+16(FP), R14
	MOVQ ldr+24(FP), DI
	MOVQ ldc+32(FP), DX
	SHLQ $2, DI // strides in bytes
	SHLQ $2, DX
	MOVQ 0(R14), AX
	LEAQ (R13)(AX*4), AX
	MOVQ 8(R14), BX
	LEAQ (R13)(BX*4), BX
	MOVQ 16(R14), CX
	LEAQ (R13)(CX*4), CX
	MOVQ 24(R14), R8
	LEAQ (R13)(R8*4), R8
	MOVQ 32(R14), R9
	LEAQ (R13)(R9*4), R9
	MOVQ 40(R14), R10
	LEAQ (R13)(R10*4), R10
	MOVQ 48(R14), R11
	LEAQ (R13)(R11*4), R11
	MOVQ 56(R14), R12
	LEAQ (R13)(R12*4), R12
	XORQ R13, R13 // the pixel's offset from the tiles' bases
	XORQ R14, R14 // the row's
	BLK_ROW
	BLK_ROW
	BLK_ROW
	BLK_ROW
	VZEROUPPER
	RET
