package imgproc_test

import (
	"fmt"

	"github.com/catmark/catmark/imgproc"
)

func ExampleRGB_Resize() {
	// A 4×2 image: left half black, right half white.
	m := imgproc.New(4, 2)
	for y := 0; y < 2; y++ {
		for x := 2; x < 4; x++ {
			m.Set(x, y, 255, 255, 255)
		}
	}
	// Pillow's bilinear filter widens with the scale when shrinking: halving the width takes a
	// weighted average over three columns, so the edge blurs. Enlarging interpolates.
	// (Pillow 9.4 gives the same numbers.)
	half := m.Resize(2, 2)
	r0, _, _ := half.At(0, 0)
	r1, _, _ := half.At(1, 0)
	fmt.Println(half.W, half.H, r0, r1)
	wide := m.Resize(8, 1)
	for x := 0; x < 8; x++ {
		r, _, _ := wide.At(x, 0)
		fmt.Print(r, " ")
	}
	fmt.Println()
	// Output:
	// 2 2 36 219
	// 0 0 0 64 191 255 255 255
}
