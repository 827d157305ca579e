package train

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/schollz/progressbar/v3"
	"iter"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"

	"github.com/catmark/catmark/augment"
	"github.com/catmark/catmark/cache"
	"github.com/catmark/catmark/imgproc"
	"github.com/catmark/catmark/landmark"
	"github.com/catmark/catmark/loss"
	"github.com/catmark/catmark/model"
)

// A centers run (Config.Stage model.Centers) trains the first stage that finds every face at
// once. Its training pictures are made on the fly from the training split only (augment.Scene:
// turned by any angle, faces from MinFace of the side up, several cats pasted together, pictures
// with none); its validation looks at the val photos letterboxed as the detector sees them, and
// at the same photos turned by 45°.

// Defaults of a centers run's scenes (Config.Multi, Config.Empty, Config.MinFace).
const (
	DefaultCentersMulti   = 0.3
	DefaultCentersEmpty   = 0.1
	DefaultCentersMinFace = 1.0 / 12
	centersMaxFace        = 0.9
	centersMaxCats        = 4
)

// Validation of a centers run: a val face counts as found when a candidate with a presence of at
// least centersThreshold has its centre within centersMatch of the face's size from the true
// centre.
const (
	centersThreshold = 0.3
	centersMatch     = 0.25
	centersMaxFaces  = 10
)

// CentersReport is a centers run's validation: on the val photos as they are and turned by 45°,
// the share of faces found (Recall) and the mean angle error of the found ones in degrees (180
// when none is found).
type CentersReport struct {
	Recall     float64 `json:"recall"`
	AngleErr   float64 `json:"angle_err"`
	Recall45   float64 `json:"recall_45"`
	AngleErr45 float64 `json:"angle_err_45"`
	Faces      int     `json:"faces"`
}

// Score is what a centers run keeps its best checkpoint by, lower being better: the missed shares
// of both views plus their angle errors over 180°.
func (r CentersReport) Score() float64 {
	return (1 - r.Recall) + (1 - r.Recall45) + (r.AngleErr+r.AngleErr45)/180
}

// centersData makes a centers run's batches from its cache.
type centersData struct {
	data  *cache.Cache
	cfg   Config
	scene augment.Scene
	norm  imgproc.Norm
	train []int // the photos scenes are made of (the training split)
	g     int   // cells per side of the output maps
}

func newCentersData(data *cache.Cache, cfg Config, trainIdx []int) *centersData {
	norm, _ := imgproc.NormNamed(cfg.Norm) // Config.Validate checked the name
	return &centersData{data: data, cfg: cfg, norm: norm, train: trainIdx, g: cfg.Size / model.CentersStride,
		scene: augment.Scene{Size: cfg.Size, MinFace: cfg.MinFace, MaxFace: centersMaxFace, Multi: cfg.Multi,
			Empty: cfg.Empty, MaxCats: centersMaxCats, Flip: cfg.Flip}}
}

// photo is cached photo i as a scene takes it.
func (d *centersData) photo(i int) augment.Photo {
	s := d.data.Size()
	it := d.data.Item(i)
	return augment.Photo{Img: &imgproc.RGB{W: s, H: s, Pix: d.data.Pixels(i)}, W: it.Width, H: it.Height, Points: it.Points}
}

// centersBatch is a batch of a centers run: inputs X (N×3×S×S) and targets T
// (N×loss.CentersTargets×G×G).
type centersBatch struct {
	N    int
	X, T []float32
}

// sampleRand is the random generator of training sample i (a cache index) in epoch e.
func (d *centersData) sampleRand(e, i int) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(d.cfg.Seed)*0x9e3779b97f4a7c15+uint64(e), uint64(i)*0xbf58476d1ce4e5b9+0x5eed))
}

// Sample makes training sample i (a cache index) of epoch e: its picture and the faces on it.
func (d *centersData) Sample(e, i int) (*imgproc.RGB, []landmark.Points) {
	rng := d.sampleRand(e, i)
	pick := func(r *rand.Rand) augment.Photo { return d.photo(d.train[r.IntN(len(d.train))]) }
	return d.scene.Draw(rng, d.photo(i), pick)
}

