package cache

import (
	"archive/zip"
	"bytes"
	"image/jpeg"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/catmark/catmark/catdata"
	"github.com/catmark/catmark/internal/fixture"
	"github.com/catmark/catmark/internal/testenv"
)

// subset copies the first n fixture photos with their annotations into a temporary folder and
// adds two bad entries: a truncated JPEG and a .cat with 8 points. The first photo's left ear tip
// is moved above the frame, as real ears leaving the picture are annotated. It returns the folder.
func subset(t testing.TB, n int) string {
	t.Helper()
	cats := fixture.Dir(t)
	all, err := filepath.Glob(filepath.Join(cats, "*.jpg"))
	if err != nil || len(all) < n+1 {
		t.Fatalf("need %d photos in %s: %v", n+1, cats, err)
	}
	sort.Strings(all)
	dir := t.TempDir()
	put := func(name string, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	read := func(p string) []byte {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	for _, p := range all[:n] {
		put(filepath.Base(p), read(p))
		put(filepath.Base(p)+".cat", read(p+".cat"))
	}
	pts, err := catdata.ParseCat(read(all[0] + ".cat"))
	if err != nil {
		t.Fatal(err)
	}
	pts[4].Y = -7
	put(filepath.Base(all[0])+".cat", catdata.FormatCat(pts))
	extra := read(all[n])
	put("99999999_truncated.jpg", extra[:len(extra)/3])
	put("99999999_truncated.jpg.cat", read(all[n]+".cat"))
	put("99999998_eight.jpg", extra)
	put("99999998_eight.jpg.cat", []byte("8 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 "))
	return dir
}

// zipFolder packs the files of the flat folder dir into a zip archive at zpath.
func zipFolder(t testing.TB, dir, zpath string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(zpath)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		w, err := zw.Create(e.Name())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func prepare(t testing.TB, data, dir string, opt Options) *Summary {
	t.Helper()
	src, err := catdata.Scan(data)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	s, err := Prepare(src, dir, opt)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestPrepareDeterministic prepares the same photos three times, with one worker and with
// several, over a fresh and over an existing cache: the files must be byte-identical.
func TestPrepareDeterministic(t *testing.T) {
	data := subset(t, 40)
	a, b := t.TempDir(), t.TempDir()
	opt := Options{Size: 64, GroupByPrefix: true, Seed: 3}
	opt.Workers = 1
	prepare(t, data, a, opt)
	opt.Workers = 7
	prepare(t, data, b, opt)
	for _, f := range []string{ManifestFile, PixelsFile} {
		x, errx := os.ReadFile(filepath.Join(a, f))
		y, erry := os.ReadFile(filepath.Join(b, f))
		if errx != nil || erry != nil || !bytes.Equal(x, y) {
			t.Errorf("%s differs between 1 and 7 workers (%v, %v)", f, errx, erry)
		}
	}
	// The same photos in a zip archive make the same cache.
	z := filepath.Join(t.TempDir(), "cats.zip")
	zipFolder(t, data, z)
	c := t.TempDir()
	prepare(t, z, c, opt)
	for _, f := range []string{ManifestFile, PixelsFile} {
		x, _ := os.ReadFile(filepath.Join(a, f))
		y, err := os.ReadFile(filepath.Join(c, f))
		if err != nil || !bytes.Equal(x, y) {
			t.Errorf("%s differs between the folder and its zip (%v)", f, err)
		}
	}
	first, _ := os.ReadFile(filepath.Join(a, PixelsFile))
	prepare(t, data, a, opt)
	again, _ := os.ReadFile(filepath.Join(a, PixelsFile))
	if !bytes.Equal(first, again) {
		t.Error("preparing over an existing cache changed the pixels")
	}
	left, _ := os.ReadDir(a)
	if len(left) != 2 {
		var names []string
		for _, e := range left {
			names = append(names, e.Name())
		}
		t.Errorf("cache folder holds %v, want only %s and %s", names, ManifestFile, PixelsFile)
	}
}

func TestPrepareContents(t *testing.T) {
	data := subset(t, 24)
	dir := t.TempDir()
	const size = 48
	sum := prepare(t, data, dir, Options{Size: size})
	c, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if c.Len() != 24 || sum.Kept != 24 || c.Size() != size {
		t.Fatalf("Len %d, Kept %d, Size %d; want 24, 24, %d", c.Len(), sum.Kept, c.Size(), size)
	}
	wantSkip := map[string]string{"99999999_truncated.jpg": string(catdata.Truncated), "99999998_eight.jpg": string(catdata.PointCount)}
	if len(sum.Skipped) != len(wantSkip) {
		t.Errorf("skipped %v, want %v", sum.Skipped, wantSkip)
	}
	for _, s := range sum.Skipped {
		if wantSkip[s.Name] != s.Reason || s.Detail == "" {
			t.Errorf("skipped %s for %q (%s), want %q with a detail", s.Name, s.Reason, s.Detail, wantSkip[s.Name])
		}
	}
	outPhotos, outPoints := 0, 0
	for i := 0; i < c.Len(); i++ {
		it := c.Item(i)
		if i > 0 && c.Item(i-1).Name >= it.Name {
			t.Errorf("items out of order: %s before %s", c.Item(i-1).Name, it.Name)
		}
		raw, err := os.ReadFile(filepath.Join(data, it.Name+".cat"))
		if err != nil {
			t.Fatal(err)
		}
		want, err := catdata.ParseCat(raw)
		if err != nil || want != it.Points {
			t.Errorf("%s: points %v, the .cat says %v (%v)", it.Name, it.Points, want, err)
		}
		f, err := os.Open(filepath.Join(data, it.Name))
		if err != nil {
			t.Fatal(err)
		}
		img, err := jpeg.Decode(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		b := img.Bounds()
		if it.Width != b.Dx() || it.Height != b.Dy() {
			t.Errorf("%s: size %d×%d, the photo is %d×%d", it.Name, it.Width, it.Height, b.Dx(), b.Dy())
		}
		if k := want.Outside(b.Dx(), b.Dy()); k > 0 {
			outPhotos++
			outPoints += k
		}
		// The cached square must look like the photo: compare with a nearest-neighbour sample
		// taken through the standard library (catches transposed, flipped or swapped channels).
		pix := c.Pixels(i)
		if len(pix) != size*size*3 {
			t.Fatalf("Pixels(%d) has %d bytes", i, len(pix))
		}
		diff := 0.0
		for y := 0; y < size; y++ {
			for x := 0; x < size; x++ {
				sx := b.Min.X + int((float64(x)+0.5)*float64(b.Dx())/size)
				sy := b.Min.Y + int((float64(y)+0.5)*float64(b.Dy())/size)
				r, g, bb, _ := img.At(sx, sy).RGBA()
				p := pix[(y*size+x)*3:]
				diff += math.Abs(float64(p[0])-float64(r>>8)) + math.Abs(float64(p[1])-float64(g>>8)) + math.Abs(float64(p[2])-float64(bb>>8))
			}
		}
		if mean := diff / (size * size * 3); mean > 20 {
			t.Errorf("%s: cached pixels differ from the photo by %.1f on average", it.Name, mean)
		}
	}
	if outPhotos == 0 {
		t.Error("no photo has a point outside its frame: subset's moved ear tip is missing")
	}
	if sum.OutsidePhotos != outPhotos || sum.OutsidePoints != outPoints {
		t.Errorf("outside: %d points in %d photos, want %d in %d", sum.OutsidePoints, sum.OutsidePhotos, outPoints, outPhotos)
	}
	got := c.Summary()
	if got.Kept != sum.Kept || got.Train != sum.Train || got.Val != sum.Val || len(got.Skipped) != len(sum.Skipped) || got.OutsidePoints != sum.OutsidePoints {
		t.Errorf("opened cache's summary %+v differs from Prepare's %+v", got, sum)
	}
	train, _ := c.Split("train")
	val, _ := c.Split("val")
	all, _ := c.Split("all")
	if len(train) != 17 || len(val) != 7 || len(all) != 24 { // round(0.7×24) = 17
		t.Errorf("split sizes %d/%d/%d, want 17/7/24", len(train), len(val), len(all))
	}
	if _, err := c.Split("test"); err == nil {
		t.Error(`Split("test") succeeded`)
	}
}

func TestOpenErrors(t *testing.T) {
	data := subset(t, 3)
	good := t.TempDir()
	prepare(t, data, good, Options{Size: 8})
	manifest, _ := os.ReadFile(filepath.Join(good, ManifestFile))
	pixels, _ := os.ReadFile(filepath.Join(good, PixelsFile))
	flipped := append([]byte(nil), pixels...)
	flipped[5] ^= 1
	cases := []struct {
		name             string
		manifest, pixels []byte // nil: file absent
		file, text       string
	}{
		{"no manifest", nil, pixels, ManifestFile, "no manifest"},
		{"not JSON", []byte("{\"version\":"), pixels, ManifestFile, "corrupt manifest"},
		{"other version", bytes.Replace(manifest, []byte(`"version":1`), []byte(`"version":99`), 1), pixels, ManifestFile, "version 99"},
		{"count mismatch", bytes.Replace(manifest, []byte(`"count":3`), []byte(`"count":4`), 1), pixels, ManifestFile, "count 4"},
		{"no pixels", manifest, nil, PixelsFile, "missing"},
		{"truncated pixels", manifest, pixels[:len(pixels)-10], PixelsFile, "truncated"},
		{"flipped bit", manifest, flipped, PixelsFile, "checksum"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if c.manifest != nil {
				os.WriteFile(filepath.Join(dir, ManifestFile), c.manifest, 0o644)
			}
			if c.pixels != nil {
				os.WriteFile(filepath.Join(dir, PixelsFile), c.pixels, 0o644)
			}
			_, err := Open(dir)
			if err == nil {
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), filepath.Join(dir, c.file)) || !strings.Contains(err.Error(), c.text) {
				t.Errorf("error %q should name %s and say %q", err, c.file, c.text)
			}
		})
	}
	if _, err := Open(good); err != nil {
		t.Errorf("the intact cache does not open: %v", err)
	}
}

func TestPrepareOptionErrors(t *testing.T) {
	src := &catdata.Source{}
	for _, opt := range []Options{{Size: -1}, {TrainFraction: 1.5}, {TrainFraction: -0.1}, {TrainFraction: math.NaN()}} {
		if _, err := Prepare(src, t.TempDir(), opt); err == nil {
			t.Errorf("Prepare with %+v succeeded", opt)
		}
	}
}

// BenchmarkPrepare prepares the whole real set at 224 and reports photos per second. It skips
// when the real photos are missing.
func BenchmarkPrepare(b *testing.B) {
	cats := testenv.CatsDir(b)
	src, err := catdata.Scan(cats)
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	dir := b.TempDir()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Prepare(src, dir, Options{GroupByPrefix: true}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(src.Len()*b.N)/b.Elapsed().Seconds(), "photos/s")
}
