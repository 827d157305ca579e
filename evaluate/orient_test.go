package evaluate

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/catmark/catmark/catdata"
	"github.com/catmark/catmark/imgproc"
	"github.com/catmark/catmark/internal/exiftest"
	"github.com/catmark/catmark/internal/fixture"
)

// A photo folder measured with Orient(true) shows each photo as its EXIF orientation says,
// truth mapped along; with Orient(false), and for a cache always, the stored grid.
func TestDataOrient(t *testing.T) {
	dir := t.TempDir()
	jpg, cat, err := fixture.Encode(fixture.Seed, 1)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "cat.jpg"), exiftest.JPEG(jpg, 6), 0o644)
	os.WriteFile(filepath.Join(dir, "cat.jpg.cat"), cat, 0o644)
	d, err := OpenData(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	truth, _ := catdata.ParseCat(cat)

	stored, err := d.Photo(0)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Truth != truth || stored.Img.W != stored.W {
		t.Fatalf("stored grid: truth %v, want the annotation %v", stored.Truth, truth)
	}
	d.Orient(true)
	shown, err := d.Photo(0)
	if err != nil {
		t.Fatal(err)
	}
	if shown.W != stored.H || shown.H != stored.W || shown.Img.W != shown.W {
		t.Fatalf("oriented: %d×%d, want the stored %d×%d turned", shown.W, shown.H, stored.W, stored.H)
	}
	if want := catdata.OrientPoints(truth, 6, stored.W, stored.H); shown.Truth != want {
		t.Errorf("oriented truth %v, want %v", shown.Truth, want)
	}
	if r, g, b := shown.Img.At(0, 0); [3]uint8{r, g, b} != pixel(stored.Img, 0, stored.H-1) {
		t.Errorf("the oriented photo's top-left pixel is not the stored bottom-left one")
	}
	d.Orient(false)
	if again, _ := d.Photo(0); again.W != stored.W || again.Truth != truth {
		t.Errorf("Orient(false) did not give the stored grid back")
	}
}

func pixel(m *imgproc.RGB, x, y int) [3]uint8 {
	r, g, b := m.At(x, y)
	return [3]uint8{r, g, b}
}
