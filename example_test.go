package catmark_test

import (
	"encoding/json"
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

// The JSON record of a photo's faces, as "catmark predict --json" prints it and the HTTP API
// answers.
func ExampleNewRecord() {
	p := landmark.Points{{X: 112, Y: 102}, {X: 153, Y: 104}, {X: 127, Y: 127},
		{X: 95, Y: 77}, {X: 88, Y: 50}, {X: 106, Y: 60}, {X: 180, Y: 65}, {X: 200, Y: 61}, {X: 189, Y: 85}}
	faces := []catmark.Face{{Points: p, Presence: 0.97}} // as DetectAll gives them, best first
	b, _ := json.Marshal(catmark.NewRecord("00000001_000.jpg", 240, 320, faces))
	fmt.Println(string(b))
	// Output:
	// {"path":"00000001_000.jpg","width":240,"height":320,"points":[{"name":"left_eye","x":112,"y":102},{"name":"right_eye","x":153,"y":104},{"name":"mouth","x":127,"y":127},{"name":"left_ear_outer_base","x":95,"y":77},{"name":"left_ear_tip","x":88,"y":50},{"name":"left_ear_inner_base","x":106,"y":60},{"name":"right_ear_inner_base","x":180,"y":65},{"name":"right_ear_tip","x":200,"y":61},{"name":"right_ear_outer_base","x":189,"y":85}],"face":0.97}
}

// A detector's settings are fixed when it is loaded; Load rejects settings out of range.
func ExampleWithSettings() {
	s := catmark.Defaults
	s.Passes, s.Zoom = 1, 0 // faster, a little less exact
	det, err := catmark.Load("", catmark.WithSettings(s))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(det.Settings().Passes, det.Settings().Zoom)
	_, err = catmark.Load("", catmark.WithSettings(catmark.Settings{Zoom: 0.9}))
	fmt.Println(err)
	// Output:
	// 1 0
	// catmark: settings: zoom 0.9 out of range [0, 0.5]
}
