package purego

import (
	"fmt"
	"math"

	"github.com/catmark/catmark/engine"
	"github.com/catmark/catmark/engine/ref"
)

// bnTrain is BatchNorm in BNTrain mode: the reference backend's computation (batch mean and
// biased variance in float64, running statistics updated with the unbiased variance), in
// parallel over channels. x is N×C×H×W; Saved holds Y and the batch Mean and Var (length C).
func (b *Backend) bnTrain(xd []float32, xs []int, gamma, beta, rm, rv []float32, p engine.BNParams) (engine.Tensor, engine.BNSaved) {
	n, c, hw := xs[0], xs[1], xs[2]*xs[3]
	y := b.Zeros(xs...)
	yd := b.Backend.Data(y)
	mean, vr := make([]float32, c), make([]float32, c)
	parallel(c, func(_, ch int) {
		mu, biased, unbiased := ref.ChannelMoments(xd, n, c, hw, ch)
		mean[ch], vr[ch] = float32(mu), float32(biased)
		mom := float64(p.Momentum)
		rm[ch] = float32((1-mom)*float64(rm[ch]) + mom*mu)
		rv[ch] = float32((1-mom)*float64(rv[ch]) + mom*unbiased)
		inv := 1 / math.Sqrt(float64(vr[ch])+float64(p.Eps))
		scale := float64(gamma[ch]) * inv
		shift := float64(beta[ch]) - float64(mean[ch])*scale
		for i := 0; i < n; i++ {
			off := (i*c + ch) * hw
			for j, v := range xd[off : off+hw] {
				o := float32(float64(v)*scale + shift)
				if p.ReLU && !(o > 0) {
					o = 0
				}
				yd[off+j] = o
			}
		}
	})
	return y, engine.BNSaved{Y: y, Mean: b.FromHost(mean, c), Var: b.FromHost(vr, c)}
}

// BatchNormBackward returns the gradients of BatchNorm (see engine.Backend): the reference
// backend's computation (float64 sums), in parallel over channels. In BNTrain the batch
// statistics (saved.Mean, saved.Var) are functions of x; in BNInfer the running statistics are
// constants. With p.ReLU, saved.Y (the forward output) masks dy.
func (b *Backend) BatchNormBackward(x, dy engine.Tensor, bn engine.BN, saved engine.BNSaved, p engine.BNParams, gr engine.Grads) (dx, dgamma, dbeta engine.Tensor) {
	const op = "BatchNormBackward"
	xd, xs := b.data(op, x)
	dyd, dys := b.data(op, dy)
	engine.SameShape(op+" dy", dys, xs)
	rank(op, "x", xs, 4)
	n, c, hw := xs[0], xs[1], xs[2]*xs[3]
	params := bnParams(b, op, bn, c)
	gamma := params[0]
	var mean, vr []float32
	switch p.Mode {
	case engine.BNTrain:
		mean, _ = b.data(op, saved.Mean)
		vr, _ = b.data(op, saved.Var)
	case engine.BNInfer:
		mean, vr = params[2], params[3]
	default:
		panic(fmt.Sprintf("purego: %s: unknown mode %d", op, p.Mode))
	}
	var yd []float32
	if p.ReLU {
		var ys []int
		yd, ys = b.data(op, saved.Y)
		engine.SameShape(op+" saved y", ys, xs)
	}
	var dxd, dgd, dbd []float32
	if gr.Input {
		dx = b.Zeros(xs...)
		dxd = b.Backend.Data(dx)
	}
	if gr.Params {
		dgamma, dbeta = b.Zeros(c), b.Zeros(c)
		dgd, dbd = b.Backend.Data(dgamma), b.Backend.Data(dbeta)
	}
	m := float64(n * hw)
	parallel(c, func(_, ch int) {
		// g returns the gradient reaching the normalised output at flat index k (ReLU applied).
		g := func(k int) float64 {
			if yd != nil && !(yd[k] > 0) {
				return 0
			}
			return float64(dyd[k])
		}
		inv := 1 / math.Sqrt(float64(vr[ch])+float64(p.Eps))
		mu := float64(mean[ch])
		var sumG, sumGX float64 // Σ g and Σ g·x̂
		for i := 0; i < n; i++ {
			off := (i*c + ch) * hw
			for k := off; k < off+hw; k++ {
				gk := g(k)
				sumG += gk
				sumGX += gk * (float64(xd[k]) - mu) * inv
			}
		}
		if gr.Params {
			dgd[ch], dbd[ch] = float32(sumGX), float32(sumG)
		}
		if !gr.Input {
			return
		}
		gi := float64(gamma[ch]) * inv
		for i := 0; i < n; i++ {
			off := (i*c + ch) * hw
			for k := off; k < off+hw; k++ {
				if p.Mode == engine.BNTrain {
					xhat := (float64(xd[k]) - mu) * inv
					dxd[k] = float32(gi * (g(k) - sumG/m - xhat*sumGX/m))
				} else {
					dxd[k] = float32(gi * g(k))
				}
			}
		}
	})
	return dx, dgamma, dbeta
}

// bnParams returns bn's γ, β, running mean and running variance, each checked to have length c.
func bnParams(b *Backend, op string, bn engine.BN, c int) [4][]float32 {
	var par [4][]float32
	for i, t := range []engine.Tensor{bn.Gamma, bn.Beta, bn.RunMean, bn.RunVar} {
		d, s := b.data(op, t)
		engine.SameShape(op+" parameter", s, []int{c})
		par[i] = d
	}
	return par
}
