package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// fakeCats makes a collection of n empty photos 00.jpg, 01.jpg, … with their .cat files and a
// stray file that is not a photo, and points CATMARK_CATS at it.
func fakeCats(t *testing.T, n int) string {
	t.Helper()
	dir := t.TempDir()
	for i := range n {
		for _, f := range []string{fmt.Sprintf("%02d.jpg", i), fmt.Sprintf("%02d.jpg.cat", i)} {
			if err := os.WriteFile(filepath.Join(dir, f), []byte(f), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "README.md"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CATMARK_CATS", dir)
	return dir
}

func TestPhotosSpreadsOverTheCollection(t *testing.T) {
	cats := fakeCats(t, 10)
	for _, c := range []struct {
		n    int
		want []string
	}{
		{1, []string{"00"}},
		{3, []string{"00", "03", "06"}},
		{4, []string{"00", "02", "04", "06"}},
		{10, []string{"00", "01", "02", "03", "04", "05", "06", "07", "08", "09"}},
	} {
		dir := Photos(t, c.n)
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range entries {
			got = append(got, e.Name())
		}
		var want []string
		for _, w := range c.want {
			want = append(want, w+".jpg", w+".jpg.cat")
		}
		if !slices.Equal(got, want) {
			t.Errorf("Photos(%d) holds %v, want %v", c.n, got, want)
		}
		for _, f := range got {
			if data, err := os.ReadFile(filepath.Join(dir, f)); err != nil || string(data) != f {
				t.Errorf("Photos(%d): %s reads %q, %v; want the content of %s", c.n, f, data, err, filepath.Join(cats, f))
			}
		}
	}
}

// recorder is a testing.TB that records Fatalf and Skipf instead of ending the test, so that
// a test can check which of them Photos calls. Run the call in its own goroutine: both end it.
type recorder struct {
	testing.TB
	failed, skipped bool
	msg             string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.failed, r.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (r *recorder) Skipf(format string, args ...any) {
	r.skipped, r.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// record calls f with a recorder in a goroutine of its own and returns the recorder.
func record(t *testing.T, f func(tb testing.TB)) *recorder {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	return r
}

func TestMissingPhotosFailTheRealTier(t *testing.T) {
	for _, c := range []struct {
		name string
		cats func(t *testing.T) // sets CATMARK_CATS
		n    int
		want string // in the message
	}{
		{"too few", func(t *testing.T) { fakeCats(t, 2) }, 3, "has 2 photos, the test needs 3"},
		{"absent", func(t *testing.T) { t.Setenv("CATMARK_CATS", filepath.Join(t.TempDir(), "missing")) }, 1, "missing is not a folder"},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.cats(t)
			r := record(t, func(tb testing.TB) { Photos(tb, c.n) })
			// With -tags realphotos the tier fails; without it (benchmarks by hand) it skips.
			if r.failed != Required || r.skipped == Required {
				t.Errorf("Photos(%d): failed %v, skipped %v; want failed %v, skipped %v (Required = %v)", c.n, r.failed, r.skipped, Required, !Required, Required)
			}
			if !strings.Contains(r.msg, c.want) {
				t.Errorf("Photos(%d) says %q, want it to say %q", c.n, r.msg, c.want)
			}
		})
	}
}
