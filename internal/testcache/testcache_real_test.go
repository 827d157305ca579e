//go:build realphotos

package testcache

import (
	"testing"

	"github.com/catmark/catmark/cache"
	"github.com/catmark/catmark/internal/testenv"
)

func TestSpreadPreparesThePickedPhotos(t *testing.T) {
	checkHolds(t, Spread(t, 5, cache.Options{Size: 24, Seed: 1}), testenv.Photos(t, 5), 24)
}
