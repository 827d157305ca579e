package nn

import (
	"math"
	"math/rand/v2"

	"github.com/catmark/catmark/engine"
)

// KaimingNormalFanOut fills p with N(0, 2/fan_out), fan_out = Out·K·K for a convolution weight
// Out×In×K×K: torch.nn.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu"), as
// torchvision initialises ResNet convolutions.
func KaimingNormalFanOut(b engine.Backend, p *Param, rng *rand.Rand) {
	s := p.Value.Shape()
	fanOut := s[0]
	for _, d := range s[2:] {
		fanOut *= d
	}
	std := math.Sqrt(2 / float64(fanOut))
	d := b.Data(p.Value)
	for i := range d {
		d[i] = float32(rng.NormFloat64() * std)
	}
}

// UniformFanIn fills p with U(−1/√fanIn, 1/√fanIn): torch.nn.Linear's default initialisation of
// both weight (kaiming_uniform_ with a = √5) and bias.
func UniformFanIn(b engine.Backend, p *Param, fanIn int, rng *rand.Rand) {
	bound := 1 / math.Sqrt(float64(fanIn))
	d := b.Data(p.Value)
	for i := range d {
		d[i] = float32((2*rng.Float64() - 1) * bound)
	}
}
