// Package loader turns cached photos into training batches: it picks the epoch's order, augments
// every photo (package augment), normalises its pixels and packs them, with the landmarks, into
// float32 batches, in background goroutines.
//
// Batches are deterministic: a photo's augmentation depends only on the seed, the epoch and the
// photo's cache index (each sample has its own random generator), and the order only on the seed
// and the epoch, so the same configuration gives the same batches whatever the number of workers.
//
// Sample layout: X is N×3×S×S (NCHW, channels R, G, B, rows top to bottom), each value
// (v/255 − Mean[c]) / Std[c] for the augmented 8-bit value v; Y is N×18, the landmarks
// (x0, y0, …, x8, y8) normalised to the output image (x/w, y/h of the original photo, then mapped by
// the augmentation) and clipped to [0, 1], as the seed trains on them.
package loader

import (
	"fmt"
	"iter"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/catmark/catmark/augment"
	"github.com/catmark/catmark/cache"
	"github.com/catmark/catmark/imgproc"
	"github.com/catmark/catmark/landmark"
)

// Source is what a Loader reads photos from; *cache.Cache is one.
type Source interface {
	Len() int
	Size() int             // side of the square photos
	Item(i int) cache.Item // original size and landmarks in the original pixels
	Pixels(i int) []uint8  // Size×Size×3 bytes, HWC RGB; read only
}

// Config configures a Loader.
type Config struct {
	Batch    int            // photos per batch (≥ 1)
	Shuffle  bool           // a new seeded order every epoch; otherwise idx's order
	DropLast bool           // leave out a last batch smaller than Batch
	Augment  augment.Config // the zero value means none
	Norm     imgproc.Norm   // the zero value means imgproc.Unit
	OutSize  int            // side of the output images; 0 means the source's size
	Workers  int            // goroutines preparing samples; 0 means GOMAXPROCS
	Seed     int64
	// Frame, when set, replaces each cached photo by a region of it before augmentation: given
	// the sample's random generator, the photo's index and the cached photo, it returns the image
	// to use (any size; it is resized to the output size) and the landmarks normalised to that
	// image (unclipped). It draws from the generator before the augmentation does, and is called
	// from several goroutines at once. catmark's crop stage cuts jittered face crops with it.
	Frame func(rng *rand.Rand, i int, photo *imgproc.RGB) (*imgproc.RGB, landmark.Points)
}

// Validate reports an impossible setting.
func (c Config) Validate() error {
	if c.Batch < 1 {
		return fmt.Errorf("loader: batch size %d, want at least 1", c.Batch)
	}
	if c.OutSize < 0 {
		return fmt.Errorf("loader: output size %d is negative", c.OutSize)
	}
	if c.Workers < 0 {
		return fmt.Errorf("loader: %d workers", c.Workers)
	}
	if err := c.Norm.Validate(); err != nil {
		return fmt.Errorf("loader: %w", err)
	}
	return c.Augment.Validate()
}

// Batch is one batch of samples. Its slices belong to the loader's pool once Release is called.
type Batch struct {
	N     int       // number of samples
	Size  int       // side S of the images
	X     []float32 // N×3×S×S, NCHW
	Y     []float32 // N×18, normalised and clipped to [0, 1]
	Index []int     // the samples' indices in the Source

	pool     chan *Batch
	pending  atomic.Int32 // chunks still being filled
	released bool
}

// Release hands the batch's buffers back to its loader for reuse: after it the batch and its
// slices must not be used. Releasing is optional (an unreleased batch is garbage collected) but
// keeps a training loop from allocating a new batch every step.
func (b *Batch) Release() {
	if b.released {
		panic("loader: batch released twice")
	}
	b.released = true
	select {
	case b.pool <- b:
	default:
	}
}

// Loader produces batches from a Source. Its methods may be called from several goroutines, and
// several epochs may be iterated at once.
type Loader struct {
	src     Source
	idx     []int
	cfg     Config
	in, out int // source and output side
	workers int
	pool    chan *Batch
}

// New returns a loader over the photos idx of src (repetitions allowed). It panics if cfg is
// invalid (see Config.Validate) or an index is out of range.
func New(src Source, idx []int, cfg Config) *Loader {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	for j, i := range idx {
		if i < 0 || i >= src.Len() {
			panic(fmt.Sprintf("loader: index %d at position %d is outside the source's %d photos", i, j, src.Len()))
		}
	}
	l := &Loader{src: src, idx: append([]int(nil), idx...), cfg: cfg, in: src.Size(), out: cfg.OutSize}
	if l.out == 0 {
		l.out = l.in
	}
	l.workers = cfg.Workers
	if l.workers == 0 {
		l.workers = runtime.GOMAXPROCS(0)
	}
	l.pool = make(chan *Batch, 2*l.workers+4)
	return l
}

