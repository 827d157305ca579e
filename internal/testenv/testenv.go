// Package testenv finds the shared real-cat photos for tests and benchmarks and links samples
// of them into temporary folders.
//
// Tests that need the real photos form a tier of their own: they live in files named
// *_real_test.go behind the build tag realphotos, so plain go test ./... never needs them (the
// committed fixture of internal/fixture drives the other tests). Built with -tags realphotos
// (scripts/test.sh does), testenv fails a test whose photos are missing; without the tag (a
// benchmark run by hand) it skips it.
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

// Required reports whether missing real photos fail a test rather than skip it: true when built
// with -tags realphotos, the real-photo tier.
const Required = required

// unavailable fails tb when Required, and skips it otherwise, saying why.
func unavailable(tb testing.TB, format string, args ...any) {
	tb.Helper()
	if Required {
		tb.Fatalf("real cat photos required (-tags realphotos) but unavailable: "+format, args...)
	}
	tb.Skipf("real cat photos unavailable: "+format, args...)
}

// CatsDir returns ../shared/data/cats beside the repository (or $CATMARK_CATS). When the folder
// is absent it fails tb with -tags realphotos and skips it without, saying why.
func CatsDir(tb testing.TB) string {
	tb.Helper()
	dir := os.Getenv("CATMARK_CATS")
	if dir == "" {
		root, err := RepoRoot()
		if err != nil {
			unavailable(tb, "cannot find the repository root: %v", err)
		}
		dir = filepath.Join(root, "..", "shared", "data", "cats")
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		unavailable(tb, "%s is not a folder (set CATMARK_CATS or put ../shared/data/cats beside the checkout)", dir)
	}
	return dir
}

// Photos links n real photos, spread evenly over the collection sorted by name (every
// len/n-th, starting with the first), with their NAME.jpg.cat annotations into a new folder
// from tb.TempDir and returns the folder. When the photos are absent or fewer than n it fails tb
// with -tags realphotos and skips it without, saying why.
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
		unavailable(tb, "%s has %d photos, the test needs %d", cats, len(photos), n)
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
