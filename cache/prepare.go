package cache

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/catmark/catmark/catdata"
	"github.com/catmark/catmark/internal/atomicfile"
	"github.com/catmark/catmark/landmark"
)

// DefaultTrainFraction is the share of photos in the train split when Options.TrainFraction
// is zero: the seed's 7:3.
const DefaultTrainFraction = 0.7

// Options controls Prepare. The zero value asks for the defaults.
type Options struct {
	Size int // side of the square photos in pixels; 0 means DefaultSize

	// The split. Without lists, a seeded split puts round(TrainFraction×kept) photos in train
	// (with GroupByPrefix, whole groups, so it may overshoot by less than a group) and the rest
	// in val; the same photos, fraction and seed give the same split on any machine.
	TrainFraction float64 // share of photos in train, in (0, 1]; 0 means DefaultTrainFraction
	Seed          int64
	GroupByPrefix bool // keep photos that share the 8-digit ID prefix ("00000001" of 00000001_000.jpg) on one side

	// TrainList and ValList give the split by name instead (the entry's name or its file name,
	// e.g. "CAT_00/00000001_000.jpg" or "00000001_000.jpg"). With only one of them, the other
	// split is every other photo; with both, photos in neither are left out of both.
	TrainList, ValList []string

	Workers  int       // decoding goroutines; 0 means GOMAXPROCS
	Progress io.Writer // where the progress bar goes (os.Stderr in the command); nil means none
}

// Summary reports what Prepare did, or what an opened cache holds.
type Summary struct {
	Size          int
	Kept          int
	Skipped       []Skip // sorted by name
	OutsidePhotos int    // photos with at least one landmark outside the frame
	OutsidePoints int    // landmarks outside the frame, over all photos
	Train, Val    int
	Unassigned    int // photos in neither split (explicit lists only)
	// SharedPrefixes counts the 8-digit ID prefixes that have photos in both train and val:
	// 0 whenever GroupByPrefix was set.
	SharedPrefixes int
	// UnknownNames are names in the train or val lists that match no kept photo (bad entries,
	// typing mistakes), sorted.
	UnknownNames []string
}

// result is one decoded entry, or why it failed.
type result struct {
	i      int
	pix    []uint8
	w, h   int
	points landmark.Points
	err    error
}

