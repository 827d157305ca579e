package loader

import (
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/catmark/catmark/augment"
	"github.com/catmark/catmark/cache"
	"github.com/catmark/catmark/catdata"
	"github.com/catmark/catmark/imgproc"
	"github.com/catmark/catmark/internal/fixture"
	"github.com/catmark/catmark/landmark"
)

// memSource is a Source held in memory.
type memSource struct {
	size  int
	items []cache.Item
	pix   [][]uint8
}

func (m *memSource) Len() int              { return len(m.items) }
func (m *memSource) Size() int             { return m.size }
func (m *memSource) Item(i int) cache.Item { return m.items[i] }
func (m *memSource) Pixels(i int) []uint8  { return m.pix[i] }

// synthetic returns n random size×size photos with points spread over a 300×200 original.
func synthetic(n, size int) *memSource {
	rng := rand.New(rand.NewPCG(1, 1))
	m := &memSource{size: size}
	for range n {
		p := make([]uint8, size*size*3)
		for i := range p {
			p[i] = uint8(rng.IntN(256))
		}
		var pts landmark.Points
		for k := range pts {
			pts[k] = landmark.Point{X: rng.Float64()*340 - 20, Y: rng.Float64()*240 - 20}
		}
		m.items = append(m.items, cache.Item{Name: "synthetic", Width: 300, Height: 200, Points: pts})
		m.pix = append(m.pix, p)
	}
	return m
}

var (
	photoOnce sync.Once
	photoSrc  *memSource
	photoErr  error
)

// photos returns the committed fixture's photos resized to 96×96, as a cache holds them.
func photos(t testing.TB) *memSource {
	dir := fixture.Dir(t)
	photoOnce.Do(func() {
		src, err := catdata.Scan(dir)
		if err != nil {
			photoErr = err
			return
		}
		m := &memSource{size: 96}
		for i := 0; i < src.Len(); i++ {
			img, pts, err := src.Load(i)
			if err != nil {
				photoErr = err
				return
			}
			m.items = append(m.items, cache.Item{Name: src.Entries[i].Name, Width: img.W, Height: img.H, Points: pts})
			m.pix = append(m.pix, img.Resize(96, 96).Pix)
		}
		photoSrc = m
	})
	if photoErr != nil {
		t.Fatal(photoErr)
	}
	if photoSrc.Len() != fixture.Count {
		t.Fatalf("%s: %d photos, want the fixture's %d", dir, photoSrc.Len(), fixture.Count)
	}
	return photoSrc
}

func seq(n int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	return idx
}

func TestShapes(t *testing.T) {
	src := synthetic(23, 16)
	for _, c := range []struct {
		batch, out int
		drop       bool
		sizes      []int
	}{
		{8, 0, false, []int{8, 8, 7}},
		{8, 0, true, []int{8, 8}},
		{23, 12, false, []int{23}},
		{30, 0, true, nil},
		{1, 0, false, slices.Repeat([]int{1}, 23)},
	} {
		l := New(src, seq(23), Config{Batch: c.batch, DropLast: c.drop, OutSize: c.out, Shuffle: true})
		s := 16
		if c.out != 0 {
			s = c.out
		}
		if l.Size() != s || l.Batches() != len(c.sizes) {
			t.Errorf("batch %d drop %v: Size %d Batches %d, want %d and %d", c.batch, c.drop, l.Size(), l.Batches(), s, len(c.sizes))
		}
		var got []int
		for b := range l.Epoch(0) {
			got = append(got, b.N)
			if b.Size != s || len(b.X) != b.N*3*s*s || len(b.Y) != b.N*18 || len(b.Index) != b.N {
				t.Errorf("batch %d: N %d Size %d: len X %d, Y %d, Index %d", c.batch, b.N, b.Size, len(b.X), len(b.Y), len(b.Index))
			}
			for _, v := range b.Y {
				if v < 0 || v > 1 {
					t.Fatalf("target %v outside [0, 1]", v)
				}
			}
			b.Release()
		}
		if !slices.Equal(got, c.sizes) {
			t.Errorf("batch %d drop %v: batch sizes %v, want %v", c.batch, c.drop, got, c.sizes)
		}
	}
}

