package loss

import (
	"fmt"
	"math"

	"github.com/catmark/catmark/model"
)

// CentersTargets is the number of target maps a Centers model's training sample has per cell: the
// model's model.CentersChannels (channel 0 the heat target, a Gaussian in [0, 1] that is exactly 1
// at each face's centre cell; the others the regression targets at those cells, as the model's
// outputs are laid out), then one mask map, 1 at the face centre cells, 0 elsewhere.
const CentersTargets = model.CentersChannels + 1

// CentersWeights are the weights of a Centers model's loss terms.
type CentersWeights struct {
	Offset, Size, Angle, Points float64
}

// DefaultCentersWeights weights the centre's sub-cell offset, the log size and the angle's cos
// and sin by 1 (as CenterNet's offset term), and each of the 18 point coordinates by 0.1.
var DefaultCentersWeights = CentersWeights{Offset: 1, Size: 1, Angle: 1, Points: 0.1}

// Focal loss exponents of CenterNet (Zhou et al., "Objects as Points", 2019): α on the
// prediction, β on the distance from a centre.
const (
	focalAlpha = 2
	focalBeta  = 4
)

// Centers is CenterNet's loss for a batch of a Centers model's outputs: pred is B×C×G×G (C =
// model.CentersChannels, as the network gives them) and target B×CentersTargets×G×G. With p =
// σ(pred's channel 0) and y the heat target, the heat term sums over every cell the
// penalty-reduced focal loss
//
//	y = 1:  −(1−p)^α · ln p
//	y < 1:  −(1−y)^β · p^α · ln(1−p)      (α = 2, β = 4)
//
// and the regression term sums, over the cells whose mask is 1, w·|pred − target| over channels
// 1…C−1 (w from weights: offset, size, angle, points). Both are divided by the number of faces
// in the batch (at least 1). It returns the loss and its two parts and, when grad is non-nil
// (as pred), overwrites grad with the loss's gradient with respect to pred (at |·|'s kink the
// subgradient 0).
func Centers(pred, target, grad []float32, b, g int, weights CentersWeights) (total, heat, reg float64) {
	const c = model.CentersChannels
	cells := g * g
	if len(pred) != b*c*cells || len(target) != b*CentersTargets*cells {
		panic(fmt.Sprintf("loss: Centers: pred has %d values and target %d; want %d×%d×%d×%d and %d×%d×%d×%d",
			len(pred), len(target), b, c, g, g, b, CentersTargets, g, g))
	}
	if grad != nil {
		if len(grad) != len(pred) {
			panic(fmt.Sprintf("loss: Centers: grad has %d values, want %d (as pred)", len(grad), len(pred)))
		}
		clear(grad)
	}
	w := make([]float64, c)
	for ch := 1; ch < c; ch++ {
		switch {
		case ch < model.CenterLogSize:
			w[ch] = weights.Offset
		case ch == model.CenterLogSize:
			w[ch] = weights.Size
		case ch < model.CenterPoints:
			w[ch] = weights.Angle
		default:
			w[ch] = weights.Points
		}
	}
	faces := 0
	for n := range b {
		mask := target[(n*CentersTargets+c)*cells : (n*CentersTargets+c+1)*cells]
		for _, m := range mask {
			if m > 0 {
				faces++
			}
		}
	}
	scale := 1 / float64(max(faces, 1))
	for n := range b {
		p := pred[n*c*cells : (n+1)*c*cells]
		t := target[n*CentersTargets*cells : (n+1)*CentersTargets*cells]
		mask := t[c*cells : (c+1)*cells]
		var gr []float32
		if grad != nil {
			gr = grad[n*c*cells : (n+1)*c*cells]
		}
		for k := range cells {
			z, y := float64(p[k]), float64(t[k])
			// ln p = −softplus(−z), ln(1−p) = −softplus(z), stable for any z.
			prob := 1 / (1 + math.Exp(-z))
			var l, dz float64
			if y >= 1 {
				logp := -softplus(-z)
				q := 1 - prob
				l = -q * q * logp
				dz = q * q * (focalAlpha*prob*logp - q)
			} else {
				log1p := -softplus(z)
				wy := math.Pow(1-y, focalBeta)
				l = -wy * prob * prob * log1p
				dz = wy * prob * prob * (prob - focalAlpha*(1-prob)*log1p)
			}
			heat += l
			if gr != nil {
				gr[k] = float32(dz * scale)
			}
			if mask[k] == 0 {
				continue
			}
			for ch := 1; ch < c; ch++ {
				d := float64(p[ch*cells+k]) - float64(t[ch*cells+k])
				reg += w[ch] * math.Abs(d)
				if gr != nil && d != 0 {
					gr[ch*cells+k] = float32(w[ch] * math.Copysign(scale, d))
				}
			}
		}
	}
	heat, reg = heat*scale, reg*scale
	return heat + reg, heat, reg
}

// softplus is ln(1 + eˣ), without overflow.
func softplus(x float64) float64 {
	if x > 0 {
		return x + math.Log1p(math.Exp(-x))
	}
	return math.Log1p(math.Exp(x))
}
