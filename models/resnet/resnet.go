// Package resnet builds the ResNet family (He et al., "Deep Residual Learning for Image
// Recognition", 2015) in torchvision's layout and parameter names, on any engine.Backend, with a
// landmark head: global average pooling, a fully connected layer to Config.Outputs values and a
// sigmoid, so the outputs are normalised coordinates in [0, 1].
//
// The network, for an input N×3×H×W and base width w (64 in the paper):
//
//	name     output size  layers (ResNet-18/34: BasicBlock; ResNet-50/101/152: Bottleneck)
//	conv1    H/2          7×7, w, stride 2, padding 3; bn1; ReLU
//	maxpool  H/4          3×3 max pool, stride 2, padding 1
//	layer1   H/4          blocks of width w       (18: 2, 34: 3, 50: 3, 101: 3, 152: 3)
//	layer2   H/8          blocks of width 2w      (18: 2, 34: 4, 50: 4, 101: 4, 152: 8)
//	layer3   H/16         blocks of width 4w      (18: 2, 34: 6, 50: 6, 101: 23, 152: 36)
//	layer4   H/32         blocks of width 8w      (18: 2, 34: 3, 50: 3, 101: 3, 152: 3)
//	fc                    global average pool, Linear(8w·expansion → Outputs), sigmoid
//
// A BasicBlock is 3×3 conv, BN, ReLU, 3×3 conv, BN; a Bottleneck is 1×1 conv (width), BN, ReLU,
// 3×3 conv (width, carrying the block's stride, as torchvision's "v1.5"), BN, ReLU, 1×1 conv
// (4·width), BN. The first block of a stage whose stride is 2 or whose channels change has a
// downsample shortcut, a 1×1 convolution with the block's stride and a BN; the shortcut is added
// to the block's output before the final ReLU. Convolutions have no bias.
//
// Parameter names are torchvision's state_dict keys ("conv1.weight", "bn1.running_var",
// "layer3.0.downsample.1.weight", "fc.bias"), in the same order; BN's num_batches_tracked
// counters are not kept.
package resnet

import (
	"fmt"
	"strings"

	"github.com/catmark/catmark/engine"
	"github.com/catmark/catmark/nn"
)

// Config selects a network.
type Config struct {
	Depth     int // 18, 34, 50, 101 or 152
	Width     int // base width: channels of conv1 and layer1 (64 in the paper and torchvision)
	Outputs   int // size of the head's output (18: nine landmarks' x and y)
	InputSize int // input side in pixels; informational (the network takes any size ≥ 32)
	// Head is how features become outputs: "pool" (or empty) is the pooled regression above,
	// global average pooling, fc and a sigmoid; "integral" is integral regression
	// (nn.IntegralHead): Outputs/2 heatmaps ("heatmap.weight", "heatmap.bias") from the last
	// stage's feature map, each point the expected position of its heatmap's softmax, and, when
	// Outputs is odd, one more output from pooled features as the pooled head's ("fc.weight" 1×C);
	// "simcc" is coordinate classification on pooled features: global average pooling, fc to
	// SimCCBins logits a coordinate (and one presence logit when Outputs is odd), and nn.SoftBins,
	// each coordinate the expected position of its bins' softmax.
	Head string
	//
	// "centers" is a dense head for finding objects (CenterNet): it needs 3 stages, joins
	// layer3's output, projected to layer2's channels by a 1×1 convolution ("lateral") and
	// upsampled by 2 (nn.Upsample2x), onto layer2's output (nn.Sum, a one-level feature pyramid),
	// and maps the joined stride-8 features by a 3×3 convolution, batch norm and ReLU
	// ("centers.conv", "centers.bn") and a 1×1 convolution with bias ("centers.out") to Outputs
	// maps: N×Outputs×H/8×W/8, raw (no sigmoid). Its first map's bias starts at −2.19, a
	// presence of 0.1 everywhere, as CenterNet's heatmap.
	//
	// Stages is how many of the four stages the network has (3 ends at layer3, stride 16,
	// for a finer heatmap at three quarters of the work); 0 means all four.
	Stages int
}