func TestNormalisationOfAKnownPixel(t *testing.T) {
	const s = 8
	src := &memSource{size: s, pix: [][]uint8{make([]uint8, s*s*3)}}
	pix := src.pix[0]
	px, py := 2, 5
	copy(pix[(py*s+px)*3:], []uint8{10, 128, 250})
	var pts landmark.Points
	pts[0] = landmark.Point{X: 60, Y: 250}  // 0.2, 0.5 of a 300×500 photo
	pts[1] = landmark.Point{X: -30, Y: 600} // outside: clipped to 0, 1
	src.items = []cache.Item{{Width: 300, Height: 500, Points: pts}}
	for _, c := range []struct {
		name        string
		norm        imgproc.Norm
		want, black [3]float64
	}{
		{"unit", imgproc.Unit, [3]float64{10.0 / 255, 128.0 / 255, 250.0 / 255}, [3]float64{}},
		{"zero means unit", imgproc.Norm{}, [3]float64{10.0 / 255, 128.0 / 255, 250.0 / 255}, [3]float64{}},
		{"imagenet", imgproc.ImageNet,
			[3]float64{(10.0/255 - 0.485) / 0.229, (128.0/255 - 0.456) / 0.224, (250.0/255 - 0.406) / 0.225},
			[3]float64{-0.485 / 0.229, -0.456 / 0.224, -0.406 / 0.225}},
	} {
		l := New(src, []int{0}, Config{Batch: 1, Norm: c.norm})
		for b := range l.Epoch(0) {
			for ch := 0; ch < 3; ch++ {
				got := b.X[ch*s*s+py*s+px]
				if math.Abs(float64(got)-c.want[ch]) > 1e-6 {
					t.Errorf("%s: channel %d = %v, want %v", c.name, ch, got, c.want[ch])
				}
				// A black pixel elsewhere.
				if got := b.X[ch*s*s]; math.Abs(float64(got)-c.black[ch]) > 1e-6 {
					t.Errorf("%s: black pixel channel %d = %v, want %v", c.name, ch, got, c.black[ch])
				}
			}
			wantY := []float32{0.2, 0.5, 0, 1}
			if !slices.Equal(b.Y[:4], wantY) {
				t.Errorf("%s: targets %v, want %v", c.name, b.Y[:4], wantY)
			}
			b.Release()
		}
	}
	// Flipped, the pixel moves to column s−1−px and the clipped left eye becomes the right one.
	l := New(src, []int{0}, Config{Batch: 1, Augment: augment.Config{Flip: true}})
	flips := 0
	for e := range 16 {
		for b := range l.Epoch(e) {
			if b.X[py*s+px] == float32(10.0/255) {
				continue // not flipped this epoch
			}
			flips++
			if got := b.X[py*s+(s-1-px)]; got != float32(10.0/255) {
				t.Errorf("epoch %d: flipped pixel %v, want %v", e, got, float32(10.0/255))
			}
			if want := []float32{1, 1, 0.8, 0.5}; !slices.Equal(b.Y[:4], want) {
				t.Errorf("epoch %d: flipped targets %v, want %v", e, b.Y[:4], want)
			}
		}
	}
	if flips == 0 || flips == 16 {
		t.Errorf("%d flips in 16 epochs", flips)
	}
}

func collect(l *Loader, e int) (x, y []float32, idx []int) {
	for b := range l.Epoch(e) {
		x = append(x, b.X...)
		y = append(y, b.Y...)
		idx = append(idx, b.Index...)
		b.Release()
	}
	return
}

func TestDeterministicAcrossWorkers(t *testing.T) {
	src := photos(t)
	aug := augment.Config{Flip: true, PCA: true, Scale: [2]float64{0.9, 1.1}, Shift: 0.05, Rotate: 10}
	cfg := Config{Batch: 5, Shuffle: true, Augment: aug, Norm: imgproc.ImageNet, Seed: 42, Workers: 1}
	x1, y1, i1 := collect(New(src, seq(src.Len()), cfg), 3)
	for _, w := range []int{2, 3, 7} {
		cfg.Workers = w
		x, y, i := collect(New(src, seq(src.Len()), cfg), 3)
		if !slices.Equal(x, x1) || !slices.Equal(y, y1) || !slices.Equal(i, i1) {
			t.Errorf("%d workers give other batches than 1 worker", w)
		}
	}
	x2, _, i2 := collect(New(src, seq(src.Len()), cfg), 4)
	if slices.Equal(i2, i1) || slices.Equal(x2, x1) {
		t.Errorf("epochs 3 and 4 have the same order or pixels")
	}
	cfg.Seed = 43
	_, _, i3 := collect(New(src, seq(src.Len()), cfg), 3)
	if slices.Equal(i3, i1) {
		t.Errorf("seeds 42 and 43 give the same order")
	}
}

