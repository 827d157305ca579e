// Package testcache prepares small caches of cat photos for tests: of the committed fixture
// (Fixture) or of the real photos (Spread, for the real-photo tier).
//
// It is a package of its own, not part of testenv, because the cache package's own tests use
// testenv.
package testcache

import (
	"testing"

	"github.com/catmark/catmark/cache"
	"github.com/catmark/catmark/catdata"
	"github.com/catmark/catmark/internal/fixture"
	"github.com/catmark/catmark/internal/testenv"
)

// Prepare prepares the annotated photos in the folder photos as a cache with opt in a new folder
// from tb.TempDir and returns that folder. It fails tb when the folder cannot be scanned or the
// cache cannot be written.
func Prepare(tb testing.TB, photos string, opt cache.Options) string {
	tb.Helper()
	src, err := catdata.Scan(photos)
	if err != nil {
		tb.Fatal(err)
	}
	defer src.Close()
	dir := tb.TempDir()
	if _, err := cache.Prepare(src, dir, opt); err != nil {
		tb.Fatal(err)
	}
	return dir
}

// Fixture prepares n photos of the committed fixture, spread over it as fixture.Photos picks
// them, as a cache with opt and returns its folder. It never skips.
func Fixture(tb testing.TB, n int, opt cache.Options) string {
	tb.Helper()
	return Prepare(tb, fixture.Photos(tb, n), opt)
}

// Spread prepares n real photos, spread over the collection as testenv.Photos picks them, as a
// cache with opt and returns its folder. When the photos are absent or fewer than n it fails tb
// with -tags realphotos and skips it without (see testenv).
func Spread(tb testing.TB, n int, opt cache.Options) string {
	tb.Helper()
	return Prepare(tb, testenv.Photos(tb, n), opt)
}
