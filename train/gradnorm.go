package train

import (
	"fmt"
	"math"

	"github.com/catmark/catmark/cache"
	"github.com/catmark/catmark/engine"
	"github.com/catmark/catmark/loss"
)

// GradNorms measures, for each loss, the mean L2 norm of the full parameter gradient over the
// first batches of cfg's training run, at its initial weights (cfg.Seed, cfg.Init): every loss
// sees the same model and the same batches. The loss study uses the ratio of two such norms to
// give plain MSE the gradient size of a structured loss, which separates a better objective
// from a merely larger gradient.
func GradNorms(cfg Config, losses []string, batches int) ([]float64, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if batches < 1 {
		return nil, fmt.Errorf("train: GradNorms over %d batches", batches)
	}
	b, err := engine.Open(cfg.Backend)
	if err != nil {
		return nil, err
	}
	data, err := cache.Open(cfg.Data)
	if err != nil {
		return nil, err
	}
	idx, err := data.Split(cfg.Split)
	if err != nil {
		return nil, err
	}
	fns := make([]*loss.Loss, len(losses))
	for i, name := range losses {
		if fns[i], err = loss.Parse(name); err != nil {
			return nil, err
		}
	}
	m, err := newNet(b, cfg)
	if err != nil {
		return nil, err
	}
	if cfg.Init != "" {
		if err := loadInit(m, cfg); err != nil {
			return nil, err
		}
	}
	sums := make([]float64, len(losses))
	n := 0
	grad := make([]float32, cfg.Batch*m.Outputs())
	for batch := range newBatcher(data, cfg).Epoch(idx, 1, true) {
		if n == batches {
			break
		}
		for i, l := range fns {
			// Step overwrites every trainable gradient, so each loss's norm is its own; batch
			// statistics move the running ones alike for every loss, which the gradients
			// of training mode do not read.
			Step(m, batch.X, batch.Y, batch.N, l, grad[:batch.N*m.Outputs()])
			var s float64
			for _, p := range m.Params() {
				if p.Grad == nil {
					continue
				}
				for _, v := range b.Data(p.Grad) {
					s += float64(v) * float64(v)
				}
			}
			sums[i] += math.Sqrt(s)
		}
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("train: the %q split of %s gives no batch of %d", cfg.Split, cfg.Data, cfg.Batch)
	}
	for i := range sums {
		sums[i] /= float64(n)
	}
	return sums, nil
}
