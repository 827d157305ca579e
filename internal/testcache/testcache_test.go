package testcache

import (
	"path"
	"slices"
	"testing"

	"github.com/catmark/catmark/cache"
	"github.com/catmark/catmark/catdata"
	"github.com/catmark/catmark/internal/fixture"
)

// checkHolds checks that the cache in the folder dir holds exactly the photos of the folder
// photos, at size.
func checkHolds(t *testing.T, dir, photos string, size int) {
	t.Helper()
	src, err := catdata.Scan(photos)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, e := range src.Entries {
		want = append(want, path.Base(e.Name))
	}
	src.Close()

	c, err := cache.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if c.Size() != size {
		t.Errorf("cache size %d, want %d", c.Size(), size)
	}
	var got []string
	for i := range c.Len() {
		got = append(got, path.Base(c.Item(i).Name))
	}
	slices.Sort(got)
	slices.Sort(want)
	if len(want) == 0 || !slices.Equal(got, want) {
		t.Errorf("cache holds %v, want the picked photos, %v", got, want)
	}
}

func TestFixturePreparesThePickedPhotos(t *testing.T) {
	checkHolds(t, Fixture(t, 6, cache.Options{Size: 24, Seed: 1}), fixture.Photos(t, 6), 24)
}
