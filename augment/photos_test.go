package augment

import (
	"image/jpeg"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/catmark/catmark/catdata"
	"github.com/catmark/catmark/imgproc"
	"github.com/catmark/catmark/internal/testenv"
	"github.com/catmark/catmark/landmark"
)

// side is the square size the tests resize photos to, the seed's input size.
const side = 224

// annotated is one real photo's annotation in normalised coordinates (unclipped).
type annotated struct {
	name string
	pts  landmark.Points
}

// photo is one real photo resized to side×side, with normalised points.
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

func catSource(t *testing.T) *catdata.Source {
	t.Helper()
	dir := testenv.CatsDir(t)
	sourceOnce.Do(func() { source, sourceErr = catdata.Scan(dir) })
	if sourceErr != nil {
		t.Fatalf("scanning %s: %v", dir, sourceErr)
	}
	if source.Len() < 1000 {
		t.Fatalf("%s: %d photos, want the 1,320 real ones", dir, source.Len())
	}
	return source
}

// allAnnotations returns every real photo's points normalised by its size (read from the JPEG
// header; the pixels are not decoded).
func allAnnotations(t *testing.T) []annotated {
	src := catSource(t)
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

// somePhotos decodes every step-th real photo and resizes it to side×side, as the cache does.
func somePhotos(t *testing.T, step int) []photo {
	src := catSource(t)
	var out []photo
	for i := 0; i < src.Len(); i += step {
		img, pts, err := src.Load(i)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, photo{src.Entries[i].Name, img.Resize(side, side), pts.NormalizeUnclipped(img.W, img.H)})
	}
	return out
}