// Head kinds (Config.Head).
const (
	Pool     = "pool"
	Integral = "integral"
	SimCC    = "simcc"
	Centers  = "centers"
)

// SimCCBins is the number of bins a coordinate has in a SimCC head: twice the 128 px input's
// side, SimCC's splitting factor of 2.
const SimCCBins = 256

// HeadOK reports whether head names a head kind ("" is Pool).
func HeadOK(head string) bool {
	return head == "" || head == Pool || head == Integral || head == SimCC || head == Centers
}

// Stages returns the block kind (bottleneck or basic) and the number of blocks in each of the
// four stages (layer1…layer4) of a ResNet of the given depth, as in the paper's table.
func Stages(depth int) (bottleneck bool, blocks [4]int, err error) {
	switch depth {
	case 18:
		return false, [4]int{2, 2, 2, 2}, nil
	case 34:
		return false, [4]int{3, 4, 6, 3}, nil
	case 50:
		return true, [4]int{3, 4, 6, 3}, nil
	case 101:
		return true, [4]int{3, 4, 23, 3}, nil
	case 152:
		return true, [4]int{3, 8, 36, 3}, nil
	}
	return false, blocks, fmt.Errorf("resnet: depth %d not supported (want 18, 34, 50, 101 or 152)", depth)
}

// Model is a ResNet with a sigmoid regression head.
type Model struct {
	Config Config
	b      engine.Backend
	net    *nn.Sequential
	params []*nn.Param
	byName map[string]*nn.Param
}

// New builds the network of cfg on b, initialised as torchvision does, from seed: convolutions
// N(0, 2/fan_out) (Kaiming normal, fan-out mode), batch norm γ = 1, β = 0, running mean 0 and
// variance 1, and the fully connected layer U(±1/√fan_in) (PyTorch's Linear default).
func New(b engine.Backend, cfg Config, seed int64) (*Model, error) {
	bottleneck, blocks, err := Stages(cfg.Depth)
	if err != nil {
		return nil, err
	}
	if cfg.Width < 1 || cfg.Outputs < 1 {
		return nil, fmt.Errorf("resnet: width %d and outputs %d must be positive", cfg.Width, cfg.Outputs)
	}
	stages := cfg.Stages
	if stages == 0 {
		stages = 4
	}
	if stages < 3 || stages > 4 {
		return nil, fmt.Errorf("resnet: %d stages: want 3 or 4", cfg.Stages)
	}
	if !HeadOK(cfg.Head) {
		return nil, fmt.Errorf("resnet: head %q: want %q, %q, %q or %q", cfg.Head, Pool, Integral, SimCC, Centers)
	}
	if cfg.Head == Centers && (stages != 3 || bottleneck) {
		return nil, fmt.Errorf("resnet: a centers head needs 3 stages of basic blocks (ResNet-18 or 34), not %d stages of ResNet-%d", stages, cfg.Depth)
	}
	if (cfg.Head == Integral || cfg.Head == SimCC) && cfg.Outputs < 2 {
		return nil, fmt.Errorf("resnet: an integral head needs at least 2 outputs, not %d", cfg.Outputs)
	}
	expansion := 1
	if bottleneck {
		expansion = 4
	}
	w := cfg.Width
	layers := newStem(b, w).Layers
	in := w
	var deep []nn.Layer // a centers head's layer3, run inside its feature-pyramid join
	for s := range stages {
		planes := w << s
		for i := range blocks[s] {
			stride := 1
			if s > 0 && i == 0 {
				stride = 2
			}
			name := fmt.Sprintf("layer%d.%d", s+1, i)
			var blk nn.Layer
			if bottleneck {
				blk = newBottleneck(b, name, in, planes, stride)
			} else {
				blk = newBasicBlock(b, name, in, planes, stride)
			}
			if cfg.Head == Centers && s == 2 {
				deep = append(deep, blk)
			} else {
				layers = append(layers, blk)
			}
			in = planes * expansion
		}
	}
	if cfg.Head == Centers {
		fine := 2 * w // layer2's channels
		deep = append(deep, nn.NewConv2d(b, "lateral", in, fine, 1, 1, 0, true), nn.NewUpsample2x(b))
		layers = append(layers, nn.NewSum(b, true, nn.NewSequential(b, deep...)),
			nn.NewConv2d(b, "centers.conv", fine, fine, 3, 1, 1, false),
			nn.NewBatchNorm2d(b, "centers.bn", fine, true),
			nn.NewConv2d(b, "centers.out", fine, cfg.Outputs, 1, 1, 0, true))
		in = fine
	} else if cfg.Head == Integral {
		presence := ""
		if cfg.Outputs%2 == 1 {
			presence = "fc"
		}
		layers = append(layers, nn.NewIntegralHead(b, "heatmap", in, cfg.Outputs/2, presence))
	} else if cfg.Head == SimCC {
		bins := nn.NewSoftBins(b, cfg.Outputs/2*2, SimCCBins, cfg.Outputs%2 == 1)
		layers = append(layers, nn.NewGlobalAvgPool(b), nn.NewLinear(b, "fc", in, bins.Inputs()), bins)
	} else {
		fc := nn.NewLinear(b, "fc", in, cfg.Outputs)
		layers = append(layers, nn.NewGlobalAvgPool(b), fc, nn.NewSigmoid(b))
	}
	m := &Model{Config: cfg, b: b, net: nn.NewSequential(b, layers...), byName: map[string]*nn.Param{}}
	m.params = m.net.Params()
	for _, p := range m.params {
		if _, dup := m.byName[p.Name]; dup {
			panic("resnet: duplicate parameter name " + p.Name)
		}
		m.byName[p.Name] = p
	}
	initialise(b, m.params, in, seed)
	return m, nil
}

