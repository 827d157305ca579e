package resnet

import (
	"github.com/catmark/catmark/engine"
	"github.com/catmark/catmark/nn"
)

// block is a residual block: out = ReLU(main(x) + shortcut(x)), the shortcut being x itself or
// the downsample branch (1×1 convolution and batch norm).
type block struct {
	b    engine.Backend
	main *nn.Sequential
	down *nn.Sequential // nil for the identity
	out  engine.Tensor  // kept in training for the final ReLU's backward pass
}

// newBasicBlock returns ResNet-18/34's block: 3×3 conv (stride), BN, ReLU, 3×3 conv, BN.
func newBasicBlock(b engine.Backend, name string, in, planes, stride int) *block {
	main := nn.NewSequential(b,
		nn.NewConv2d(b, name+".conv1", in, planes, 3, stride, 1, false),
		nn.NewBatchNorm2d(b, name+".bn1", planes, true),
		nn.NewConv2d(b, name+".conv2", planes, planes, 3, 1, 1, false),
		nn.NewBatchNorm2d(b, name+".bn2", planes, false))
	return &block{b: b, main: main, down: newDownsample(b, name, in, planes, stride)}
}

// newBottleneck returns ResNet-50's block: 1×1 conv, BN, ReLU, 3×3 conv (stride), BN, ReLU,
// 1×1 conv to 4·planes, BN.
func newBottleneck(b engine.Backend, name string, in, planes, stride int) *block {
	main := nn.NewSequential(b,
		nn.NewConv2d(b, name+".conv1", in, planes, 1, 1, 0, false),
		nn.NewBatchNorm2d(b, name+".bn1", planes, true),
		nn.NewConv2d(b, name+".conv2", planes, planes, 3, stride, 1, false),
		nn.NewBatchNorm2d(b, name+".bn2", planes, true),
		nn.NewConv2d(b, name+".conv3", planes, 4*planes, 1, 1, 0, false),
		nn.NewBatchNorm2d(b, name+".bn3", 4*planes, false))
	return &block{b: b, main: main, down: newDownsample(b, name, in, 4*planes, stride)}
}

// newDownsample returns the projection shortcut, or nil when the identity fits.
func newDownsample(b engine.Backend, name string, in, out, stride int) *nn.Sequential {
	if stride == 1 && in == out {
		return nil
	}
	return nn.NewSequential(b,
		nn.NewConv2d(b, name+".downsample.0", in, out, 1, stride, 0, false),
		nn.NewBatchNorm2d(b, name+".downsample.1", out, false))
}

// Residual returns the block's branches: the block computes ReLU(main(x) + shortcut(x)), a nil
// shortcut being the identity.
func (k *block) Residual() (main, shortcut *nn.Sequential) { return k.main, k.down }

// Forward returns ReLU(main(x) + shortcut(x)). Both branches end in a batch norm without ReLU,
// whose backward pass does not read its output, so the branch outputs die at the join.
func (k *block) Forward(x engine.Tensor, train bool) engine.Tensor {
	k.Free()
	m := k.main.Forward(x, train)
	short := x
	if k.down != nil {
		short = k.down.Forward(x, train)
	}
	out := k.b.Add(m, short, true)
	k.b.Release(m)
	if k.down != nil {
		k.b.Release(short)
	}
	if train {
		k.out = out
	}
	return out
}

// Backward returns dx (if needInputGrad), the sum of both branches' input gradients.
func (k *block) Backward(dy engine.Tensor, needInputGrad bool) engine.Tensor {
	if k.out == nil {
		panic("resnet: block: Backward without a training Forward")
	}
	dsum := k.b.ReLUBackward(k.out, dy)
	k.out = nil
	dx := k.main.Backward(dsum, needInputGrad)
	var dshort engine.Tensor
	switch {
	case k.down != nil:
		dshort = k.down.Backward(dsum, needInputGrad)
	case needInputGrad:
		dshort = dsum // the identity passes the gradient on unchanged
	}
	switch {
	case dx == nil:
		dx = dshort
	case dshort != nil:
		k.b.AddInto(dx, dshort)
		if dshort != dsum {
			k.b.Release(dshort)
		}
	}
	if dx != dsum {
		k.b.Release(dsum)
	}
	return dx
}

// Free drops what a training Forward kept.
func (k *block) Free() {
	k.main.Free()
	if k.down != nil {
		k.down.Free()
	}
	k.out = nil
}

// Params returns the main branch's parameters, then the downsample's (torchvision's order).
func (k *block) Params() []*nn.Param {
	ps := k.main.Params()
	if k.down != nil {
		ps = append(ps, k.down.Params()...)
	}
	return ps
}
