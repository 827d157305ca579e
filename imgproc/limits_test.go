package imgproc

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/catmark/catmark/internal/hostile"
)

// The generated progressive JPEG is valid: the standard decoder reads it as a grey image of
// its size, and Check counts its scans.
func TestProgressiveJPEGGenerator(t *testing.T) {
	data := hostile.ProgressiveJPEG(200, 150, 5)
	img, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("generated JPEG does not decode: %v", err)
	}
	if _, ok := img.(*image.Gray); !ok || img.Bounds() != image.Rect(0, 0, 200, 150) {
		t.Fatalf("decoded %T %v, want a 200×150 grey image", img, img.Bounds())
	}
	h, err := DefaultLimits.Check(data)
	if err != nil || !h.Progressive || h.Scans != 6 {
		t.Fatalf("Check = %+v, %v; want progressive with 6 scans", h, err)
	}
}

// A scan bomb is refused from its header, at once, naming the scan count; without the scan
// limit its decoding takes seconds.
func TestCheckScanBomb(t *testing.T) {
	bomb := hostile.ProgressiveJPEG(2000, 2000, 3000)
	start := time.Now()
	_, _, err := DefaultLimits.Decode(context.Background(), bomb)
	took := time.Since(start)
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "3001 scans") || !strings.Contains(err.Error(), "limit of 100") {
		t.Fatalf("Decode(scan bomb) = %v, want ErrTooLarge naming 3001 scans and the limit of 100", err)
	}
	if took > time.Second {
		t.Errorf("refusing the bomb took %v", took)
	}
	// Fewer scans over many more pixels: the work, scans × samples, is bounded too.
	wide := hostile.ProgressiveJPEG(7999, 5000, 59)
	if _, _, err := DefaultLimits.Decode(context.Background(), wide); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "60 scans cover 2400 million samples") {
		t.Errorf("Decode(7999×5000, 60 scans) = %v, want ErrTooLarge naming 60 scans of 2400 million samples", err)
	}
	// Within the limits the same kind of file decodes.
	if _, h, err := DefaultLimits.Decode(context.Background(), hostile.ProgressiveJPEG(2000, 2000, 99)); err != nil || h.Scans != 100 {
		t.Errorf("a progressive JPEG of 100 scans: %+v, %v; want it decoded", h, err)
	}
}

// A decode stops soon after its context ends, even one that would take far longer.
func TestDecodeStopsWithContext(t *testing.T) {
	bomb := hostile.ProgressiveJPEG(2000, 2000, 20000) // about 30 s to decode on one core
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := DecodeFormat(ctx, bomb, "jpeg")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("DecodeFormat after the deadline = %v, want context.DeadlineExceeded", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("the decode stopped %v after it began, 200 ms after its deadline was due", took)
	}
	lim := DefaultLimits
	lim.MaxScans, lim.MaxScanSamples = 0, 0
	cancel()
	if _, _, err := lim.Decode(ctx, bomb); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Limits.Decode with an ended context = %v, want its error", err)
	}
}

// pngOf encodes img as PNG.
func pngOf(t *testing.T, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// Decoded bytes are bounded, not just pixels: a 16-bit RGBA PNG takes 8 bytes a pixel.
func TestCheckDecodedBytes(t *testing.T) {
	lim := Limits{MaxSide: 8000, MaxPixels: 40_000_000, MaxDecodedBytes: 1 << 20}
	wide := pngOf(t, image.NewRGBA64(image.Rect(0, 0, 400, 400))) // 1.28 MB decoded
	_, _, err := lim.Decode(context.Background(), wide)
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "16-bit PNG") || !strings.Contains(err.Error(), "1 MiB") {
		t.Fatalf("Decode(400×400 16-bit PNG) = %v, want ErrTooLarge naming a 16-bit PNG and the 1 MiB limit", err)
	}
	// The same pixels in 8-bit grey take 160 KB and pass.
	grey := pngOf(t, image.NewGray(image.Rect(0, 0, 400, 400)))
	if _, h, err := lim.Decode(context.Background(), grey); err != nil || h.DecodedBytes != 160000 {
		t.Errorf("Decode(400×400 grey PNG) = %+v, %v; want 160000 decoded bytes", h, err)
	}
	// The defaults refuse the 7999×5000 16-bit RGBA PNG (320 MB) from its header.
	h, err := DefaultLimits.CheckConfig(nil, "png", image.Config{ColorModel: color.RGBA64Model, Width: 7999, Height: 5000})
	if !errors.Is(err, ErrTooLarge) || h.DecodedBytes != 8*7999*5000 {
		t.Errorf("CheckConfig(7999×5000 RGBA64) = %+v, %v; want ErrTooLarge at 320 MB", h, err)
	}
	// A progressive JPEG's coefficients count: 7999×5000 grey is 40 MB of pixels, 200 MB in all.
	j := jpegHeader{progressive: true, comps: [][2]int{{1, 1}}}
	if got := j.decodedBytes(7999, 5000); got != 1000*625*64*5 {
		t.Errorf("decodedBytes(progressive grey 7999×5000) = %d, want %d", got, 1000*625*64*5)
	}
}

// Photos under MinSide are refused before decoding with an error naming the minimum.
func TestCheckTooSmall(t *testing.T) {
	one := pngOf(t, image.NewRGBA(image.Rect(0, 0, 1, 1)))
	lim := DefaultLimits
	lim.MinSide = 16
	_, err := lim.Check(one)
	if !errors.Is(err, ErrTooSmall) || !strings.Contains(err.Error(), "1×1") || !strings.Contains(err.Error(), "16×16") {
		t.Fatalf("Check(1×1 PNG) = %v, want ErrTooSmall naming 1×1 and 16×16", err)
	}
	if _, err := DefaultLimits.Check(one); err != nil {
		t.Errorf("without MinSide a 1×1 PNG is refused: %v", err)
	}
}

// ReadFile refuses what is not a regular file, without blocking on a pipe or reading a device
// forever, and files over MaxBytes.
func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "pipe.jpg")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("cannot make a FIFO: %v", err)
	}
	zero := filepath.Join(dir, "zero.jpg")
	if err := os.Symlink("/dev/zero", zero); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.jpg")
	os.WriteFile(big, make([]byte, 2000), 0o644)
	lim := Limits{MaxBytes: 1000}
	for _, tc := range []struct {
		path string
		want error
		text string
	}{
		{fifo, ErrNotRegular, "named pipe"},
		{zero, ErrNotRegular, "character device"},
		{dir, ErrNotRegular, "folder"},
		{big, ErrTooLarge, "1000 bytes"},
	} {
		done := make(chan error, 1)
		go func() { _, err := lim.ReadFile(tc.path); done <- err }()
		select {
		case err := <-done:
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) || !strings.Contains(err.Error(), tc.path) {
				t.Errorf("ReadFile(%s) = %v, want %v naming the path and %q", tc.path, err, tc.want, tc.text)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("ReadFile(%s) blocks", tc.path)
		}
	}
	// The unconverted reader is bounded too.
	if _, err := lim.ReadAll(bytes.NewReader(make([]byte, 1001))); !errors.Is(err, ErrTooLarge) {
		t.Errorf("ReadAll(1001 bytes) = %v, want ErrTooLarge", err)
	}
	if data, err := lim.ReadAll(bytes.NewReader(make([]byte, 1000))); err != nil || len(data) != 1000 {
		t.Errorf("ReadAll(1000 bytes) = %d bytes, %v", len(data), err)
	}
}