// Train yields epoch e's training batches: the training photos in a seeded order, each the main
// photo of one scene; a last partial batch is dropped. The batch after the current one is made
// while the caller trains on it.
func (d *centersData) Train(e int) iter.Seq[*centersBatch] {
	order := append([]int(nil), d.train...)
	rng := rand.New(rand.NewPCG(uint64(d.cfg.Seed), uint64(e)^0x5eed5eed))
	rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	b := d.cfg.Batch
	return func(yield func(*centersBatch) bool) {
		next := make(chan *centersBatch, 1)
		done := make(chan struct{})
		defer close(done)
		go func() {
			defer close(next)
			for lo := 0; lo+b <= len(order); lo += b {
				batch := d.makeBatch(order[lo:lo+b], func(_, i int) (*imgproc.RGB, []landmark.Points) { return d.Sample(e, i) })
				select {
				case next <- batch:
				case <-done:
					return
				}
			}
		}()
		for batch := range next {
			if !yield(batch) {
				return
			}
		}
	}
}

// makeBatch makes sample k of idx, cache index i, with sample(k, i), in parallel over GOMAXPROCS goroutines.
func (d *centersData) makeBatch(idx []int, sample func(k, i int) (*imgproc.RGB, []landmark.Points)) *centersBatch {
	s, cells := d.cfg.Size, d.g*d.g
	batch := &centersBatch{N: len(idx), X: make([]float32, len(idx)*3*s*s), T: make([]float32, len(idx)*loss.CentersTargets*cells)}
	var wg sync.WaitGroup
	work := make(chan int)
	for range min(runtime.GOMAXPROCS(0), len(idx)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range work {
				img, faces := sample(k, idx[k])
				d.norm.Planes(img, batch.X[k*3*s*s:(k+1)*3*s*s])
				EncodeCenters(faces, d.g, batch.T[k*loss.CentersTargets*cells:(k+1)*loss.CentersTargets*cells])
			}
		}()
	}
	for k := range idx {
		work <- k
	}
	close(work)
	wg.Wait()
	return batch
}

// EncodeCenters writes the targets of a picture showing faces (their points in the picture's
// pixels) into dst, loss.CentersTargets×g×g (loss.Centers' layout, model.CentersChannels' meaning):
// each face (model.FaceGeometry) whose centre is in the picture has its centre cell's mask set
// and its regression targets there, and a Gaussian of σ = max(0.5, side/(6·stride)) cells around
// that cell in the heat map (the larger value where faces' Gaussians meet; a cell two faces'
// centres share keeps the larger face).
func EncodeCenters(faces []landmark.Points, g int, dst []float32) {
	cells := g * g
	clear(dst)
	const stride = model.CentersStride
	type placed struct {
		i, j int
		f    model.Candidate
	}
	var ps []placed
	for _, pts := range faces {
		f := model.FaceGeometry(pts)
		j, i := int(math.Floor(f.X/stride)), int(math.Floor(f.Y/stride))
		if i < 0 || j < 0 || i >= g || j >= g || f.Size <= 0 {
			continue
		}
		ps = append(ps, placed{i, j, f})
	}
	for _, p := range ps {
		sigma := math.Max(0.5, p.f.Size/(6*stride))
		r := int(math.Ceil(3 * sigma))
		for i := max(p.i-r, 0); i <= min(p.i+r, g-1); i++ {
			for j := max(p.j-r, 0); j <= min(p.j+r, g-1); j++ {
				d2 := float64((i-p.i)*(i-p.i) + (j-p.j)*(j-p.j))
				v := float32(math.Exp(-d2 / (2 * sigma * sigma)))
				dst[i*g+j] = max(dst[i*g+j], v)
			}
		}
	}
	mask := dst[model.CentersChannels*cells:]
	for _, p := range ps {
		k := p.i*g + p.j
		if mask[k] > 0 && float64(dst[model.CenterLogSize*cells+k]) > math.Log(p.f.Size/stride) {
			continue
		}
		mask[k] = 1
		set := func(c int, v float64) { dst[c*cells+k] = float32(v) }
		set(model.CenterOffset, p.f.X/stride-float64(p.j))
		set(model.CenterOffset+1, p.f.Y/stride-float64(p.i))
		set(model.CenterLogSize, math.Log(p.f.Size/stride))
		sn, cs := math.Sincos(p.f.Angle * math.Pi / 180)
		set(model.CenterCos, cs)
		set(model.CenterCos+1, sn)
		for q, pt := range p.f.Points {
			set(model.CenterPoints+2*q, (pt.X-p.f.X)/p.f.Size)
			set(model.CenterPoints+2*q+1, (pt.Y-p.f.Y)/p.f.Size)
		}
	}
}

