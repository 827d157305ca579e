package resnet_test

import (
	"fmt"

	"github.com/catmark/catmark/engine/ref"
	"github.com/catmark/catmark/models/resnet"
)

// A ResNet-18 landmark regressor at a quarter of the standard width, with the seed's freezing,
// predicting on a batch of two 64×64 images. (704,418 = ResNet-18 without its 513,000-value
// ImageNet head, 11,176,512, with convolutions at 1/16, the stem and batch norms at 1/4 of the
// values, plus a 128×18 head.)
func Example() {
	m, err := resnet.New(ref.New(), resnet.Config{Depth: 18, Width: 16, Outputs: 18, InputSize: 64}, 1)
	if err != nil {
		panic(err)
	}
	if err := m.Freeze("stem", "layer1", "layer2"); err != nil {
		panic(err)
	}
	trainable := 0
	for _, p := range m.Params() {
		if p.Trainable() {
			trainable++
		}
	}
	y, err := m.Predict(make([]float32, 2*3*64*64), 2, 64, 64)
	if err != nil {
		panic(err)
	}
	fmt.Println(m.NumParams(), "parameters in", len(m.Params()), "tensors,", trainable, "trainable")
	fmt.Println(len(y), "outputs in (0, 1):", y[0] > 0 && y[0] < 1)
	fmt.Println(m.Params()[0].Name, m.Params()[len(m.Params())-1].Name)
	// Output:
	// 704418 parameters in 102 tensors, 32 trainable
	// 36 outputs in (0, 1): true
	// conv1.weight fc.bias
}
