package nn

import "github.com/catmark/catmark/engine"

// MaxPool2d takes the maximum over square windows (PyTorch's semantics: padding never wins).
type MaxPool2d struct {
	P     engine.PoolParams
	b     engine.Backend
	x, ws engine.Tensor
}

// NewMaxPool2d returns a max pooling layer.
func NewMaxPool2d(b engine.Backend, kernel, stride, pad int) *MaxPool2d {
	return &MaxPool2d{P: engine.PoolParams{Kernel: kernel, Stride: stride, Pad: pad}, b: b}
}

// Forward returns the window maxima.
func (l *MaxPool2d) Forward(x engine.Tensor, train bool) engine.Tensor {
	l.Free()
	y, ws := l.b.MaxPool(x, l.P)
	if train {
		l.x, l.ws = x, ws
	} else {
		l.b.Release(ws)
	}
	return y
}

// Backward routes dy to the maxima's positions (and returns nil without needInputGrad).
func (l *MaxPool2d) Backward(dy engine.Tensor, needInputGrad bool) engine.Tensor {
	mustCache("MaxPool2d", l.x)
	var dx engine.Tensor
	if needInputGrad {
		dx = l.b.MaxPoolBackward(l.x, dy, l.ws, l.P)
	}
	l.Free()
	return dx
}

// Free releases the arg-max workspace.
func (l *MaxPool2d) Free() {
	release(l.b, l.ws)
	l.x, l.ws = nil, nil
}

// Params returns nil: pooling has no parameters.
func (l *MaxPool2d) Params() []*Param { return nil }

// GlobalAvgPool averages each channel, N×C×H×W → N×C. Its backward pass needs only the input's
// shape, so the caller may release the input right after Forward.
type GlobalAvgPool struct {
	b       engine.Backend
	inShape []int
}

// NewGlobalAvgPool returns a global average pooling layer.
func NewGlobalAvgPool(b engine.Backend) *GlobalAvgPool { return &GlobalAvgPool{b: b} }

// Forward returns the channel means.
func (l *GlobalAvgPool) Forward(x engine.Tensor, train bool) engine.Tensor {
	l.inShape = nil
	if train {
		l.inShape = append([]int(nil), x.Shape()...)
	}
	return l.b.GlobalAvgPool(x)
}

// Backward spreads dy evenly over each plane.
func (l *GlobalAvgPool) Backward(dy engine.Tensor, needInputGrad bool) engine.Tensor {
	if l.inShape == nil {
		panic("nn: GlobalAvgPool: Backward without a training Forward")
	}
	var dx engine.Tensor
	if needInputGrad {
		dx = l.b.GlobalAvgPoolBackward(dy, l.inShape)
	}
	l.inShape = nil
	return dx
}

// Free forgets the input shape.
func (l *GlobalAvgPool) Free() { l.inShape = nil }

// Params returns nil.
func (l *GlobalAvgPool) Params() []*Param { return nil }
