package catmark_test

import (
	"fmt"
	"image"
	"log"

	"github.com/catmark/catmark"
	"github.com/catmark/catmark/landmark"
)

// Find the landmarks on a photo with the shipped model. (A plain grey square stands in for a
// photo here; decode a real one with imgproc.DecodeImage, which also turns it as its EXIF
// orientation says.)
func Example() {
	det, err := catmark.Load("") // the model embedded in the package
	if err != nil {
		log.Fatal(err)
	}
	img := image.NewGray(image.Rect(0, 0, 320, 240))
	for i := range img.Pix {
		img.Pix[i] = 128
	}
	pts, err := det.Detect(img)
	if err != nil {
		log.Fatal(err)
	}
	inside := 0
	for _, p := range pts {
		if p.X >= 0 && p.X <= 320 && p.Y >= 0 && p.Y <= 240 {
			inside++
		}
	}
	fmt.Printf("%d points, %d inside the image; the first is the %s\n", len(pts), inside, landmark.Names[0])
	// Output: 9 points, 9 inside the image; the first is the left_eye
}
