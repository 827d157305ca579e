package server

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/png"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/catmark/catmark"
	"github.com/catmark/catmark/internal/fixture"
	"github.com/catmark/catmark/internal/testenv"
	"github.com/catmark/catmark/landmark"
)

// faceTemplate places the nine points of a face on a w×h photo, in twentieths of its width and
// height, so that the points of any whole-pixel size are exact in float64.
var faceTemplate = [landmark.N][2]float64{
	{7, 9}, {13, 9}, {10, 13}, // eyes, mouth
	{4, 7}, {5, 2}, {8, 6}, // left ear: outer base, tip, inner base
	{12, 6}, {15, 2}, {16, 7}, // right ear: inner base, tip, outer base
}

func templatePoints(w, h int) landmark.Points {
	var p landmark.Points
	for i, f := range faceTemplate {
		p[i] = landmark.Point{X: float64(w) * f[0] / 20, Y: float64(h) * f[1] / 20}
	}
	return p
}

// templateDetector is a fake Detector: the face template scaled to the photo, after an optional
// cost that emulates a model (busy: burn CPU; otherwise sleep).
type templateDetector struct {
	cost time.Duration
	busy bool
}

func (d templateDetector) Detect(ctx context.Context, img image.Image) ([]catmark.Face, error) {
	spend(d.cost, d.busy)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b := img.Bounds()
	return oneFace(templatePoints(b.Dx(), b.Dy()), nil), nil
}

// oneFace is a detector's answer of one face with points p and presence face (nil: the
// detector cannot say, NaN), without a face box, as a single-stage detector gives it.
func oneFace(p landmark.Points, face *float64) []catmark.Face {
	f := catmark.Face{Points: p, Presence: math.NaN()}
	if face != nil {
		f.Presence = *face
	}
	return []catmark.Face{f}
}

// spend takes d of time, by burning CPU when busy, else by sleeping.
func spend(d time.Duration, busy bool) {
	if d <= 0 {
		return
	}
	if !busy {
		time.Sleep(d)
		return
	}
	x := 1.0
	for t0 := time.Now(); time.Since(t0) < d; {
		for range 1000 {
			x = x*1.0000001 + 1e-9
		}
	}
	sink = x
}

var sink float64

// batchTemplate is a fake BatchDetector whose batch of n photos costs fixed + n·perImage, as a
// model's does (its cost per image shrinks with the batch); Detect costs fixed + perImage. It
// records the batch sizes it saw.
type batchTemplate struct {
	fixed, perImage time.Duration
	busy            bool
	wrongCount      bool // return one result too few, to test the server's check

	mu    sync.Mutex
	sizes []int
}

func (d *batchTemplate) Detect(ctx context.Context, img image.Image) ([]catmark.Face, error) {
	pts, err := d.DetectBatch(ctx, []image.Image{img})
	if err != nil {
		return nil, err
	}
	return pts[0], nil
}

func (d *batchTemplate) DetectBatch(ctx context.Context, imgs []image.Image) ([][]catmark.Face, error) {
	d.mu.Lock()
	d.sizes = append(d.sizes, len(imgs))
	d.mu.Unlock()
	spend(d.fixed+time.Duration(len(imgs))*d.perImage, d.busy)
	out := make([][]catmark.Face, len(imgs))
	for i, img := range imgs {
		b := img.Bounds()
		out[i] = oneFace(templatePoints(b.Dx(), b.Dy()), nil)
	}
	if d.wrongCount {
		out = out[1:]
	}
	return out, nil
}

func (d *batchTemplate) batchSizes() []int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]int(nil), d.sizes...)
}

// fixedDetector returns the same points for every photo (the annotation of one photo, in the
// browser test), with face presence face when it is set.
type fixedDetector struct {
	p    landmark.Points
	face *float64
}

func (d fixedDetector) Detect(context.Context, image.Image) ([]catmark.Face, error) {
	return oneFace(d.p, d.face), nil
}

func (d fixedDetector) Info() map[string]string {
	return map[string]string{"name": "fixed-test-points"}
}

// funcDetector adapts a function to Detector.
type funcDetector func(ctx context.Context, img image.Image) ([]catmark.Face, error)

func (f funcDetector) Detect(ctx context.Context, img image.Image) ([]catmark.Face, error) {
	return f(ctx, img)
}

// blockingDetector signals each call on started and answers when release is closed or ctx ends.
type blockingDetector struct {
	started chan struct{}
	release chan struct{}
}

func newBlocking() *blockingDetector {
	return &blockingDetector{started: make(chan struct{}, 16), release: make(chan struct{})}
}

func (d *blockingDetector) Detect(ctx context.Context, img image.Image) ([]catmark.Face, error) {
	d.started <- struct{}{}
	select {
	case <-d.release:
		b := img.Bounds()
		return oneFace(templatePoints(b.Dx(), b.Dy()), nil), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

var errInternal = errors.New("tensor shape mismatch in layer4.1.conv2: 7x7 vs 8x8")

// makePNG encodes a w×h RGB gradient.
func makePNG(tb testing.TB, w, h int) []byte {
	tb.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x * 255 / max(w-1, 1)), uint8(y * 255 / max(h-1, 1)), 128, 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// catPhoto returns the path and bytes of a cat photo: for a test, the committed fixture's largest
// JPEG (the body-limit tests need one over 4 KiB); for a benchmark, the first real photo by name
// (a photo's size matters to the figures), which skips the benchmark when the real photos are
// absent.
func catPhoto(tb testing.TB) (string, []byte) {
	tb.Helper()
	var name string
	var data []byte
	if _, bench := tb.(*testing.B); bench {
		dir := testenv.CatsDir(tb)
		names, err := filepath.Glob(filepath.Join(dir, "*.jpg"))
		if err != nil || len(names) == 0 {
			tb.Skipf("no .jpg photos in %s", dir)
		}
		sort.Strings(names)
		name = names[0]
		if data, err = os.ReadFile(name); err != nil {
			tb.Fatal(err)
		}
		return name, data
	}
	for i := range fixture.Count {
		p := fixture.Path(tb, i)
		b, err := os.ReadFile(p)
		if err != nil {
			tb.Fatal(err)
		}
		if len(b) > len(data) {
			name, data = p, b
		}
	}
	return name, data
}

// readCatPoints reads the annotation NAME.jpg.cat of a photo.
func readCatPoints(tb testing.TB, photo string) landmark.Points {
	tb.Helper()
	b, err := os.ReadFile(photo + ".cat")
	if err != nil {
		tb.Fatal(err)
	}
	f := strings.Fields(string(b))
	if len(f) != 1+landmark.Dim || f[0] != "9" {
		tb.Fatalf("%s.cat: want 9 and 18 numbers, got %q", photo, b)
	}
	v := make([]float64, landmark.Dim)
	for i := range v {
		x, err := strconv.ParseFloat(f[1+i], 64)
		if err != nil {
			tb.Fatalf("%s.cat: value %d: %v", photo, i+1, err)
		}
		v[i] = x
	}
	p, err := landmark.FromFlat(v)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