// Len returns the number of samples per epoch, DropLast applied.
func (l *Loader) Len() int {
	if l.cfg.DropLast {
		return len(l.idx) / l.cfg.Batch * l.cfg.Batch
	}
	return len(l.idx)
}

// Batches returns the number of batches per epoch.
func (l *Loader) Batches() int {
	return (l.Len() + l.cfg.Batch - 1) / l.cfg.Batch
}

// Size returns the side of the output images.
func (l *Loader) Size() int { return l.out }

// Order returns epoch e's sample order: source indices, shuffled when Config.Shuffle, before
// DropLast cuts the tail.
func (l *Loader) Order(e int) []int {
	order := append([]int(nil), l.idx...)
	if l.cfg.Shuffle {
		rng := rand.New(rand.NewPCG(mix(uint64(l.cfg.Seed)), mix(uint64(e))^0x5eed5eed5eed5eed))
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	}
	return order
}

// mix is SplitMix64's finaliser: a bijection that scatters nearby seeds.
func mix(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// chunk is the number of samples one worker prepares at a time; a batch is split into chunks so
// that all workers help even when an epoch has a single batch.
const chunk = 8

type job struct {
	b      *Batch
	lo, hi int // samples of b
	slot   chan *Batch
}

// Epoch returns the batches of epoch e in order, prepared ahead by background goroutines:
//
//	for b := range l.Epoch(e) {
//		… use b.X, b.Y …
//		b.Release()
//	}
//
// Breaking out of the loop stops the goroutines. Besides the batches the caller holds, at most
// max(2, min(Workers+1, ⌈Workers·8/Batch⌉+1)) are in preparation, so memory stays bounded:
// a batch takes Batch·3·S²·4 bytes (19 MB for 32 photos at 224). A batch stays valid until the
// caller releases it; the caller may keep several, or all of an epoch's.
func (l *Loader) Epoch(e int) iter.Seq[*Batch] {
	return func(yield func(*Batch) bool) {
		order := l.Order(e)[:l.Len()]
		nb := l.Batches()
		if nb == 0 {
			return
		}
		// Batches in flight besides those the caller holds: enough for every worker to have a
		// chunk, and at least two so that one fills while the caller uses the other.
		depth := max(2, min(l.workers+1, (l.workers*chunk+l.cfg.Batch-1)/l.cfg.Batch+1))
		done := make(chan struct{})
		tokens := make(chan struct{}, depth)
		jobs := make(chan job, 4*l.workers)
		slots := make([]chan *Batch, nb)
		for i := range slots {
			slots[i] = make(chan *Batch, 1)
		}
		go func() { // dispatcher: batch by batch, at most depth ahead of the caller
			defer close(jobs)
			for bi := 0; bi < nb; bi++ {
				select {
				case tokens <- struct{}{}:
				case <-done:
					return
				}
				lo := bi * l.cfg.Batch
				hi := min(lo+l.cfg.Batch, len(order))
				b := l.get(order[lo:hi])
				b.pending.Store(int32((b.N + chunk - 1) / chunk))
				for c := 0; c < b.N; c += chunk {
					select {
					case jobs <- job{b, c, min(c+chunk, b.N), slots[bi]}:
					case <-done:
						return
					}
				}
			}
		}()
		var wg sync.WaitGroup
		for range l.workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				w := newWorker(l, e)
				for j := range jobs {
					for s := j.lo; s < j.hi; s++ {
						w.sample(j.b, s)
					}
					if j.b.pending.Add(-1) == 0 {
						j.slot <- j.b
					}
				}
			}()
		}
		defer func() {
			close(done)
			for range jobs { // unblock and finish the workers
			}
			wg.Wait()
		}()
		for bi := 0; bi < nb; bi++ {
			b := <-slots[bi]
			<-tokens
			if !yield(b) {
				return
			}
		}
	}
}

// get returns a batch for the given source indices, recycled when one is free.
func (l *Loader) get(idx []int) *Batch {
	var b *Batch
	select {
	case b = <-l.pool:
		b.released = false
	default:
		per := 3 * l.out * l.out
		b = &Batch{
			X:     make([]float32, 0, l.cfg.Batch*per),
			Y:     make([]float32, 0, l.cfg.Batch*landmark.Dim),
			Index: make([]int, 0, l.cfg.Batch),
			pool:  l.pool,
		}
	}
	b.N, b.Size = len(idx), l.out
	b.X = b.X[:b.N*3*l.out*l.out]
	b.Y = b.Y[:b.N*landmark.Dim]
	b.Index = append(b.Index[:0], idx...)
	return b
}

