package catdata

import (
	"archive/zip"
	"bytes"
	"errors"
	"image"
	"image/jpeg"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"testing"

	"github.com/catmark/catmark/imgproc"
	"github.com/catmark/catmark/internal/fixture"
)

// photoNames returns the first n photo names (NAME.jpg) in dir.
func photoNames(t *testing.T, dir string, n int) []string {
	t.Helper()
	all, err := filepath.Glob(filepath.Join(dir, "*.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(all)
	if len(all) < n {
		t.Fatalf("%s has %d photos, want at least %d", dir, len(all), n)
	}
	names := make([]string, n)
	for i, p := range all[:n] {
		names[i] = filepath.Base(p)
	}
	return names
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, to, data)
}

func writeFile(t *testing.T, to string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// brokenTree builds, in a temporary folder, a Cat Dataset tree of 30 fixture photos split across
// CAT_00 and CAT_01 and one of each kind of bad entry. It returns the folder, the names of the
// good entries, and the bad entries by name with their reason.
func brokenTree(t *testing.T) (string, []string, map[string]Reason) {
	cats := fixture.Dir(t)
	photos := photoNames(t, cats, 36)
	dir := t.TempDir()
	var good []string
	for i, p := range photos[:30] {
		sub := "CAT_00"
		if i >= 20 {
			sub = "CAT_01"
		}
		copyFile(t, filepath.Join(cats, p), filepath.Join(dir, sub, p))
		copyFile(t, filepath.Join(cats, p+".cat"), filepath.Join(dir, sub, p+".cat"))
		good = append(good, sub+"/"+p)
	}
	bad := map[string]Reason{}
	add := func(name string, r Reason, photo, cat []byte) {
		if photo != nil {
			writeFile(t, filepath.Join(dir, name), photo)
		}
		if cat != nil {
			writeFile(t, filepath.Join(dir, name+".cat"), cat)
		}
		bad[name] = r
	}
	realJPEG, err := os.ReadFile(filepath.Join(cats, photos[30]))
	if err != nil {
		t.Fatal(err)
	}
	realCat, err := os.ReadFile(filepath.Join(cats, photos[30]+".cat"))
	if err != nil {
		t.Fatal(err)
	}
	add("CAT_02/broken_cat.jpg", Malformed, realJPEG, []byte("9 10 20 30 forty 50 60 70 80 90 100 110 120 130 140 150 160 170 180 "))
	add("CAT_02/eight_points.jpg", PointCount, realJPEG, []byte("8 10 20 30 40 50 60 70 80 90 100 110 120 130 140 150 160 "))
	add("CAT_02/truncated.jpg", Truncated, realJPEG[:len(realJPEG)/2], realCat)
	add("CAT_02/text.jpg", NotJPEG, []byte("I am a text file, renamed.\n"), realCat)
	add("CAT_02/empty.jpg", NotJPEG, []byte{}, realCat)

	// A grey JPEG made from a colour photo.
	img, err := jpeg.Decode(bytes.NewReader(realJPEG))
	if err != nil {
		t.Fatal(err)
	}
	grey := image.NewGray(img.Bounds())
	for y := img.Bounds().Min.Y; y < img.Bounds().Max.Y; y++ {
		for x := img.Bounds().Min.X; x < img.Bounds().Max.X; x++ {
			grey.Set(x, y, img.At(x, y))
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, grey, nil); err != nil {
		t.Fatal(err)
	}
	add("CAT_02/grey.jpg", Grey, buf.Bytes(), realCat)
	cmyk, err := os.ReadFile("testdata/cmyk.jpg")
	if err != nil {
		t.Fatal(err)
	}
	add("CAT_02/cmyk.jpg", CMYK, cmyk, realCat)
	add("CAT_02/orphan.jpg.cat", NoPhoto, nil, nil)
	writeFile(t, filepath.Join(dir, "CAT_02/orphan.jpg.cat"), realCat)
	add("CAT_02/no_annotation.jpg", NoAnnotation, realJPEG, nil)
	// The same file name as a good photo, in another folder: a duplicate.
	dup := "CAT_03/" + photos[0]
	add(dup, Duplicate, realJPEG, realCat)
	// Files that are not part of the dataset are ignored, as are hidden and macOS metadata files.
	writeFile(t, filepath.Join(dir, "README.txt"), []byte("the Cat Dataset"))
	writeFile(t, filepath.Join(dir, "__MACOSX/CAT_00/._x.jpg"), []byte("junk"))
	writeFile(t, filepath.Join(dir, "CAT_00/.hidden.jpg"), []byte("junk"))
	return dir, good, bad
}

// loadAll loads every entry, returning the problems found by Scan and Load together.
func loadAll(t *testing.T, s *Source) (map[string]Reason, map[string]*imgproc.RGB) {
	t.Helper()
	got := map[string]Reason{}
	for _, p := range s.Problems {
		if _, dup := got[p.Name]; dup {
			t.Errorf("%s reported twice", p.Name)
		}
		got[p.Name] = p.Reason
	}
	imgs := map[string]*imgproc.RGB{}
	for i, e := range s.Entries {
		img, _, err := s.Load(i)
		if err != nil {
			var p *Problem
			if !errors.As(err, &p) || p.Name != e.Name {
				t.Fatalf("Load(%d) error %v is not a *Problem naming %s", i, err, e.Name)
			}
			if _, dup := got[p.Name]; dup {
				t.Errorf("%s reported twice", p.Name)
			}
			got[p.Name] = p.Reason
			continue
		}
		imgs[e.Name] = img
	}
	return got, imgs
}

func TestScanFolder(t *testing.T) {
	dir, good, bad := brokenTree(t)
	s, err := Scan(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, imgs := loadAll(t, s)
	for name, r := range bad {
		if got[name] != r {
			t.Errorf("%s: reported as %q, want %q", name, got[name], r)
		}
	}
	for name, r := range got {
		if _, ok := bad[name]; !ok {
			t.Errorf("%s reported as %q but is a good entry", name, r)
		}
	}
	if len(imgs) != len(good) {
		t.Errorf("kept %d photos, want %d", len(imgs), len(good))
	}
	if s.Ignored != 1 {
		t.Errorf("Ignored = %d, want 1 (README.txt)", s.Ignored)
	}
	for i := 1; i < len(s.Entries); i++ {
		if s.Entries[i-1].Name >= s.Entries[i].Name {
			t.Fatalf("entries not sorted: %s before %s", s.Entries[i-1].Name, s.Entries[i].Name)
		}
	}
	cats := fixture.Dir(t)
	for _, name := range good {
		img := imgs[name]
		if img == nil {
			t.Errorf("%s not kept", name)
			continue
		}
		f, err := os.Open(filepath.Join(cats, path.Base(name)))
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := jpeg.DecodeConfig(f)
		f.Close()
		if err != nil || cfg.Width != img.W || cfg.Height != img.H {
			t.Errorf("%s: loaded %d×%d, the JPEG says %d×%d (%v)", name, img.W, img.H, cfg.Width, cfg.Height, err)
		}
		if len(img.Pix) != img.W*img.H*3 {
			t.Errorf("%s: %d bytes of pixels for %d×%d", name, len(img.Pix), img.W, img.H)
		}
	}
	// Each problem's message names the file and says the reason.
	for i := range s.Entries {
		if _, _, err := s.Load(i); err != nil && !bytes.Contains([]byte(err.Error()), []byte(s.Entries[i].Name)) {
			t.Errorf("error %q does not name %s", err, s.Entries[i].Name)
		}
	}
}

// zipTree packs the files under dir into a zip archive at zpath, names relative to dir.
func zipTree(t *testing.T, dir, zpath string) {
	t.Helper()
	f, err := os.Create(zpath)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	err = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		w, err := zw.Create(filepath.ToSlash(rel))
		if err != nil {
			return err
		}
		src, err := os.Open(p)
		if err != nil {
			return err
		}
		defer src.Close()
		_, err = io.Copy(w, src)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestScanZip checks that a zip of the tree reads exactly as the folder does: the same
// entries, problems, pixels and points; and that zips inside a folder are read in place.
func TestScanZip(t *testing.T) {
	dir, _, _ := brokenTree(t)
	zdir := t.TempDir()
	zpath := filepath.Join(zdir, "cats.zip")
	zipTree(t, dir, zpath)

	fromDir, err := Scan(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer fromDir.Close()
	fromZip, err := Scan(zpath)
	if err != nil {
		t.Fatal(err)
	}
	defer fromZip.Close()
	if len(fromDir.Entries) != len(fromZip.Entries) {
		t.Fatalf("folder has %d entries, zip %d", len(fromDir.Entries), len(fromZip.Entries))
	}
	for i := range fromDir.Entries {
		if fromDir.Entries[i].Name != fromZip.Entries[i].Name {
			t.Fatalf("entry %d: folder %s, zip %s", i, fromDir.Entries[i].Name, fromZip.Entries[i].Name)
		}
		a, pa, ea := fromDir.Load(i)
		b, pb, eb := fromZip.Load(i)
		if (ea == nil) != (eb == nil) {
			t.Fatalf("%s: folder error %v, zip error %v", fromDir.Entries[i].Name, ea, eb)
		}
		if ea != nil {
			var p, q *Problem
			errors.As(ea, &p)
			errors.As(eb, &q)
			if p.Reason != q.Reason {
				t.Errorf("%s: folder says %s, zip %s", p.Name, p.Reason, q.Reason)
			}
			continue
		}
		if pa != pb || a.W != b.W || a.H != b.H || !bytes.Equal(a.Pix, b.Pix) {
			t.Errorf("%s differs between folder and zip", fromDir.Entries[i].Name)
		}
	}
	if len(fromDir.Problems) != len(fromZip.Problems) {
		t.Fatalf("folder has %d scan problems, zip %d", len(fromDir.Problems), len(fromZip.Problems))
	}
	for i := range fromDir.Problems {
		if fromDir.Problems[i].Name != fromZip.Problems[i].Name || fromDir.Problems[i].Reason != fromZip.Problems[i].Reason {
			t.Errorf("problem %d: folder %v, zip %v", i, &fromDir.Problems[i], &fromZip.Problems[i])
		}
	}

	// A folder holding the zip and a broken zip: the zip's entries are prefixed with its path,
	// the broken one is reported.
	writeFile(t, filepath.Join(zdir, "broken.zip"), []byte("PK not really"))
	nested, err := Scan(zdir)
	if err != nil {
		t.Fatal(err)
	}
	defer nested.Close()
	if len(nested.Entries) != len(fromDir.Entries) || nested.Entries[0].Name != "cats.zip/"+fromDir.Entries[0].Name {
		t.Errorf("zip in a folder: %d entries, first %q", len(nested.Entries), nested.Entries[0].Name)
	}
	found := false
	for _, p := range nested.Problems {
		found = found || (p.Name == "broken.zip" && p.Reason == Unreadable)
	}
	if !found {
		t.Errorf("broken.zip not reported as unreadable: %v", nested.Problems)
	}
}

func TestScanErrors(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "x.txt"), []byte("x"))
	for _, p := range []string{filepath.Join(dir, "missing"), filepath.Join(dir, "x.txt")} {
		if _, err := Scan(p); err == nil {
			t.Errorf("Scan(%s) succeeded", p)
		}
	}
	s, err := Scan(dir)
	if err != nil || s.Len() != 0 || s.Ignored != 1 {
		t.Errorf("folder without photos: %v, %d entries, %d ignored", err, s.Len(), s.Ignored)
	}
}