// Prepare decodes every photo of src once, in parallel, resizes it to a Size×Size square with
// Pillow's bilinear filter (the aspect ratio is not kept, as in the seed) and writes a cache to
// dir, creating dir if needed. Bad entries, those Scan found and those Load finds, are skipped
// and listed with their reasons in the manifest and the Summary. The cache's content depends
// only on the source and the options: running Prepare again on the same input writes the same
// bytes, whatever the scheduling of the workers. Each file is written to a temporary file and
// renamed into place.
func Prepare(src *catdata.Source, dir string, opt Options) (*Summary, error) {
	if opt.Size == 0 {
		opt.Size = DefaultSize
	}
	if opt.Size < 1 || opt.Size > 4096 {
		return nil, fmt.Errorf("cache: size %d out of range 1…4096", opt.Size)
	}
	if opt.TrainFraction == 0 {
		opt.TrainFraction = DefaultTrainFraction
	}
	if !(opt.TrainFraction > 0 && opt.TrainFraction <= 1) {
		return nil, fmt.Errorf("cache: train fraction %v out of range (0, 1]", opt.TrainFraction)
	}
	workers := opt.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".pixels-*.tmp")
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	defer tmp.Close()

	n := src.Len()
	var bar *progressbar.ProgressBar
	if opt.Progress != nil {
		bar = progressbar.NewOptions(n,
			progressbar.OptionSetWriter(opt.Progress),
			progressbar.OptionSetDescription("decoding photos"),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("photos"),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(opt.Progress) }),
		)
	}

	// Workers take indices in order; the writer below puts results back in order. At most
	// window results are decoded ahead of the writer, which bounds memory.
	window := 4 * workers
	jobs := make(chan int)
	results := make(chan result, window)
	tokens := make(chan struct{}, window)
	done := make(chan struct{})
	go func() {
		defer close(jobs)
		for i := 0; i < n; i++ {
			select {
			case tokens <- struct{}{}:
			case <-done:
				return
			}
			select {
			case jobs <- i:
			case <-done:
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				results <- load(src, i, opt.Size)
			}
		}()
	}
	go func() { wg.Wait(); close(results) }()
	defer func() {
		close(done)
		for range results { // let the workers finish
		}
	}()

	crc := crc32.New(castagnoli)
	bw := bufio.NewWriterSize(io.MultiWriter(tmp, crc), 1<<20)
	m := Manifest{Version: Version, Size: opt.Size, Layout: "HWC RGB uint8", Items: []ManifestItem{}, Skipped: []Skip{}}
	for _, p := range src.Problems {
		m.Skipped = append(m.Skipped, skipOf(&p))
	}
	pending := map[int]result{}
	next := 0
	for next < n {
		r, ok := pending[next]
		if !ok {
			r, ok = <-results
			if !ok {
				return nil, errors.New("cache: internal error: workers stopped early")
			}
			if r.i != next {
				pending[r.i] = r
				continue
			}
		}
		delete(pending, next)
		next++
		<-tokens
		if bar != nil {
			bar.Add(1)
		}
		if r.err != nil {
			var p *catdata.Problem
			if !errors.As(r.err, &p) {
				p = &catdata.Problem{Name: src.Entries[r.i].Name, Reason: catdata.Unreadable, Err: r.err}
			}
			m.Skipped = append(m.Skipped, skipOf(p))
			continue
		}
		if _, err := bw.Write(r.pix); err != nil {
			return nil, fmt.Errorf("cache: writing %s: %w", tmp.Name(), err)
		}
		m.Items = append(m.Items, ManifestItem{Name: src.Entries[r.i].Name, Width: r.w, Height: r.h, Points: r.points.Flat()})
	}
	if err := bw.Flush(); err != nil {
		return nil, fmt.Errorf("cache: writing %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		return nil, fmt.Errorf("cache: writing %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("cache: writing %s: %w", tmp.Name(), err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	m.Count = len(m.Items)
	m.PixelsCRC32C = crc.Sum32()
	sort.SliceStable(m.Skipped, func(i, j int) bool { return m.Skipped[i].Name < m.Skipped[j].Name })

	names := make([]string, len(m.Items))
	for i, it := range m.Items {
		names[i] = it.Name
	}
	split, unknown, err := makeSplit(names, opt)
	if err != nil {
		return nil, err
	}
	m.Split = split

	if err := os.Rename(tmp.Name(), filepath.Join(dir, PixelsFile)); err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	data, err := json.Marshal(&m)
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, ManifestFile), append(data, '\n')); err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	s := summarize(&m)
	s.UnknownNames = unknown
	return s, nil
}

// load decodes and resizes entry i.
func load(src *catdata.Source, i, size int) result {
	img, pts, err := src.Load(i)
	if err != nil {
		return result{i: i, err: err}
	}
	small := img.Resize(size, size)
	return result{i: i, pix: small.Pix, w: img.W, h: img.H, points: pts}
}

func skipOf(p *catdata.Problem) Skip {
	detail := ""
	if p.Err != nil {
		detail = p.Err.Error()
	}
	return Skip{Name: p.Name, Reason: string(p.Reason), Detail: detail}
}

// summarize computes a Summary from a manifest.
func summarize(m *Manifest) *Summary {
	s := &Summary{Size: m.Size, Kept: m.Count, Skipped: m.Skipped, Train: len(m.Split.Train), Val: len(m.Split.Val)}
	for _, it := range m.Items {
		p, err := landmark.FromFlat(it.Points)
		if err != nil {
			continue
		}
		if k := p.Outside(it.Width, it.Height); k > 0 {
			s.OutsidePhotos++
			s.OutsidePoints += k
		}
	}
	inSplit := make([]bool, m.Count)
	side := map[string]int{} // prefix → bit 1 train, bit 2 val
	for bit, idx := range [][]int{m.Split.Train, m.Split.Val} {
		for _, i := range idx {
			if i >= 0 && i < m.Count {
				inSplit[i] = true
				if pre, ok := Prefix(m.Items[i].Name); ok {
					side[pre] |= 1 << bit
				}
			}
		}
	}
	for _, in := range inSplit {
		if !in {
			s.Unassigned++
		}
	}
	for _, v := range side {
		if v == 3 {
			s.SharedPrefixes++
		}
	}
	return s
}

// Summary returns the summary of what the cache holds, as Prepare reported it (without the
// unknown list names, which the manifest does not keep).
func (c *Cache) Summary() *Summary { return summarize(&c.manifest) }
