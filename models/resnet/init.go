package resnet

import (
	"math/rand/v2"
	"strings"

	"github.com/catmark/catmark/engine"
	"github.com/catmark/catmark/nn"
)

// initialise sets the weights as torchvision's ResNet constructor does, drawing from seed in
// parameter order; an integral head's 1×1 heatmap convolution is drawn as fc is, U(±1/√fan_in),
// so that the first heatmaps are nearly flat. Batch norms keep NewBatchNorm2d's γ = 1, β = 0, mean 0, variance 1.
func initialise(b engine.Backend, ps []*nn.Param, fcIn int, seed int64) {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x5eed))
	for _, p := range ps {
		switch {
		case p.Name == "fc.weight" || p.Name == "fc.bias" || p.Name == "heatmap.weight" || p.Name == "heatmap.bias":
			nn.UniformFanIn(b, p, fcIn, rng)
		case strings.HasSuffix(p.Name, ".weight") && len(p.Value.Shape()) == 4:
			nn.KaimingNormalFanOut(b, p, rng)
		}
	}
}