// newStem returns conv1, bn1 (with ReLU) and the 3×3 max pool.
func newStem(b engine.Backend, width int) *nn.Sequential {
	return nn.NewSequential(b,
		nn.NewConv2d(b, "conv1", 3, width, 7, 2, 3, false),
		nn.NewBatchNorm2d(b, "bn1", width, true),
		nn.NewMaxPool2d(b, 3, 2, 1))
}

// Params returns the parameters and buffers in torchvision's state_dict order.
func (m *Model) Params() []*nn.Param { return m.params }

// Layers returns the network's layers in order, for walking it (as an exporter does): the stem's
// convolution, batch norm and max pool, the residual blocks (each with a Residual method giving
// its branches), then the head's layers.
func (m *Model) Layers() []nn.Layer { return m.net.Layers }

// Param returns the parameter or buffer with the given torchvision name, or nil.
func (m *Model) Param(name string) *nn.Param { return m.byName[name] }

// Backend returns the backend the model lives on.
func (m *Model) Backend() engine.Backend { return m.b }

// NumParams returns the number of trainable values (parameters, not buffers), frozen or not:
// the figure torchvision users quote.
func (m *Model) NumParams() int {
	n := 0
	for _, p := range m.params {
		if !p.Buffer {
			n += engine.Numel(p.Value.Shape())
		}
	}
	return n
}

// Freeze freezes the parameters under each prefix: a name equal to the prefix or beginning with
// it and a dot ("layer1" freezes "layer1.0.conv1.weight"; "layer1.0" one block). "stem" stands
// for conv1 and bn1. Frozen parameters get no gradient (their Grad is released and set to nil),
// frozen batch norms use their running statistics also in training, and the backward pass stops
// below the lowest trainable layer. The seed froze "stem", "layer1" and "layer2". Freeze adds to
// what is frozen. A prefix that matches nothing is an error.
func (m *Model) Freeze(prefixes ...string) error {
	var expanded []string
	for _, p := range prefixes {
		if p == "stem" {
			expanded = append(expanded, "conv1", "bn1")
		} else {
			expanded = append(expanded, p)
		}
	}
	for _, pre := range expanded {
		found := false
		for _, p := range m.params {
			if p.Name == pre || strings.HasPrefix(p.Name, pre+".") {
				found = true
				p.Frozen = true
				if p.Grad != nil {
					m.b.Release(p.Grad)
					p.Grad = nil
				}
			}
		}
		if !found {
			return fmt.Errorf("resnet: Freeze: no parameter named %q or under it", pre)
		}
	}
	return nil
}

