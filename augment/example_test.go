package augment_test

import (
	"fmt"

	"github.com/catmark/catmark/augment"
	"github.com/catmark/catmark/imgproc"
	"github.com/catmark/catmark/landmark"
)

// Flipping mirrors the pixels and the points, and swaps the points' labels with their mirror
// partners: the eye on the image's left is point 1 again.
func ExampleFlip() {
	img := &imgproc.RGB{W: 3, H: 1, Pix: []uint8{255, 0, 0, 0, 255, 0, 0, 0, 255}}
	var pts landmark.Points
	pts[0] = landmark.Point{X: 0.2, Y: 0.4} // left eye
	pts[1] = landmark.Point{X: 0.7, Y: 0.5} // right eye
	pts = augment.Flip(img, pts)
	fmt.Println(img.Pix)
	fmt.Printf("left eye %.1f, right eye %.1f\n", pts[0], pts[1])
	// Output:
	// [0 0 255 0 255 0 255 0 0]
	// left eye {0.3 0.5}, right eye {0.8 0.4}
}

// A similarity transform maps points and pixels together; NewSimilarity turns about the centre.
func ExampleNewSimilarity() {
	a := augment.NewSimilarity(2, 0, 0.1, 0) // zoom ×2 about the centre, then 0.1 to the right
	fmt.Printf("%.2f\n", a.Point(landmark.Point{X: 0.75, Y: 0.5}))
	// Output:
	// {1.10 0.50}
}
