package loss

import (
	"fmt"
	"math"

	"github.com/catmark/catmark/landmark"
)

// EvalPresence is Eval for a model with a 19th output, the face presence s ∈ (0, 1): pred is
// B×19 (the 18 landmark values, then s) and truth B×18, where a row of NaN marks a sample that
// shows no face. The per-sample loss is
//
//	face:    l(p, t) + weight·(s − 1)²
//	no face: weight·s²
//
// (the landmark loss only where there is a face to place). It returns the batch mean and, when
// grad is non-nil (B×19), overwrites grad with the mean's gradient with respect to pred.
func (l *Loss) EvalPresence(pred, truth, grad []float32, weight float64) float64 {
	const d = landmark.Dim
	const w = d + 1
	if len(pred)%w != 0 || len(truth) != len(pred)/w*d {
		panic(fmt.Sprintf("loss: EvalPresence: pred has %d values and truth %d; want B×%d and B×%d", len(pred), len(truth), w, d))
	}
	if grad != nil && len(grad) != len(pred) {
		panic(fmt.Sprintf("loss: EvalPresence: grad has %d values, want %d (as pred)", len(grad), len(pred)))
	}
	b := len(pred) / w
	if b == 0 {
		return 0
	}
	scale := 1 / float64(b)
	var sum float64
	for i := range b {
		ps, ts := pred[i*w:(i+1)*w], truth[i*d:(i+1)*d]
		s := float64(ps[d])
		target := 1.0
		if math.IsNaN(float64(ts[0])) {
			target = 0
		}
		sum += weight * (s - target) * (s - target)
		var gs []float32
		if grad != nil {
			gs = grad[i*w : (i+1)*w]
			clear(gs)
			gs[d] = float32(2 * weight * (s - target) * scale)
		}
		if target == 1 {
			if gs != nil {
				gs = gs[:d]
			}
			sum += l.sample32(ps[:d], ts, gs, scale)
		}
	}
	return sum * scale
}
