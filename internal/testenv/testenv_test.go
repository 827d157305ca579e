package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
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

func TestPhotosSkips(t *testing.T) {
	for _, c := range []struct {
		name string
		cats func(t *testing.T) // sets CATMARK_CATS
		n    int
	}{
		{"too few", func(t *testing.T) { fakeCats(t, 2) }, 3},
		{"absent", func(t *testing.T) { t.Setenv("CATMARK_CATS", filepath.Join(t.TempDir(), "missing")) }, 1},
	} {
		c.cats(t)
		var sub *testing.T
		t.Run(c.name, func(t *testing.T) {
			sub = t
			Photos(t, c.n)
		})
		if !sub.Skipped() {
			t.Errorf("%s: Photos(%d) did not skip", c.name, c.n)
		}
	}
}