func TestEveryIndexOncePerEpoch(t *testing.T) {
	src := synthetic(50, 4)
	idx := []int{3, 7, 8, 9, 10, 11, 20, 21, 22, 30, 31, 32, 33, 34, 40, 41, 42, 49, 0, 1, 2, 5, 6}
	for _, drop := range []bool{false, true} {
		l := New(src, idx, Config{Batch: 4, Shuffle: true, DropLast: drop, Seed: 1})
		var first []int
		for e := range 3 {
			_, _, got := collect(l, e)
			if e == 0 {
				first = got
			} else if slices.Equal(got, first) {
				t.Errorf("epoch %d has epoch 0's order", e)
			}
			if drop {
				if len(got) != len(idx)/4*4 || len(slices.Compact(slices.Sorted(slices.Values(got)))) != len(got) {
					t.Errorf("drop last, epoch %d: %d samples %v, want %d distinct", e, len(got), got, len(idx)/4*4)
				}
				for _, i := range got {
					if !slices.Contains(idx, i) {
						t.Errorf("index %d is not one of the loader's", i)
					}
				}
				continue
			}
			if !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(idx))) {
				t.Errorf("epoch %d: indices %v, want each of %v once", e, got, idx)
			}
		}
	}
	// Without shuffling the order is idx's.
	_, _, got := collect(New(src, idx, Config{Batch: 5}), 0)
	if !slices.Equal(got, idx) {
		t.Errorf("unshuffled order %v, want %v", got, idx)
	}
}

// The fused fast path gives what augment.Config.Apply and the normalisation give, for the same
// random generator.
func TestMatchesAugmentApply(t *testing.T) {
	src := photos(t)
	for _, c := range []struct {
		name string
		aug  augment.Config
		out  int
	}{
		{"none", augment.Config{}, 0},
		{"flip", augment.Config{Flip: true}, 0},
		{"flip+pca", augment.Config{Flip: true, PCA: true}, 0},
		{"all", augment.Config{Flip: true, PCA: true, Scale: [2]float64{0.8, 1.2}, Shift: 0.1, Rotate: 15}, 0},
		{"all, resized", augment.Config{Flip: true, PCA: true, Scale: [2]float64{0.8, 1.2}, Shift: 0.1, Rotate: 15}, 64},
	} {
		l := New(src, seq(src.Len()), Config{Batch: 7, Shuffle: true, Augment: c.aug, Norm: imgproc.ImageNet, OutSize: c.out, Seed: 5})
		s := l.Size()
		per := 3 * s * s
		const e = 2
		changed := 0
		for b := range l.Epoch(e) {
			for k, i := range b.Index {
				img := &imgproc.RGB{W: src.size, H: src.size, Pix: src.pix[i]}
				if c.out != 0 {
					img = img.Resize(c.out, c.out)
				}
				it := src.items[i]
				want, pts := c.aug.Apply(l.SampleRand(e, i), img, it.Points.NormalizeUnclipped(it.Width, it.Height))
				if !slices.Equal(want.Pix, img.Pix) {
					changed++
				}
				x := b.X[k*per : (k+1)*per]
				for j := 0; j < s*s; j++ {
					for ch := 0; ch < 3; ch++ {
						v := float32((float64(want.Pix[3*j+ch])/255 - imgproc.ImageNet.Mean[ch]) / imgproc.ImageNet.Std[ch])
						if x[ch*s*s+j] != v {
							t.Fatalf("%s: photo %d pixel %d channel %d: %v, augment.Apply gives %v", c.name, i, j, ch, x[ch*s*s+j], v)
						}
					}
				}
				for p, q := range pts.Clip() {
					if b.Y[k*18+2*p] != float32(q.X) || b.Y[k*18+2*p+1] != float32(q.Y) {
						t.Fatalf("%s: photo %d point %d: (%v, %v), augment.Apply gives %v", c.name, i, p, b.Y[k*18+2*p], b.Y[k*18+2*p+1], q)
					}
				}
				// Sample gives the same.
				sx, sy := make([]float32, per), make([]float32, 18)
				l.Sample(e, i, sx, sy)
				if !slices.Equal(sx, x) || !slices.Equal(sy, b.Y[k*18:(k+1)*18]) {
					t.Fatalf("%s: Sample(%d, %d) differs from the epoch's batch", c.name, e, i)
				}
			}
			b.Release()
		}
		if c.aug != (augment.Config{}) && changed < src.Len()/4 {
			t.Errorf("%s: only %d of %d photos changed", c.name, changed, src.Len())
		}
	}
}

