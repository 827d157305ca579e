package augment

import (
	"image/jpeg"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/catmark/catmark/catdata"
	"github.com/catmark/catmark/imgproc"
	"github.com/catmark/catmark/internal/fixture"
	"github.com/catmark/catmark/landmark"
)

// side is the square size the tests resize photos to, the seed's input size.
const side = 224

// annotated is one photo's annotation in normalised coordinates (unclipped).
type annotated struct {
	name string
	pts  landmark.Points
}

// photo is one photo resized to side×side, with normalised points.
type photo struct {
	name string
	img  *imgproc.RGB
	pts  landmark.Points
}

var (
	sourceOnce sync.Once
	source     *catdata.Source
	sourceErr  error
)

// fixtureSource returns the committed fixture's photos, scanned once.
func fixtureSource(t *testing.T) *catdata.Source {
	t.Helper()
	dir := fixture.Dir(t)
	sourceOnce.Do(func() { source, sourceErr = catdata.Scan(dir) })
	if sourceErr != nil {
		t.Fatalf("scanning %s: %v", dir, sourceErr)
	}
	if source.Len() != fixture.Count {
		t.Fatalf("%s: %d photos, want the fixture's %d", dir, source.Len(), fixture.Count)
	}
	return source
}

// annotations returns every photo's points in src normalised by its size (read from the JPEG
// header; the pixels are not decoded).
func annotations(t *testing.T, src *catdata.Source) []annotated {
	t.Helper()
	out := make([]annotated, 0, src.Len())
	for _, e := range src.Entries {
		pts, err := e.Points()
		if err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(filepath.Join(src.Path, filepath.FromSlash(e.Name)))
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := jpeg.DecodeConfig(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", e.Name, err)
		}
		out = append(out, annotated{e.Name, pts.NormalizeUnclipped(cfg.Width, cfg.Height)})
	}
	return out
}

// somePhotos decodes n fixture photos, spread over the fixture, and resizes them to side×side,
// as the cache does.
func somePhotos(t *testing.T, n int) []photo {
	t.Helper()
	src := fixtureSource(t)
	var out []photo
	for i := 0; i < n; i++ {
		k := i * src.Len() / n
		img, pts, err := src.Load(k)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, photo{src.Entries[k].Name, img.Resize(side, side), pts.NormalizeUnclipped(img.W, img.H)})
	}
	return out
}
