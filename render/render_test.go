package render

import (
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/catmark/catmark/landmark"
)

func grey(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), image.NewUniform(color.RGBA{128, 128, 128, 255}), image.Point{}, draw.Src)
	return img
}

// face is a plausible cat face in a 320×240 photo.
var face = landmark.Points{
	{X: 130.4, Y: 120.2}, {X: 190.7, Y: 118.9}, {X: 160, Y: 165},
	{X: 95, Y: 95}, {X: 100, Y: 40}, {X: 135, Y: 70},
	{X: 185, Y: 70}, {X: 220, Y: 40}, {X: 225, Y: 95},
}

func TestDrawMarksPoints(t *testing.T) {
	img := grey(320, 240)
	pred := face
	for i := range pred {
		pred[i].X += 3 // close to the truth, so the prediction must be drawn over it
		pred[i].Y += 40
	}
	out := Draw(img, &face, &pred, Options{})
	if out.Bounds().Dx() != 320 || out.Bounds().Dy() != 240 {
		t.Fatalf("size %v, want 320×240", out.Bounds())
	}
	for i, p := range face {
		if got := out.RGBAAt(int(p.X), int(p.Y)); got != TruthColor {
			t.Errorf("truth point %d at (%v, %v): pixel %v, want %v", i+1, p.X, p.Y, got, TruthColor)
		}
		if got := out.RGBAAt(int(pred[i].X), int(pred[i].Y)); got != PredColor {
			t.Errorf("predicted point %d: pixel %v, want %v", i+1, got, PredColor)
		}
	}
	// Far from every point the photo shows through, and the input is untouched.
	if got := out.RGBAAt(5, 230); got != (color.RGBA{128, 128, 128, 255}) {
		t.Errorf("corner pixel %v, want the photo's grey", got)
	}
	if got := img.RGBAAt(int(face[0].X), int(face[0].Y)); got != (color.RGBA{128, 128, 128, 255}) {
		t.Errorf("Draw modified its input")
	}
}

func TestDrawColoursAndNil(t *testing.T) {
	img := grey(64, 48)
	if out := Draw(img, nil, nil, Options{}); string(out.Pix) != string(img.Pix) {
		t.Errorf("drawing no points changed the picture")
	}
	red := color.RGBA{255, 0, 0, 255}
	p := landmark.Points{{X: 10, Y: 10}, {X: 50, Y: 10}, {X: 30, Y: 40}}
	out := Draw(img, nil, &p, Options{Pred: red, NoNumbers: true})
	if got := out.RGBAAt(50, 10); got != red {
		t.Errorf("pixel %v, want the chosen prediction colour %v", got, red)
	}
}

func TestDrawUpscales(t *testing.T) {
	img := grey(100, 75)
	p := face
	for i := range p {
		p[i].X /= 3.2
		p[i].Y /= 3.2
	}
	out := Draw(img, &p, nil, Options{MinSide: 450, Lines: true})
	// The smallest whole factor taking 100 to at least 450 is 5.
	if out.Bounds().Dx() != 500 || out.Bounds().Dy() != 375 {
		t.Fatalf("upscaled to %v, want 500×375", out.Bounds())
	}
	for i, q := range p {
		if got := out.RGBAAt(int(q.X*5), int(q.Y*5)); got != TruthColor {
			t.Errorf("point %d: pixel %v at ×5 position, want %v", i+1, got, TruthColor)
		}
	}
	// Bigger images get bigger markers: the pixel 3 px right of a marker's centre is still the
	// marker at 500 px wide (radius 4), not at 100 px (radius 2).
	if got := out.RGBAAt(int(p[2].X*5)+3, int(p[2].Y*5)); got != TruthColor {
		t.Errorf("marker at 500 px is smaller than 3 px: %v", got)
	}
	small := Draw(img, &p, nil, Options{NoNumbers: true})
	if got := small.RGBAAt(int(p[2].X)+3, int(p[2].Y)); got == TruthColor {
		t.Errorf("marker at 100 px is 3 px wide or more")
	}
}

func TestDrawPointsOutside(t *testing.T) {
	p := face
	p[4] = landmark.Point{X: -30, Y: -10}
	p[7] = landmark.Point{X: 400, Y: 2}
	out := Draw(grey(320, 240), &p, nil, Options{Lines: true})
	if got := out.RGBAAt(int(p[0].X), int(p[0].Y)); got != TruthColor {
		t.Errorf("pixel %v, want %v", got, TruthColor)
	}
}

func TestGridLayout(t *testing.T) {
	var tiles []image.Image
	for i := range 5 {
		c := uint8(40 * (i + 1))
		img := image.NewRGBA(image.Rect(0, 0, 30+10*(i%2), 20-10*(i%2)))
		draw.Draw(img, img.Bounds(), image.NewUniform(color.RGBA{c, c, c, 255}), image.Point{}, draw.Src)
		tiles = append(tiles, img)
	}
	// Cells are 40×20 (the widest, the tallest), 4 px apart and around.
	g := Grid(tiles, 2, nil)
	if g.Bounds().Dx() != 4+2*(40+4) || g.Bounds().Dy() != 4+3*(20+4) {
		t.Errorf("grid without captions is %v, want %d×%d", g.Bounds().Size(), 4+2*44, 4+3*24)
	}
	// Tile 3 (row 1, column 1, 40×10) stands at the bottom of its cell: its top-left pixel is at
	// x = 4+44, y = 4+24+10. Tile 2 (30×20) is centred across its cell: x = 4+5.
	if got := g.RGBAAt(48, 38); got != (color.RGBA{160, 160, 160, 255}) {
		t.Errorf("tile 3's corner pixel %v", got)
	}
	if got := g.RGBAAt(48, 37); got != gridBackground {
		t.Errorf("pixel above tile 3 is %v, want the background", got)
	}
	if got := g.RGBAAt(9, 28); got != (color.RGBA{120, 120, 120, 255}) {
		t.Errorf("tile 2's corner pixel %v", got)
	}
	if got := g.RGBAAt(8, 28); got != gridBackground {
		t.Errorf("pixel left of tile 2 is %v, want the background", got)
	}
	withCaps := Grid(tiles, 3, []string{"a", "", "a very long caption that does not fit"})
	if withCaps.Bounds().Dx() != 4+3*44 || withCaps.Bounds().Dy() <= 4+2*24+2*13 {
		t.Errorf("grid with captions is %v", withCaps.Bounds().Size())
	}
	if g := Grid(tiles, 0, nil); g.Bounds().Dy() != 4+24 {
		t.Errorf("cols 0 must give one row, got %v", g.Bounds().Size())
	}
}

func TestSavePNG(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.png")
	img := Draw(grey(40, 30), &face, nil, Options{})
	if err := SavePNG(path, img); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	back, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	for y := 0; y < 30; y++ {
		for x := 0; x < 40; x++ {
			r, g, b, a := back.At(x, y).RGBA()
			if got := (color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), uint8(a >> 8)}); got != img.RGBAAt(x, y) {
				t.Fatalf("pixel (%d, %d) is %v after the round trip, %v before", x, y, got, img.RGBAAt(x, y))
			}
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("folder holds %d entries after saving, want just the picture", len(entries))
	}
	bad := filepath.Join(dir, "missing", "out.png")
	if err := SavePNG(bad, img); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("saving into a missing folder: error %v, want one naming %s", err, bad)
	}
}