// Forward runs the network on x (N×3×H×W) and returns the sigmoid outputs, N×Outputs, which
// the caller owns. With train, batch norms that are not frozen use and update batch statistics,
// and the activations the backward pass needs are kept: x and the returned tensor must then stay
// alive until Backward (or Free). Without train every intermediate is released as soon as it has
// been read.
func (m *Model) Forward(x engine.Tensor, train bool) engine.Tensor {
	s := x.Shape()
	if len(s) != 4 || s[1] != 3 {
		panic(fmt.Sprintf("resnet: Forward: input shape %v, want N×3×H×W", s))
	}
	return m.net.Forward(x, train)
}

// Backward propagates dy (N×Outputs, the loss gradient at the sigmoid outputs) back through the
// network of the last training Forward, overwrites each trainable parameter's Grad with its
// gradient, and releases the activations the forward pass kept (not x, the output or dy, which
// belong to the caller). No input gradient is computed; frozen layers below the lowest
// trainable one are not run backwards.
func (m *Model) Backward(dy engine.Tensor) {
	m.net.Backward(dy, false)
}

// Heatmaps runs the network in inference mode on x (N×3×H×W, any H and W the stages divide) and
// returns an integral head's heatmap logits (nn.IntegralHead.Heatmaps), N×K×H'×W', with their
// shape; ok is false for a pooled head.
func (m *Model) Heatmaps(x engine.Tensor) (maps []float32, shape [4]int, ok bool) {
	layers := m.net.Layers
	head := m.IntegralHead()
	if head == nil {
		return nil, shape, false
	}
	cur := x
	for _, l := range layers[:len(layers)-1] {
		y := l.Forward(cur, false)
		if cur != x {
			m.b.Release(cur)
		}
		cur = y
	}
	maps = head.Heatmaps(cur)
	s := cur.Shape()
	shape = [4]int{s[0], head.K, s[2], s[3]}
	if cur != x {
		m.b.Release(cur)
	}
	return maps, shape, true
}

// IntegralHead returns the network's integral head, or nil for a pooled head.
func (m *Model) IntegralHead() *nn.IntegralHead {
	h, _ := m.net.Layers[len(m.net.Layers)-1].(*nn.IntegralHead)
	return h
}

// FrozenLayers returns how many of the network's leading layers (Layers) have no trainable
// parameter: with "stem", "layer1" and "layer2" frozen, the stem's three layers and the blocks of
// layer1 and layer2. Their output does not change in training (frozen batch norms use their
// running statistics), so it can be computed once per input.
func (m *Model) FrozenLayers() int {
	k := 0
	for k < len(m.net.Layers)-1 && !nn.Trainable(m.net.Layers[k]) {
		k++
	}
	return k
}

// Split returns the network cut after its first k layers (0 < k < len(Layers())): front.Forward
// followed by back.Forward computes Forward, and back.Backward, after a training back.Forward,
// sets the gradients of back's trainable parameters as Backward would. Both share m's layers: use
// one at a time, and front only in inference mode (train false) when its layers are frozen.
func (m *Model) Split(k int) (front, back *nn.Sequential) {
	n := len(m.net.Layers)
	if k <= 0 || k >= n {
		panic(fmt.Sprintf("resnet: Split(%d) of %d layers", k, n))
	}
	return nn.NewSequential(m.b, m.net.Layers[:k]...), nn.NewSequential(m.b, m.net.Layers[k:]...)
}

// Free drops what a training Forward kept, when no Backward will follow.
func (m *Model) Free() { m.net.Free() }

// Predict runs inference on n images of h×w pixels given as plain N×3×H×W values and returns
// the N×Outputs sigmoid outputs.
func (m *Model) Predict(x []float32, n, h, w int) ([]float32, error) {
	if len(x) != n*3*h*w {
		return nil, fmt.Errorf("resnet: Predict: %d values for %d×3×%d×%d images", len(x), n, h, w)
	}
	xt := m.b.FromHost(x, n, 3, h, w)
	y := m.Forward(xt, false)
	out := m.b.ToHost(y)
	m.b.Release(xt)
	m.b.Release(y)
	return out, nil
}
