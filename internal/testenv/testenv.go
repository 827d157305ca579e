// Package testenv finds the shared real-cat photos for tests and benchmarks and links samples
// of them into temporary folders.
package testenv

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// RepoRoot returns the directory holding go.mod, searching upwards from the working directory.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", os.ErrNotExist
		}
		dir = parent
	}
}

// CatsDir returns ../shared/data/cats beside the repository (or $CATMARK_CATS), and skips tb,
// saying why, when the folder is absent.
func CatsDir(tb testing.TB) string {
	tb.Helper()
	dir := os.Getenv("CATMARK_CATS")
	if dir == "" {
		root, err := RepoRoot()
		if err != nil {
			tb.Skipf("real cat photos unavailable: cannot find the repository root: %v", err)
		}
		dir = filepath.Join(root, "..", "shared", "data", "cats")
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		tb.Skipf("real cat photos unavailable: %s is not a folder (set CATMARK_CATS or put ../shared/data/cats beside the checkout)", dir)
	}
	return dir
}

// Photos links n real photos, spread evenly over the collection sorted by name (every
// len/n-th, starting with the first), with their NAME.jpg.cat annotations into a new folder
// from tb.TempDir and returns the folder. It skips tb, saying why, when the photos are absent or
// fewer than n.
func Photos(tb testing.TB, n int) string {
	tb.Helper()
	if n <= 0 {
		tb.Fatalf("testenv.Photos: n = %d, want at least 1", n)
	}
	cats := CatsDir(tb)
	entries, err := os.ReadDir(cats)
	if err != nil {
		tb.Fatal(err)
	}
	var photos []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".jpg") {
			photos = append(photos, e.Name())
		}
	}
	sort.Strings(photos)
	if len(photos) < n {
		tb.Skipf("real cat photos: %s has %d, the test needs %d", cats, len(photos), n)
	}
	dir := tb.TempDir()
	step := len(photos) / n
	for i := range n {
		p := photos[i*step]
		for _, f := range []string{p, p + ".cat"} {
			if err := os.Symlink(filepath.Join(cats, f), filepath.Join(dir, f)); err != nil {
				tb.Fatal(err)
			}
		}
	}
	return dir
}