// CentersStep runs forward and backward on one centers batch and leaves the gradients in m's
// parameters; it returns the batch's loss. grad is scratch of as many values as m's output.
func CentersStep(m *model.Model, x, target []float32, n int, grad []float32) float64 {
	s := m.Spec.Size
	g := s / model.CentersStride
	xt := m.B.FromHost(x, n, 3, s, s)
	out := m.Net.Forward(xt, true)
	pred := m.B.ToHost(out)
	v, _, _ := loss.Centers(pred, target, grad, n, g, loss.DefaultCentersWeights)
	dy := m.B.FromHost(grad, out.Shape()...)
	m.Net.Backward(dy)
	m.B.Release(xt)
	m.B.Release(out)
	m.B.Release(dy)
	return v
}

// valView returns val photo i as validation shows it, turned by degrees about its centre and
// scaled so that all of it fits, and its face's points in the picture's pixels.
func (d *centersData) valView(i int, degrees float64) (*imgproc.RGB, landmark.Points) {
	p := d.photo(i)
	s := float64(d.cfg.Size)
	sn, cs := math.Sincos(degrees * math.Pi / 180)
	fw := float64(p.W)*math.Abs(cs) + float64(p.H)*math.Abs(sn)
	fh := float64(p.W)*math.Abs(sn) + float64(p.H)*math.Abs(cs)
	a := augment.Turn(float64(p.W)/2, float64(p.H)/2, s/math.Max(fw, fh), degrees, s/2, s/2)
	img := imgproc.New(d.cfg.Size, d.cfg.Size)
	augment.Render(img, p, a)
	return img, a.Points(p.Points)
}

// ValidateCenters measures m on the val photos idx, as they are and turned by 45°.
func ValidateCenters(m *model.Model, d *centersData, idx []int) CentersReport {
	var r CentersReport
	for _, deg := range []float64{0, 45} {
		var found, faces int
		var angErr float64
		for lo := 0; lo < len(idx); lo += d.cfg.Batch {
			part := idx[lo:min(lo+d.cfg.Batch, len(idx))]
			truth := make([]landmark.Points, len(part))
			batch := d.makeBatch(part, func(k, i int) (*imgproc.RGB, []landmark.Points) {
				img, pts := d.valView(i, deg)
				truth[k] = pts
				return img, []landmark.Points{pts}
			})
			s := d.cfg.Size
			maps, err := m.CentersMaps(batch.X, batch.N, s, s)
			if err != nil {
				panic(err) // a centers run's model is a Centers model of the run's size
			}
			g := d.g
			per := model.CentersChannels * g * g
			lb := model.Letterbox{W: s, H: s, ScaleX: 1, ScaleY: 1}
			for k := range part {
				cands, _ := model.DecodeCenters(maps[k*per:(k+1)*per], g, g, lb, centersThreshold, centersMaxFaces)
				f := model.FaceGeometry(truth[k])
				faces++
				best, bestD := -1, math.Inf(1)
				for c, cand := range cands {
					if dd := math.Hypot(cand.X-f.X, cand.Y-f.Y); dd < bestD {
						best, bestD = c, dd
					}
				}
				if best >= 0 && bestD <= centersMatch*f.Size {
					found++
					angErr += math.Abs(math.Remainder(cands[best].Angle-f.Angle, 360))
				}
			}
		}
		recall, ang := 0.0, 180.0 // no face found: the worst angle error
		if faces > 0 {
			recall = float64(found) / float64(faces)
		}
		if found > 0 {
			ang = angErr / float64(found)
		}
		if deg == 0 {
			r.Recall, r.AngleErr, r.Faces = recall, ang, faces
		} else {
			r.Recall45, r.AngleErr45 = recall, ang
		}
	}
	return r
}

// centersEpoch trains one epoch of a centers run (or until the time budget ends), adding to ep.
func (t *trainer) centersEpoch(ctx context.Context, epoch int, ep *epochStats, bar *progressbar.ProgressBar) error {
	for batch := range t.centers.Train(epoch) {
		if t.outOfTime() {
			break
		}
		ep.lr = t.lr()
		l := CentersStep(t.net, batch.X, batch.T, batch.N, t.grad[:len(batch.T)/loss.CentersTargets*model.CentersChannels])
		if math.IsNaN(l) || math.IsInf(l, 0) {
			return fmt.Errorf("%w at epoch %d, step %d (loss %v, learning rate %g): the last good checkpoint %s is intact; lower --lr or check the data", ErrDiverged, epoch, t.step, l, ep.lr, filepath.Join(t.cfg.Out, lastFile))
		}
		t.opt.Step(t.b, t.net.Params(), ep.lr)
		t.step++
		ep.sum += l * float64(batch.N)
		ep.n += batch.N
		if bar != nil {
			bar.Describe(fmt.Sprintf("epoch %d/%d loss %.4f", epoch, t.cfg.Epochs, ep.sum/float64(ep.n)))
			bar.Add(1)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}
