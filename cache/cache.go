// Package cache writes and reads catmark's packed photo cache: every photo of a Cat Dataset
// source decoded once, resized to a square and stored as raw pixels, beside a JSON manifest of
// names, original sizes, landmarks in original pixels, the train/val split and the skipped
// entries.
//
// A cache is a folder with two files:
//
//	manifest.json  the Manifest
//	pixels.u8      Count×Size×Size×3 bytes: each photo's pixels, rows top to bottom, R,G,B
//	               interleaved (HWC), photos in manifest order
//
// Prepare writes a cache; Open reads one.
package cache

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"

	"github.com/catmark/catmark/landmark"
)

// Version is the manifest format this package writes and reads.
const Version = 1

// File names inside a cache folder.
const (
	ManifestFile = "manifest.json"
	PixelsFile   = "pixels.u8"
)

// DefaultSize is the side of the square photos when Options.Size is zero: the seed's 224.
const DefaultSize = 224

// Item describes one cached photo.
type Item struct {
	Name          string          // the entry's name in its source (slash-separated path)
	Width, Height int             // size of the original photo in pixels
	Points        landmark.Points // landmarks in the original photo's pixels, unclipped
}

// Manifest is the content of manifest.json.
type Manifest struct {
	Version int    `json:"version"`
	Size    int    `json:"size"`   // side of the square photos in pixels
	Count   int    `json:"count"`  // number of photos (len(Items))
	Layout  string `json:"layout"` // "HWC RGB uint8"
	// PixelsCRC32C is the CRC-32 (Castagnoli) of pixels.u8.
	PixelsCRC32C uint32         `json:"pixels_crc32c"`
	Items        []ManifestItem `json:"items"`
	Split        SplitInfo      `json:"split"`
	Skipped      []Skip         `json:"skipped"`
}

// ManifestItem is one photo in the manifest. Points are x0, y0, …, x8, y8 in original pixels.
type ManifestItem struct {
	Name   string    `json:"name"`
	Width  int       `json:"width"`
	Height int       `json:"height"`
	Points []float64 `json:"points"`
}

// SplitInfo records how the photos were split and the result, as indices into Items in
// increasing order.
type SplitInfo struct {
	Method        string  `json:"method"` // "seeded" or "lists"
	TrainFraction float64 `json:"train_fraction,omitempty"`
	Seed          int64   `json:"seed"`
	GroupByPrefix bool    `json:"group_by_prefix"`
	Train         []int   `json:"train"`
	Val           []int   `json:"val"`
}

// Skip is one source entry left out of the cache, and why.
type Skip struct {
	Name   string `json:"name"`
	Reason string `json:"reason"` // a catdata.Reason
	Detail string `json:"detail"`
}

// Cache is an opened cache, held in memory. It is safe for concurrent reads.
type Cache struct {
	dir      string
	manifest Manifest
	items    []Item
	pix      []uint8
	stride   int
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Open reads the cache in dir: its manifest and all its pixels. Errors name the file and say
// what is wrong (missing, unreadable, not a catmark manifest, wrong size, checksum mismatch).
func Open(dir string) (*Cache, error) {
	mpath := filepath.Join(dir, ManifestFile)
	data, err := os.ReadFile(mpath)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("cache: %s: no manifest: is %s a cache written by \"catmark prepare\"?", mpath, dir)
		}
		return nil, fmt.Errorf("cache: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("cache: %s: corrupt manifest: %v", mpath, err)
	}
	if m.Version != Version {
		return nil, fmt.Errorf("cache: %s: manifest version %d, this catmark reads version %d (run \"catmark prepare\" again)", mpath, m.Version, Version)
	}
	if m.Size <= 0 {
		return nil, fmt.Errorf("cache: %s: corrupt manifest: size %d", mpath, m.Size)
	}
	if m.Count != len(m.Items) {
		return nil, fmt.Errorf("cache: %s: corrupt manifest: count %d but %d items", mpath, m.Count, len(m.Items))
	}
	items := make([]Item, len(m.Items))
	for i, it := range m.Items {
		p, err := landmark.FromFlat(it.Points)
		if err != nil {
			return nil, fmt.Errorf("cache: %s: corrupt manifest: item %d (%s): %v", mpath, i, it.Name, err)
		}
		if it.Width <= 0 || it.Height <= 0 {
			return nil, fmt.Errorf("cache: %s: corrupt manifest: item %d (%s): size %d×%d", mpath, i, it.Name, it.Width, it.Height)
		}
		items[i] = Item{Name: it.Name, Width: it.Width, Height: it.Height, Points: p}
	}
	for _, s := range []struct {
		name string
		idx  []int
	}{{"train", m.Split.Train}, {"val", m.Split.Val}} {
		for j, i := range s.idx {
			if i < 0 || i >= m.Count || (j > 0 && i <= s.idx[j-1]) {
				return nil, fmt.Errorf("cache: %s: corrupt manifest: %s split has index %d at position %d (want increasing indices in 0…%d)", mpath, s.name, i, j, m.Count-1)
			}
		}
	}
	ppath := filepath.Join(dir, PixelsFile)
	pix, err := os.ReadFile(ppath)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("cache: %s: pixel file missing (the manifest lists %d photos)", ppath, m.Count)
		}
		return nil, fmt.Errorf("cache: %w", err)
	}
	stride := m.Size * m.Size * 3
	if want := int64(m.Count) * int64(stride); int64(len(pix)) != want {
		return nil, fmt.Errorf("cache: %s: %d bytes, want %d (%d photos of %d×%d×3): truncated or from another cache", ppath, len(pix), want, m.Count, m.Size, m.Size)
	}
	if sum := crc32.Checksum(pix, castagnoli); sum != m.PixelsCRC32C {
		return nil, fmt.Errorf("cache: %s: checksum %08x, manifest says %08x: the pixel file is corrupt or from another cache", ppath, sum, m.PixelsCRC32C)
	}
	return &Cache{dir: dir, manifest: m, items: items, pix: pix, stride: stride}, nil
}

// Dir returns the folder the cache was opened from.
func (c *Cache) Dir() string { return c.dir }

// Len returns the number of photos.
func (c *Cache) Len() int { return len(c.items) }

// Size returns the side of the square photos in pixels.
func (c *Cache) Size() int { return c.manifest.Size }

// Item returns the description of photo i.
func (c *Cache) Item(i int) Item { return c.items[i] }

// Pixels returns photo i as Size×Size×3 bytes, HWC, R,G,B. The slice is a view into the cache:
// do not modify it.
func (c *Cache) Pixels(i int) []uint8 {
	return c.pix[i*c.stride : (i+1)*c.stride : (i+1)*c.stride]
}

// Split returns the photo indices of a split, in increasing order: "train", "val", or "all".
// The returned slice is a copy.
func (c *Cache) Split(name string) ([]int, error) {
	switch name {
	case "train":
		return append([]int(nil), c.manifest.Split.Train...), nil
	case "val":
		return append([]int(nil), c.manifest.Split.Val...), nil
	case "all":
		all := make([]int, c.Len())
		for i := range all {
			all[i] = i
		}
		return all, nil
	}
	return nil, fmt.Errorf("cache: unknown split %q (want train, val or all)", name)
}

// Manifest returns the cache's manifest. Its slices are shared: do not modify them.
func (c *Cache) Manifest() *Manifest { return &c.manifest }

// Skipped returns the source entries that prepare left out, and why.
func (c *Cache) Skipped() []Skip { return c.manifest.Skipped }
