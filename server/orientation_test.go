package server

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/jpeg"
	"math"
	"net/http"
	"testing"

	"github.com/catmark/catmark"
	"github.com/catmark/catmark/imgproc"
	"github.com/catmark/catmark/internal/exiftest"
	"github.com/catmark/catmark/landmark"
)

// Where the squares of the oriented test photo are, on the 240×160 photo as shown.
var (
	redAt  = landmark.Point{X: 60, Y: 50}
	blueAt = landmark.Point{X: 180, Y: 110}
)

// orientedPhoto is a JPEG stored sideways (160×240) and tagged with EXIF orientation 6, so that
// it shows as a 240×160 grey photo with a red 60-pixel square centred at redAt and a blue one
// at blueAt.
func orientedPhoto(t testing.TB) []byte {
	t.Helper()
	shown := imgproc.New(240, 160)
	shown.Fill(image.Rect(0, 0, 240, 160), 128)
	square := func(c landmark.Point, r, g, b uint8) {
		for y := int(c.Y) - 30; y < int(c.Y)+30; y++ {
			for x := int(c.X) - 30; x < int(c.X)+30; x++ {
				shown.Set(x, y, r, g, b)
			}
		}
	}
	square(redAt, 230, 20, 20)
	square(blueAt, 20, 20, 230)
	stored := imgproc.OrientRGB(shown, 8) // a quarter counter-clockwise; 6 turns it back
	var b bytes.Buffer
	if err := jpeg.Encode(&b, stored.Image(), &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return exiftest.JPEG(b.Bytes(), 6)
}

// squareDetector finds the red and the blue square in the photo it is given: the left eye (and
// the mouth and ears) at the red one's centre, the right eye at the blue one's. It also reports
// the size of the photo it was given.
type squareDetector struct{ sizes chan image.Point }

func (d squareDetector) Detect(_ context.Context, img image.Image) ([]catmark.Face, error) {
	m := imgproc.FromImage(img)
	if d.sizes != nil {
		d.sizes <- image.Pt(m.W, m.H)
	}
	var red, blue [3]float64 // x sum, y sum, count
	for y := range m.H {
		for x := range m.W {
			r, g, b := m.At(x, y)
			switch {
			case r > 180 && g < 90 && b < 90:
				red[0], red[1], red[2] = red[0]+float64(x)+0.5, red[1]+float64(y)+0.5, red[2]+1
			case b > 180 && r < 90 && g < 90:
				blue[0], blue[1], blue[2] = blue[0]+float64(x)+0.5, blue[1]+float64(y)+0.5, blue[2]+1
			}
		}
	}
	var p landmark.Points
	for i := range p {
		p[i] = landmark.Point{X: red[0] / max(red[2], 1), Y: red[1] / max(red[2], 1)}
	}
	p[1] = landmark.Point{X: blue[0] / max(blue[2], 1), Y: blue[1] / max(blue[2], 1)}
	return oneFace(p, nil), nil
}

// The server turns a photo by its EXIF orientation before detection: the detector gets the
// photo as shown and the answer gives its size and points in that frame. With
// IgnoreOrientation both stay in the stored grid.
func TestOrientedUpload(t *testing.T) {
	photo := orientedPhoto(t)
	near := func(p landmark.Named, q landmark.Point) bool { return math.Hypot(p.X-q.X, p.Y-q.Y) < 1.5 }
	for _, ignore := range []bool{false, true} {
		det := squareDetector{sizes: make(chan image.Point, 1)}
		s := newServer(t, det, Options{IgnoreOrientation: ignore, MaxBatch: 1})
		code, body, _ := do(t, s, post(photo, "image/jpeg"))
		if code != http.StatusOK {
			t.Fatalf("ignore %v: status %d: %s", ignore, code, body)
		}
		var r catmark.Record
		if err := json.Unmarshal(body, &r); err != nil {
			t.Fatal(err)
		}
		given := <-det.sizes
		wantSize, red, blue := image.Pt(240, 160), redAt, blueAt
		if ignore {
			o := imgproc.Orientation(8) // the shown frame back to the stored one
			wantSize = image.Pt(160, 240)
			red.X, red.Y = o.Point(redAt.X, redAt.Y, 240, 160)
			blue.X, blue.Y = o.Point(blueAt.X, blueAt.Y, 240, 160)
		}
		if given != wantSize || r.Width != wantSize.X || r.Height != wantSize.Y {
			t.Errorf("ignore %v: the detector got %v, the answer says %d×%d; want %v", ignore, given, r.Width, r.Height, wantSize)
		}
		if !near(r.Points[0], red) || !near(r.Points[1], blue) {
			t.Errorf("ignore %v: eyes at %+v and %+v, want %v and %v", ignore, r.Points[0], r.Points[1], red, blue)
		}
	}
}
