package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"hash/crc32"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	"github.com/catmark/catmark"
	"github.com/catmark/catmark/catdata"
	"github.com/catmark/catmark/internal/fixture"
)

// predictOne prints one JSON line per photo with nine named points inside the photo and the
// shipped model's face presence; an unreadable file is an error naming it. The photo is a drawn
// face of the fixture, which the shipped model takes for a cat's (presence over 0.8 and mean
// errors under 0.35 eye distances on all 48).
func TestPredictOne(t *testing.T) {
	photo := fixture.Path(t, 0)
	det, err := catmark.Load("")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := predictOne(det, photo, true, "", &out); err != nil {
		t.Fatal(err)
	}
	var r catmark.Record
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("output %q is not one JSON object: %v", out.String(), err)
	}
	if r.Path != photo || len(r.Points) != 9 || r.Points[0].Name != "left_eye" {
		t.Fatalf("result %+v: want the photo's path and nine points from left_eye", r)
	}
	for _, p := range r.Points {
		if p.X < 0 || p.X > float64(r.Width) || p.Y < 0 || p.Y > float64(r.Height) {
			t.Errorf("point %s (%.1f, %.1f) outside the %d×%d photo", p.Name, p.X, p.Y, r.Width, r.Height)
		}
	}
	if r.Presence == nil || *r.Presence <= 0.5 || *r.Presence >= 1 {
		t.Errorf("face presence %v on a cat photo, want in (0.5, 1)", r.Presence)
	}
	raw, err := os.ReadFile(photo + ".cat")
	if err != nil {
		t.Fatal(err)
	}
	truth, err := catdata.ParseCat(raw)
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for i, p := range r.Points {
		sum += math.Hypot(p.X-truth[i].X, p.Y-truth[i].Y)
	}
	if e := sum / 9 / truth.EyeDistance(); e > 0.4 {
		t.Errorf("points %v are %.2f eye distances from the annotation %v on average, want at most 0.4", r.Points, e, truth)
	}

	bad := filepath.Join(t.TempDir(), "notes.jpg")
	os.WriteFile(bad, []byte("not a photo"), 0o644)
	out.Reset()
	if err := predictOne(det, bad, true, "", &out); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("predictOne(text file) = %v, want an error naming %s", err, bad)
	}
	if out.Len() != 0 {
		t.Errorf("a failed photo printed %q", out.String())
	}
}

func TestExpandPhotos(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"b.JPG", "a.png", "sub/c.jpeg", "notes.txt"} {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755)
		os.WriteFile(filepath.Join(dir, name), nil, 0o644)
	}
	got, errs := expandPhotos(dir)
	want := []string{filepath.Join(dir, "a.png"), filepath.Join(dir, "b.JPG"), filepath.Join(dir, "sub/c.jpeg")}
	if strings.Join(got, ",") != strings.Join(want, ",") || len(errs) != 0 {
		t.Errorf("expandPhotos(folder) = %v, %v; want %v and no errors", got, errs, want)
	}
	for _, arg := range []string{"-", "missing.jpg"} {
		if got, errs := expandPhotos(arg); len(got) != 1 || got[0] != arg || len(errs) != 0 {
			t.Errorf("expandPhotos(%q) = %v, %v; want it unchanged", arg, got, errs)
		}
	}
}

// unreadableDir is a file system whose folder bad cannot be listed.
type unreadableDir struct {
	fstest.MapFS
	bad string
}

func (u unreadableDir) ReadDir(name string) ([]fs.DirEntry, error) {
	if name == u.bad {
		return nil, &fs.PathError{Op: "readdirent", Path: name, Err: fs.ErrPermission}
	}
	return u.MapFS.ReadDir(name)
}