// worker holds one goroutine's scratch state.
type worker struct {
	l      *Loader
	epoch  uint64
	pcg    *rand.PCG
	rng    *rand.Rand
	src    imgproc.RGB
	warped *imgproc.RGB
}

func newWorker(l *Loader, e int) *worker {
	pcg := rand.NewPCG(0, 0)
	return &worker{l: l, epoch: mix(uint64(e)), pcg: pcg, rng: rand.New(pcg), warped: imgproc.New(l.out, l.out)}
}

// sample prepares sample s of b.
func (w *worker) sample(b *Batch, s int) {
	l := w.l
	i := b.Index[s]
	per := 3 * l.out * l.out
	w.pcg.Seed(mix(uint64(l.cfg.Seed)), mix(w.epoch^uint64(i)))
	x, y := b.X[s*per:(s+1)*per], b.Y[s*landmark.Dim:(s+1)*landmark.Dim]
	ySample(y, l.render(x, i, w.rng, &w.src, w.warped))
}

// SampleRand returns the random generator the loader uses for photo i of the source in epoch e,
// in its initial state: Frame (if set), then augment.Config.Apply on the sample's picture, both
// drawing from it, give the sample's pixels and points.
func (l *Loader) SampleRand(e, i int) *rand.Rand {
	return rand.New(rand.NewPCG(mix(uint64(l.cfg.Seed)), mix(mix(uint64(e))^uint64(i))))
}

// Sample prepares photo i of the source as the loader's epoch e would, into x (3×S×S) and y (18).
// It allocates scratch space; Epoch is the fast way to go through many photos.
func (l *Loader) Sample(e, i int, x, y []float32) {
	w := newWorker(l, e)
	w.pcg.Seed(mix(uint64(l.cfg.Seed)), mix(w.epoch^uint64(i)))
	ySample(y[:landmark.Dim], l.render(x[:3*l.out*l.out], i, w.rng, &w.src, w.warped))
}

func ySample(y []float32, pts landmark.Points) {
	for k, p := range pts.Clip() {
		y[2*k], y[2*k+1] = float32(p.X), float32(p.Y)
	}
}

// render writes photo i, augmented with rng, to x and returns its normalised, unclipped points.
// It is augment.Config.Apply on the photo resized to the output size, fused with the conversion to
// float32: src is a scratch header, warped a scratch output-size image.
func (l *Loader) render(x []float32, i int, rng *rand.Rand, src *imgproc.RGB, warped *imgproc.RGB) landmark.Points {
	*src = imgproc.RGB{W: l.in, H: l.in, Pix: l.src.Pixels(i)}
	img := src
	var pts landmark.Points
	if l.cfg.Frame != nil {
		img, pts = l.cfg.Frame(rng, i, src)
	} else {
		it := l.src.Item(i)
		pts = it.Points.NormalizeUnclipped(it.Width, it.Height)
	}
	if img.W != l.out || img.H != l.out {
		img = img.Resize(l.out, l.out)
	}
	plan := l.cfg.Augment.Draw(rng, img)
	pts = plan.Points(pts)
	flip := plan.Flip
	if plan.Warped {
		augment.Warp(warped, img, plan.Geometry())
		img, flip = warped, false
	}
	t := l.cfg.Norm.Table(plan.Color)
	toCHW(x, img, flip, &t)
	return pts
}

// toCHW writes img through the tables t into x (3×H×W planes), mirrored when flip.
func toCHW(x []float32, img *imgproc.RGB, flip bool, t *[3][256]float32) {
	w, h := img.W, img.H
	plane := w * h
	r, g, b := x[:plane], x[plane:2*plane], x[2*plane:3*plane]
	for j := 0; j < h; j++ {
		row := img.Pix[j*w*3 : (j+1)*w*3]
		ro, go_, bo := r[j*w:(j+1)*w], g[j*w:(j+1)*w], b[j*w:(j+1)*w]
		if flip {
			for i := 0; i < w; i++ {
				p := row[3*(w-1-i) : 3*(w-1-i)+3 : 3*(w-1-i)+3]
				ro[i], go_[i], bo[i] = t[0][p[0]], t[1][p[1]], t[2][p[2]]
			}
			continue
		}
		for i := 0; i < w; i++ {
			p := row[3*i : 3*i+3 : 3*i+3]
			ro[i], go_[i], bo[i] = t[0][p[0]], t[1][p[1]], t[2][p[2]]
		}
	}
}