func TestBreakStopsWorkers(t *testing.T) {
	before := runtime.NumGoroutine()
	l := New(synthetic(64, 8), seq(64), Config{Batch: 2, Workers: 3})
	n := 0
	for b := range l.Epoch(0) {
		b.Release()
		if n++; n == 2 {
			break
		}
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if g := runtime.NumGoroutine(); g > before {
		t.Errorf("%d goroutines after breaking out of an epoch, %d before", g, before)
	}
}

// Released batches are reused: an epoch allocates far less than a fresh buffer per photo.
func TestReleaseReusesBuffers(t *testing.T) {
	src := synthetic(64, 64)
	l := New(src, seq(64), Config{Batch: 4, Workers: 2, Augment: augment.Config{Flip: true}})
	for b := range l.Epoch(0) { // warm the pool
		b.Release()
	}
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	for b := range l.Epoch(1) {
		b.Release()
	}
	runtime.ReadMemStats(&m1)
	perPhoto := uint64(3 * 64 * 64 * 4)
	if got := m1.TotalAlloc - m0.TotalAlloc; got > 64*perPhoto/4 {
		t.Errorf("an epoch of 64 photos allocated %d bytes; a fresh buffer per photo would be %d", got, 64*perPhoto)
	}
}

func TestReleaseTwicePanics(t *testing.T) {
	l := New(synthetic(2, 4), seq(2), Config{Batch: 2})
	for b := range l.Epoch(0) {
		b.Release()
		defer func() {
			if recover() == nil {
				t.Errorf("second Release did not panic")
			}
		}()
		b.Release()
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []struct {
		cfg Config
		ok  bool
	}{
		{Config{Batch: 1}, true},
		{Config{Batch: 0}, false},
		{Config{Batch: 4, OutSize: -1}, false},
		{Config{Batch: 4, Workers: -2}, false},
		{Config{Batch: 4, Norm: imgproc.Norm{Mean: [3]float64{0.5, 0.5, 0.5}}}, false},
		{Config{Batch: 4, Augment: augment.Config{Shift: 2}}, false},
	} {
		if err := c.cfg.Validate(); (err == nil) != c.ok {
			t.Errorf("%+v: Validate() = %v, want ok=%v", c.cfg, err, c.ok)
		}
	}
	defer func() {
		if recover() == nil {
			t.Errorf("New accepted an index outside the source")
		}
	}()
	New(synthetic(2, 4), []int{0, 2}, Config{Batch: 1})
}

// A Frame hook replaces the photo before augmentation: here a jittered crop of the photo's left
// half, resized to the output size by the loader.
func TestFrameHook(t *testing.T) {
	src := photos(t)
	frame := func(rng *rand.Rand, i int, photo *imgproc.RGB) (*imgproc.RGB, landmark.Points) {
		x0 := rng.IntN(8)
		w := photo.W / 2
		out := imgproc.New(w, photo.H)
		for y := 0; y < photo.H; y++ {
			copy(out.Pix[y*w*3:(y+1)*w*3], photo.Pix[(y*photo.W+x0)*3:])
		}
		it := src.items[i]
		pts := it.Points.NormalizeUnclipped(it.Width, it.Height)
		for k := range pts {
			pts[k].X = (pts[k].X*float64(photo.W) - float64(x0)) / float64(w)
		}
		return out, pts
	}
	aug := augment.Config{Flip: true, PCA: true}
	l := New(src, seq(src.Len()), Config{Batch: 4, Augment: aug, OutSize: 40, Frame: frame, Seed: 3})
	per := 3 * 40 * 40
	for b := range l.Epoch(1) {
		for k, i := range b.Index {
			rng := l.SampleRand(1, i)
			img, pts := frame(rng, i, &imgproc.RGB{W: src.size, H: src.size, Pix: src.pix[i]})
			want, wantPts := aug.Apply(rng, img.Resize(40, 40), pts)
			for j := 0; j < 40*40; j++ {
				for ch := 0; ch < 3; ch++ {
					if got, v := b.X[k*per+ch*1600+j], float32(float64(want.Pix[3*j+ch])/255); got != v {
						t.Fatalf("photo %d pixel %d channel %d: %v, want %v", i, j, ch, got, v)
					}
				}
			}
			for p, q := range wantPts.Clip() {
				if b.Y[k*18+2*p] != float32(q.X) || b.Y[k*18+2*p+1] != float32(q.Y) {
					t.Fatalf("photo %d point %d: (%v, %v), want %v", i, p, b.Y[k*18+2*p], b.Y[k*18+2*p+1], q)
				}
			}
		}
		b.Release()
	}
}
