package train

import (
	"iter"
	"math"
	"math/rand/v2"

	"github.com/catmark/catmark/augment"
	"github.com/catmark/catmark/cache"
	"github.com/catmark/catmark/facecrop"
	"github.com/catmark/catmark/imgproc"
	"github.com/catmark/catmark/landmark"
	"github.com/catmark/catmark/loader"
	"github.com/catmark/catmark/metrics"
	"github.com/catmark/catmark/model"
)

// batcher makes a run's training and validation batches from its cache: whole photos or face
// crops, as the run's stage says.
type batcher struct {
	data         *cache.Cache
	cfg          Config
	train, small loader.Config // small: training at Config.SmallSize
	val          loader.Config
}

func newBatcher(data *cache.Cache, cfg Config) *batcher {
	norm, _ := imgproc.NormNamed(cfg.Norm) // Config.Validate checked the name
	aug := augment.Config{Flip: cfg.Flip, PCA: cfg.PCA}
	var frame, valFrame func(*rand.Rand, int, *imgproc.RGB) (*imgproc.RGB, landmark.Points)
	if cfg.Stage == model.Crop {
		// The box jitter does scale and shift; the crop is then rotated about its centre.
		frame = cropFrame(data, cfg, true)
		valFrame = cropFrame(data, cfg, false)
		aug.Rotate = cfg.Rotate
	} else if cfg.Scale != 0 || cfg.Shift != 0 || cfg.Rotate != 0 {
		aug.Scale = [2]float64{1 / (1 + cfg.Scale), 1 + cfg.Scale}
		aug.Shift, aug.Rotate = cfg.Shift, cfg.Rotate
	}
	b := &batcher{
		data: data, cfg: cfg,
		train: loader.Config{Batch: cfg.Batch, Shuffle: true, DropLast: true, Augment: aug, Norm: norm, OutSize: cfg.Size, Seed: cfg.Seed, Frame: frame},
		val:   loader.Config{Batch: cfg.Batch, Norm: norm, OutSize: cfg.Size, Seed: cfg.Seed, Frame: valFrame},
	}
	b.small = b.train
	if cfg.SmallSize > 0 {
		b.small.OutSize = cfg.SmallSize
		if cfg.Stage == model.Crop {
			small := cfg
			small.Size = cfg.SmallSize
			b.small.Frame = cropFrame(data, small, true)
		}
	}
	return b
}

// cropFrame returns the loader hook that cuts the face crop of photo i: the square around its
// true landmarks with the run's margin, jittered in training to mimic a coarse model's errors;
// in training, a share cfg.Negatives of the crops are cut away from the face (NoFace truth), and
// a share cfg.TurnedNegatives of those are instead the face's own jittered box turned by one, two
// or three quarters: a face that is not upright counts as no face, so that presence tells the
// detector's any-angle first pass which quarter turn shows the face upright.
func cropFrame(data *cache.Cache, cfg Config, jitter bool) func(*rand.Rand, int, *imgproc.RGB) (*imgproc.RGB, landmark.Points) {
	return func(rng *rand.Rand, i int, photo *imgproc.RGB) (*imgproc.RGB, landmark.Points) {
		it := data.Item(i)
		box := facecrop.FaceBox(it.Points, cfg.Margin)
		if jitter && cfg.Negatives > 0 && rng.Float64() < cfg.Negatives {
			away := facecrop.Away(rng, box, it.Width, it.Height)
			if cfg.TurnedNegatives > 0 && rng.Float64() < cfg.TurnedNegatives {
				away = box.Jitter(rng, cfg.Scale, cfg.Shift)
				away.Angle = 90 * float64(1+rng.IntN(3))
			}
			return facecrop.Crop(photo, it.Width, it.Height, away, cfg.Size), NoFace()
		}
		if jitter && (cfg.Scale != 0 || cfg.Shift != 0) {
			box = box.Jitter(rng, cfg.Scale, cfg.Shift)
		}
		return facecrop.Crop(photo, it.Width, it.Height, box, cfg.Size), box.ToBox(it.Points)
	}
}

// NoFace is the truth of a crop without a face: every coordinate NaN (loss.EvalPresence).
func NoFace() landmark.Points {
	var p landmark.Points
	for i := range p {
		p[i] = landmark.Point{X: math.NaN(), Y: math.NaN()}
	}
	return p
}

// Epoch yields the batches of idx: shuffled and augmented for training, in order and plain for
// validation.
func (b *batcher) Epoch(idx []int, epoch int, training bool) iter.Seq[*loader.Batch] {
	if training {
		return b.Train(idx, epoch, false)
	}
	return loader.New(b.data, idx, b.val).Epoch(0)
}

// Train yields an epoch's training batches of idx, at Config.SmallSize if small.
func (b *batcher) Train(idx []int, epoch int, small bool) iter.Seq[*loader.Batch] {
	if small {
		return loader.New(b.data, idx, b.small).Epoch(epoch)
	}
	return loader.New(b.data, idx, b.train).Epoch(epoch)
}

// Sample turns sample k of a validation batch and its predicted points (normalised to the
// model's input) into original-pixel landmarks for the metrics.
func (b *batcher) Sample(batch *loader.Batch, k int, p landmark.Points) metrics.Sample {
	return b.sampleOf(batch.Index[k], p)
}

// sampleOf is Sample for photo i of the cache.
func (b *batcher) sampleOf(i int, p landmark.Points) metrics.Sample {
	it := b.data.Item(i)
	if b.cfg.Stage == model.Crop {
		p = facecrop.FaceBox(it.Points, b.cfg.Margin).FromBox(p)
	} else {
		p = p.Denormalize(it.Width, it.Height)
	}
	return metrics.Sample{Pred: p, Truth: it.Points, Width: it.Width, Height: it.Height}
}