// A folder that cannot be listed is an error naming it; the photos beside it are still found.
func TestWalkPhotosReportsUnreadableFolders(t *testing.T) {
	fsys := unreadableDir{MapFS: fstest.MapFS{
		"a.jpg": {}, "locked/b.jpg": {}, "open/c.png": {}, "open/deeper/d.jpeg": {},
	}, bad: "open/deeper"}
	for _, bad := range []string{"open/deeper", "."} {
		fsys.bad = bad
		got, errs := walkPhotos(fsys, "photos")
		want := []string{filepath.Join("photos", "a.jpg"), filepath.Join("photos", "locked", "b.jpg"), filepath.Join("photos", "open", "c.png")}
		if bad == "." {
			want = nil
		}
		name := filepath.Join("photos", filepath.FromSlash(bad))
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("folder %s unreadable: photos %v, want %v", bad, got, want)
		}
		if len(errs) != 1 || !errors.Is(errs[0], fs.ErrPermission) || !strings.HasPrefix(errs[0].Error(), name+": ") {
			t.Errorf("folder %s unreadable: errors %v, want one naming %s", bad, errs, name)
		}
	}
}

// catmark predict names an unreadable folder on stderr and counts it as a failure, and still
// measures the photos beside it. (File permissions do not bind root, so the test needs another
// user.)
func TestPredictUnreadableFolder(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads any folder")
	}
	dir := t.TempDir()
	photo, err := os.ReadFile(fixture.Path(t, 0))
	if err != nil {
		t.Fatal(err)
	}
	locked := filepath.Join(dir, "locked")
	if err := os.MkdirAll(locked, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cat.jpg"), photo, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(locked, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(locked, 0o755) })
	var stdout string
	stderr, err := stderrCapture(t, func() error {
		var err error
		stdout, err = evalCapture(t, func() error { return runPredict([]string{"--json", dir}) })
		return err
	})
	if !errors.Is(err, errSilent) || !strings.Contains(stderr, locked+": folder not readable") || !strings.Contains(stderr, "1 photo(s) or folder(s) failed") {
		t.Errorf("predict over a folder with an unreadable subfolder: %v, stderr %q; want a failure naming %s", err, stderr, locked)
	}
	if !strings.Contains(stdout, `"path":"`+filepath.Join(dir, "cat.jpg")+`"`) {
		t.Errorf("the photo beside the unreadable folder was not measured: %q", stdout)
	}
}

// predictOne applies serve's limits: a named pipe, /dev/zero behind a symbolic link and a
// folder are refused unread with a message, a PNG declaring 30000×30000 pixels is refused from
// its header, and a 1×1 photo is an error naming the minimum size rather than points outside it.
func TestPredictOneLimits(t *testing.T) {
	det, err := catmark.Load("")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	fifo := filepath.Join(dir, "pipe.jpg")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	zero := filepath.Join(dir, "zero.jpg")
	os.Symlink("/dev/zero", zero)
	huge := filepath.Join(dir, "huge.png")
	os.WriteFile(huge, pngHeader(30000, 30000), 0o644)
	tiny := filepath.Join(dir, "tiny.png")
	var b bytes.Buffer
	png.Encode(&b, image.NewRGBA(image.Rect(0, 0, 1, 1)))
	os.WriteFile(tiny, b.Bytes(), 0o644)
	for _, tc := range []struct {
		path    string
		mention []string
	}{
		{fifo, []string{"named pipe", "skipped"}},
		{zero, []string{"character device", "skipped"}},
		{dir, []string{"folder", "skipped"}},
		{huge, []string{"30000×30000", "too large"}},
		{tiny, []string{"1×1", "16×16"}},
	} {
		var out bytes.Buffer
		done := make(chan error, 1)
		go func() { done <- predictOne(det, tc.path, true, "", &out) }()
		select {
		case err := <-done:
			if err == nil {
				t.Errorf("predictOne(%s) succeeded: %s", tc.path, out.String())
				continue
			}
			for _, m := range append(tc.mention, tc.path) {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("predictOne(%s) = %q, want it to mention %q", tc.path, err, m)
				}
			}
			if out.Len() != 0 {
				t.Errorf("predictOne(%s) printed %q", tc.path, out.String())
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("predictOne(%s) still runs after 10 s", tc.path)
		}
	}
}

// pngHeader is a PNG signature and the IHDR chunk of a w×h 8-bit RGB image, nothing more.
func pngHeader(w, h uint32) []byte {
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 2
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	binary.Write(&b, binary.BigEndian, uint32(len(ihdr)))
	chunk := append([]byte("IHDR"), ihdr...)
	b.Write(chunk)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(chunk))
	return b.Bytes()
}

