package loader

import (
	"os"
	"testing"
	"time"

	"github.com/catmark/catmark/augment"
	"github.com/catmark/catmark/cache"
	"github.com/catmark/catmark/catdata"
	"github.com/catmark/catmark/imgproc"
	"github.com/catmark/catmark/internal/testenv"
)

// benchCache opens the cache named by $CATMARK_CACHE, or prepares one at 224 from the real photos
// in a temporary folder. It skips when neither is there (see testenv).
func benchCache(b *testing.B) *cache.Cache {
	if dir := os.Getenv("CATMARK_CACHE"); dir != "" {
		c, err := cache.Open(dir)
		if err != nil {
			b.Fatal(err)
		}
		return c
	}
	src, err := catdata.Scan(testenv.CatsDir(b))
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	dir := b.TempDir()
	start := time.Now()
	if _, err := cache.Prepare(src, dir, cache.Options{Size: 224}); err != nil {
		b.Fatal(err)
	}
	b.Logf("prepared a 224 cache of %d photos in %v (set CATMARK_CACHE to reuse one)", src.Len(), time.Since(start).Round(time.Millisecond))
	c, err := cache.Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// BenchmarkLoader measures epochs over the whole cache, batch 32, imgproc.ImageNet normalisation, with
// the default number of workers; photos/s is the figure to compare.
func BenchmarkLoader(b *testing.B) {
	c := benchCache(b)
	idx, _ := c.Split("all")
	for _, bc := range []struct {
		name string
		aug  augment.Config
	}{
		{"none", augment.Config{}},
		{"flip", augment.Config{Flip: true}},
		{"flip+pca", augment.Config{Flip: true, PCA: true}},
		{"flip+pca+similarity", augment.Config{Flip: true, PCA: true, Scale: [2]float64{0.9, 1.1}, Shift: 0.05, Rotate: 10}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			l := New(c, idx, Config{Batch: 32, Shuffle: true, Augment: bc.aug, Norm: imgproc.ImageNet, Seed: 1})
			photos, e := 0, 0
			start := time.Now()
			for b.Loop() {
				for batch := range l.Epoch(e) {
					photos += batch.N
					batch.Release()
				}
				e++
			}
			b.ReportMetric(float64(photos)/time.Since(start).Seconds(), "photos/s")
		})
	}
}
