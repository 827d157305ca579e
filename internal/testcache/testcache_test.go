package testcache

import (
	"path"
	"slices"
	"testing"

	"github.com/catmark/catmark/cache"
	"github.com/catmark/catmark/catdata"
	"github.com/catmark/catmark/internal/testenv"
)

func TestSpreadPreparesThePickedPhotos(t *testing.T) {
	photos := testenv.Photos(t, 5)
	src, err := catdata.Scan(photos)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, e := range src.Entries {
		want = append(want, path.Base(e.Name))
	}
	src.Close()

	c, err := cache.Open(Spread(t, 5, cache.Options{Size: 24, Seed: 1}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Size() != 24 {
		t.Errorf("cache size %d, want 24", c.Size())
	}
	var got []string
	for i := range c.Len() {
		got = append(got, path.Base(c.Item(i).Name))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("cache holds %v, want the photos testenv.Photos picks, %v", got, want)
	}
}
