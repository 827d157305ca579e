// Package testenv finds the shared real-cat photos for tests and benchmarks.
package testenv

import (
	"os"
	"path/filepath"
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
