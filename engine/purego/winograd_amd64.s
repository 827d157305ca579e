//go:build amd64 && !purego

#include "textflag.h"

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

// GATHER loads into YD the eight floats at DISP(SI) + 4·Y12[l] (Y10 is the mask, consumed).
#define GATHER(DISP, YD) \
	VPCMPEQD Y10, Y10, Y10; \
	VGATHERDPS Y10, DISP(SI)(Y12*4), YD

// func winoIn8asm(x *float32, off *int32, ld int, dst *float32, stride int, tmp *float32)
// The row pass gathers each patch row of the eight lanes and writes d·B to tmp (36 vectors,
// (6r+k)·32 bytes); the column pass reads six of them at a time and writes Bᵀ(d·B) to dst.
TEXT ·winoIn8asm(SB), NOSPLIT, $0-48
	MOVQ x+0(FP), SI
	MOVQ off+8(FP), AX
	MOVQ ld+16(FP), CX
	MOVQ dst+24(FP), DI
	MOVQ stride+32(FP), R8
	MOVQ tmp+40(FP), DX
	SHLQ $2, R8 // stride in bytes
	VMOVDQU (AX), Y12 // row r's offsets, from row 0
	MOVQ CX, X11
	VPBROADCASTD X11, Y11 // ld in every lane
	MOVL $0x40800000, AX // 4.0
	MOVQ AX, X14
	VBROADCASTSS X14, Y14
	MOVL $0x40a00000, AX // 5.0
	MOVQ AX, X13
	VBROADCASTSS X13, Y13
	MOVQ DX, R9
	MOVQ $6, BX
inrows:
	GATHER(0, Y0)
	GATHER(4, Y1)
	GATHER(8, Y2)
	GATHER(12, Y3)
	GATHER(16, Y4)
	GATHER(20, Y5)
	WINO_IN(0(R9), 32(R9), 64(R9), 96(R9), 128(R9), 160(R9))
	VPADDD Y11, Y12, Y12
	ADDQ $192, R9
	DECQ BX
	JNZ inrows

	// Column k: tmp + 32k, rows 192 bytes apart; output i at dst + (6i+k)·stride.
	MOVQ R8, R11
	IMULQ $6, R11 // 6·stride: between outputs i
	LEAQ (R11)(R11*2), R12 // 3·(6·stride)
	LEAQ (R11)(R11*4), R13 // 5·(6·stride)
	MOVQ DX, R9
	MOVQ DI, R10
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
	MOVQ AX, X13
	VBROADCASTSS X13, Y13
	MOVL $0x40800000, AX // 4.0
	MOVQ AX, X14
	VBROADCASTSS X14, Y14
	MOVL $0x41000000, AX // 8.0
	MOVQ AX, X15
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
