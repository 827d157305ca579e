package evaluate

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/catmark/catmark/cache"
	"github.com/catmark/catmark/catdata"
	"github.com/catmark/catmark/imgproc"
)

// CacheSet is the photos idx of a prepared cache, as the cache holds them: Size×Size squares
// with the original photos' sizes and landmarks.
type CacheSet struct {
	C   *cache.Cache
	Idx []int
}

// NewCacheSet returns the photos of a split of c ("train", "val" or "all").
func NewCacheSet(c *cache.Cache, split string) (*CacheSet, error) {
	idx, err := c.Split(split)
	if err != nil {
		return nil, fmt.Errorf("evaluate: %s: %w", c.Dir(), err)
	}
	return &CacheSet{C: c, Idx: idx}, nil
}

// Len returns the number of photos.
func (s *CacheSet) Len() int { return len(s.Idx) }

// Photo returns photo i of the set (cache photo Idx[i]); its image shares the cache's memory.
func (s *CacheSet) Photo(i int) (Photo, error) {
	j := s.Idx[i]
	it := s.C.Item(j)
	img := &imgproc.RGB{W: s.C.Size(), H: s.C.Size(), Pix: s.C.Pixels(j)}
	return Photo{Name: it.Name, Img: img, W: it.Width, H: it.Height, Truth: it.Points}, nil
}

// FolderSet is every photo of a scanned Cat Dataset source, decoded at its own size.
type FolderSet struct {
	Src *catdata.Source
	// Oriented shows each photo as its EXIF orientation says, the frame catmark predict and
	// serve give the detector by default, with its truth mapped into that frame
	// (catdata.Source.LoadOriented); false keeps the stored pixel grid the annotations are in.
	Oriented bool
}

// Len returns the number of photos.
func (s *FolderSet) Len() int { return s.Src.Len() }

// Photo decodes photo i; a bad photo or annotation returns the *catdata.Problem naming it.
func (s *FolderSet) Photo(i int) (Photo, error) {
	img, pts, err := s.Src.Load(i)
	if s.Oriented {
		img, pts, _, err = s.Src.LoadOriented(i)
	}
	if err != nil {
		return Photo{}, err
	}
	return Photo{Name: s.Src.Entries[i].Name, Img: img, W: img.W, H: img.H, Truth: pts}, nil
}

// Data is a Set opened from a path by OpenData, with what it is.
type Data struct {
	Set
	Path  string
	Kind  string // "cache" or "photo folder"
	Split string // the cache's split; "all" for a folder
	// Problems are the folder's entries that Scan found bad (orphans, duplicates, unreadable
	// files), each naming the entry and the reason; Run reports the photos that fail to decode.
	Problems []string
	src      *catdata.Source
}

// OpenData opens path for evaluation: a prepared cache (its split: "train", "val" or "all"; ""
// means "val"), or a folder or zip of photos with .cat annotations (all of them; split must be
// "" or "all").
func OpenData(path, split string) (*Data, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("evaluate: data %s: %w", path, err)
	}
	if _, err := os.Stat(filepath.Join(path, cache.ManifestFile)); err == nil {
		if split == "" {
			split = "val"
		}
		c, err := cache.Open(path)
		if err != nil {
			return nil, err
		}
		set, err := NewCacheSet(c, split)
		if err != nil {
			return nil, err
		}
		return &Data{Set: set, Path: path, Kind: "cache", Split: split}, nil
	}
	if split != "" && split != "all" {
		return nil, fmt.Errorf("evaluate: %s is a photo folder, not a prepared cache: it has no %q split (every photo is measured)", path, split)
	}
	src, err := catdata.Scan(path)
	if err != nil {
		return nil, err
	}
	if src.Len() == 0 {
		src.Close()
		return nil, fmt.Errorf("evaluate: %s holds no photos with annotations (NAME.jpg beside NAME.jpg.cat) and is not a prepared cache", path)
	}
	d := &Data{Set: &FolderSet{Src: src}, Path: path, Kind: "photo folder", Split: "all", src: src}
	for _, p := range src.Problems {
		d.Problems = append(d.Problems, p.Error())
	}
	return d, nil
}

// Orient sets whether a photo folder's photos are shown as their EXIF orientation says, with
// their truth mapped along (FolderSet.Oriented). A prepared cache holds its photos in their
// stored pixel grid, as catmark prepare decoded them, and is left as it is.
func (d *Data) Orient(on bool) {
	if f, ok := d.Set.(*FolderSet); ok {
		f.Oriented = on
	}
}

// Close releases the files a folder or zip source holds open.
func (d *Data) Close() error {
	if d.src != nil {
		return d.src.Close()
	}
	return nil
}
