package resnet

import (
	"math/rand/v2"
	"strings"

	"github.com/catmark/catmark/engine"
	"github.com/catmark/catmark/nn"
)

// CentersPrior is the initial bias of a centers head's first map (its presence logit):
// log(0.1/0.9), a presence of 0.1 everywhere, as CenterNet starts its heatmaps.
const CentersPrior = -2.19

// initialise sets the weights as torchvision's ResNet constructor does, drawing from seed in
// parameter order; an integral head's 1×1 heatmap convolution is drawn as fc is, U(±1/√fan_in),
// so that the first heatmaps are nearly flat, and so is a centers head's output convolution. Batch norms keep NewBatchNorm2d's γ = 1, β = 0, mean 0, variance 1.
func initialise(b engine.Backend, ps []*nn.Param, fcIn int, seed int64) {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x5eed))
	for _, p := range ps {
		switch {
		case p.Name == "fc.weight" || p.Name == "fc.bias" || p.Name == "heatmap.weight" || p.Name == "heatmap.bias":
			nn.UniformFanIn(b, p, fcIn, rng)
		case p.Name == "centers.out.weight" || p.Name == "centers.out.bias":
			nn.UniformFanIn(b, p, fcIn, rng)
			if p.Name == "centers.out.bias" {
				b.Data(p.Value)[0] = CentersPrior
			}
		case strings.HasSuffix(p.Name, ".weight") && len(p.Value.Shape()) == 4:
			nn.KaimingNormalFanOut(b, p, rng)
		}
	}
}
