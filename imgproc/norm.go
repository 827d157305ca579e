package imgproc

import "fmt"

// Norm maps an 8-bit channel value v to (v/255 − Mean[c]) / Std[c], the float input of a
// network. The zero Norm means Unit.
type Norm struct {
	Mean, Std [3]float64
}

var (
	// ImageNet is the normalisation torchvision's ImageNet weights expect.
	ImageNet = Norm{Mean: [3]float64{0.485, 0.456, 0.406}, Std: [3]float64{0.229, 0.224, 0.225}}
	// Unit is v/255, what the seed fed its network.
	Unit = Norm{Std: [3]float64{1, 1, 1}}
)

// NormNames are the names NormNamed knows, as checkpoints and training configs record them.
var NormNames = []string{"imagenet", "unit"}

// NormNamed returns the normalisation a model spec or training config names: "imagenet" or
// "unit".
func NormNamed(name string) (Norm, error) {
	switch name {
	case "imagenet":
		return ImageNet, nil
	case "unit":
		return Unit, nil
	}
	return Norm{}, fmt.Errorf("imgproc: unknown normalisation %q (want one of %q)", name, NormNames)
}

func (n Norm) orUnit() Norm {
	if n == (Norm{}) {
		return Unit
	}
	return n
}

// Table returns, for each channel, the normalised value of every 8-bit level after adding
// shift[c] and clipping to 0…255 (the PCA colour noise).
func (n Norm) Table(shift [3]int) [3][256]float32 {
	n = n.orUnit()
	var t [3][256]float32
	for c := 0; c < 3; c++ {
		for v := 0; v < 256; v++ {
			w := min(max(v+shift[c], 0), 255)
			t[c][v] = float32((float64(w)/255 - n.Mean[c]) / n.Std[c])
		}
	}
	return t
}

// Planes writes img into dst (3×H×W float32, NCHW: the R plane, then G, then B; rows top to
// bottom) normalised by n. len(dst) must be at least 3·W·H.
func (n Norm) Planes(img *RGB, dst []float32) {
	t := n.Table([3]int{})
	plane := img.W * img.H
	_ = dst[3*plane-1]
	for i := 0; i < plane; i++ {
		p := img.Pix[3*i : 3*i+3 : 3*i+3]
		dst[i], dst[plane+i], dst[2*plane+i] = t[0][p[0]], t[1][p[1]], t[2][p[2]]
	}
}

// Validate reports a standard deviation that is not positive (the zero Norm, Unit, is valid).
func (n Norm) Validate() error {
	for i, s := range n.orUnit().Std {
		if !(s > 0) {
			return fmt.Errorf("imgproc: normalisation std[%d] = %v, want > 0", i, s)
		}
	}
	return nil
}