// Pictures of photos sharing a base name get names of their own, the same on every run.
func TestDrawNames(t *testing.T) {
	paths := []string{"a/cat.jpg", "b/cat.jpg", "c/cat.png", "cat-2.jpg", "-", "x/Cat.JPG", "dog.jpg"}
	want := []string{"cat.png", "cat-3.png", "cat-4.png", "cat-2.png", "stdin.png", "Cat-5.png", "dog.png"}
	got := drawNames(paths)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("drawNames(%q) = %q, want %q", paths, got, want)
	}
	seen := map[string]bool{}
	for _, n := range got {
		if seen[strings.ToLower(n)] {
			t.Errorf("name %s given twice", n)
		}
		seen[strings.ToLower(n)] = true
	}
}

// catmark predict --draw draws a/cat.jpg and b/cat.jpg into two pictures, each of its own photo.
func TestPredictDrawSameBaseName(t *testing.T) {
	dir := t.TempDir()
	for i, sub := range []string{"a", "b"} {
		os.MkdirAll(filepath.Join(dir, sub), 0o755)
		data, err := os.ReadFile(fixture.Path(t, i))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, sub, "cat.jpg"), data, 0o644)
	}
	out := filepath.Join(dir, "out")
	if err := runPredict([]string{"--draw", out, filepath.Join(dir, "a"), filepath.Join(dir, "b"), "--json"}); err != nil {
		t.Fatal(err)
	}
	sizes := map[string]image.Point{}
	for _, name := range []string{"cat.png", "cat-2.png"} {
		f, err := os.Open(filepath.Join(out, name))
		if err != nil {
			t.Fatalf("picture %s missing: %v", name, err)
		}
		cfg, err := png.DecodeConfig(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		sizes[name] = image.Pt(cfg.Width, cfg.Height)
	}
	for i, name := range []string{"cat.png", "cat-2.png"} {
		photo, _ := os.Open(fixture.Path(t, i))
		cfg, err := jpeg.DecodeConfig(photo)
		photo.Close()
		if err != nil {
			t.Fatal(err)
		}
		if sizes[name] != image.Pt(cfg.Width, cfg.Height) {
			t.Errorf("%s is %v, want the size of photo %d, %d×%d", name, sizes[name], i, cfg.Width, cfg.Height)
		}
	}
	if sizes["cat.png"] == sizes["cat-2.png"] {
		t.Fatalf("fixture photos 0 and 1 have the same size %v: the test cannot tell them apart", sizes["cat.png"])
	}
}

// Flags may follow the photos; nothing is taken silently as a photo or dropped; -- ends flags.
func TestParseInterleaved(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		photos []string
		json   bool
	}{
		{[]string{"a.jpg", "--json", "b.jpg"}, []string{"a.jpg", "b.jpg"}, true},
		{[]string{"--json", "-", "a.jpg"}, []string{"-", "a.jpg"}, true},
		{[]string{"a.jpg", "--", "--json"}, []string{"a.jpg", "--json"}, false},
		{[]string{"a.jpg"}, []string{"a.jpg"}, false},
	} {
		fs := flag.NewFlagSet("predict", flag.ContinueOnError)
		asJSON := fs.Bool("json", false, "")
		got, err := parseInterleaved(fs, tc.args)
		if err != nil || strings.Join(got, " ") != strings.Join(tc.photos, " ") || *asJSON != tc.json {
			t.Errorf("parseInterleaved(%q) = %q, json %v, %v; want %q, json %v", tc.args, got, *asJSON, err, tc.photos, tc.json)
		}
	}
	fs := flag.NewFlagSet("predict", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if _, err := parseInterleaved(fs, []string{"a.jpg", "--jsn"}); err == nil || !strings.Contains(err.Error(), "jsn") {
		t.Errorf("an unknown flag after the photos gives %v, want an error naming it", err)
	}
}

// stderrCapture runs f with os.Stderr going to a buffer and returns what it wrote.
func stderrCapture(t *testing.T, f func() error) (string, error) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stderr
	os.Stderr = w
	var buf bytes.Buffer
	done := make(chan struct{})
	go func() { io.Copy(&buf, r); close(done) }()
	ferr := f()
	os.Stderr = saved
	w.Close()
	<-done
	r.Close()
	return buf.String(), ferr
}
