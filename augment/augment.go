// Package augment implements catmark's training-time augmentations: a horizontal flip that keeps
// the landmarks' meaning, AlexNet-style PCA colour noise exactly as the seed computes it, and
// random similarity transforms (zoom, shift, rotation).
//
// Every transform works on an 8-bit RGB image together with its landmarks in NORMALISED
// coordinates: x/w and y/h of the original photo, not clipped. The cache stores each photo resized
// to S×S without keeping its aspect, so the same coordinates hold on the cached image: pixel column
// i covers [i/S, (i+1)/S) and its centre is at (i+0.5)/S.
//
// All randomness comes from the caller's *rand.Rand: the same generator state gives the same
// result. Config.Draw takes the random decisions for one photo (a Plan); the Plan applies them to
// pixels and points, so a data loader can fuse the pixel work with its own conversion.
package augment

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/catmark/catmark/imgproc"
	"github.com/catmark/catmark/landmark"
)

// DefaultPCAStd is the standard deviation of the PCA colour weights α when Config.PCAStd is zero:
// the seed's 0.1.
const DefaultPCAStd = 0.1

// Config selects the augmentations. The zero Config is the identity.
//
// Random decisions are drawn in a fixed order, each only when its augmentation is on: the flip
// (one Float64), the similarity (four Float64: scale, angle, shift x, shift y), the PCA weights
// (three NormFloat64).
type Config struct {
	Flip   bool       // mirror horizontally with probability 1/2
	PCA    bool       // add PCA colour noise (the seed's case 7)
	PCAStd float64    // standard deviation of the PCA weights α; 0 means DefaultPCAStd
	Scale  [2]float64 // zoom factor range [min, max], drawn log-uniformly; {0, 0} means no zoom
	Shift  float64    // largest shift along each axis as a fraction of the side
	Rotate float64    // largest rotation in degrees, either way
}

// Validate reports an impossible setting.
func (c Config) Validate() error {
	if c.PCAStd < 0 || math.IsNaN(c.PCAStd) {
		return fmt.Errorf("augment: PCA standard deviation %v is negative", c.PCAStd)
	}
	if c.Scale != [2]float64{} && !(c.Scale[0] > 0 && c.Scale[0] <= c.Scale[1]) {
		return fmt.Errorf("augment: scale range [%v, %v] is not 0 < min ≤ max", c.Scale[0], c.Scale[1])
	}
	if c.Shift < 0 || c.Shift >= 1 || math.IsNaN(c.Shift) {
		return fmt.Errorf("augment: shift %v is outside [0, 1)", c.Shift)
	}
	if c.Rotate < 0 || c.Rotate > 180 || math.IsNaN(c.Rotate) {
		return fmt.Errorf("augment: rotation %v° is outside [0, 180]", c.Rotate)
	}
	return nil
}

// Geometric reports whether c draws a similarity transform.
func (c Config) Geometric() bool {
	return c.Scale != [2]float64{} || c.Shift != 0 || c.Rotate != 0
}

// Plan is the outcome of one photo's random decisions.
type Plan struct {
	Flip   bool   // mirror first
	Warped bool   // then apply Warp
	Warp   Affine // the similarity applied after the flip (Identity when Warped is false)
	Color  [3]int // then add this to every pixel's R, G, B and clip to 0…255 (PCA colour noise)
}

// Draw takes the random decisions of c for img; the image is only read. The PCA colour noise
// depends on img's colours: they are analysed as img is given, before the flip (which does not
// change them) and the warp (which would, slightly, at the borders). Draw panics if c is invalid
// (see Validate).
func (c Config) Draw(rng *rand.Rand, img *imgproc.RGB) Plan {
	if err := c.Validate(); err != nil {
		panic(err)
	}
	p := Plan{Warp: Identity}
	if c.Flip {
		p.Flip = rng.Float64() < 0.5
	}
	if c.Geometric() {
		p.Warped = true
		p.Warp = RandomSimilarity(rng, c.Scale, c.Shift, c.Rotate)
	}
	if c.PCA {
		std := c.PCAStd
		if std == 0 {
			std = DefaultPCAStd
		}
		p.Color = AnalyzeColor(img).Shift(DrawAlpha(rng, std))
	}
	return p
}

// Geometry returns the whole geometric map of normalised coordinates: the flip (if any), then
// the warp.
func (p Plan) Geometry() Affine {
	g := Identity
	if p.Flip {
		g = MirrorX
	}
	return g.Then(p.Warp)
}

// Points maps normalised landmarks through the plan: mirrored with the mirror permutation when
// p.Flip, then warped. The result is not clipped.
func (p Plan) Points(pts landmark.Points) landmark.Points {
	if p.Flip {
		pts = pts.FlipNormalized()
	}
	if p.Warped {
		pts = p.Warp.Points(pts)
	}
	return pts
}

// Image returns a new image: img transformed by the plan. img is not modified.
func (p Plan) Image(img *imgproc.RGB) *imgproc.RGB {
	var out *imgproc.RGB
	if p.Warped {
		out = imgproc.New(img.W, img.H)
		Warp(out, img, p.Geometry())
	} else {
		out = img.Clone()
		if p.Flip {
			FlipImage(out)
		}
	}
	if p.Color != [3]int{} {
		AddColor(out, p.Color)
	}
	return out
}

// Apply augments one photo: it draws a Plan and returns a new image and the landmarks mapped with
// it. img is not modified; pts are normalised and the result is not clipped.
func (c Config) Apply(rng *rand.Rand, img *imgproc.RGB, pts landmark.Points) (*imgproc.RGB, landmark.Points) {
	p := c.Draw(rng, img)
	return p.Image(img), p.Points(pts)
}

// FlipImage mirrors img horizontally in place.
func FlipImage(img *imgproc.RGB) {
	w := img.W
	for y := 0; y < img.H; y++ {
		row := img.Pix[y*w*3 : (y+1)*w*3]
		for i, j := 0, 3*(w-1); i < j; i, j = i+3, j-3 {
			row[i], row[j] = row[j], row[i]
			row[i+1], row[j+1] = row[j+1], row[i+1]
			row[i+2], row[j+2] = row[j+2], row[i+2]
		}
	}
}

// Flip mirrors img horizontally in place and returns pts mirrored to match: x → 1−x, then every
// point moves to its mirror partner's place (landmark.Points.FlipNormalized), so point 0 is again
// the eye on the image's left.
func Flip(img *imgproc.RGB, pts landmark.Points) landmark.Points {
	FlipImage(img)
	return pts.FlipNormalized()
}

// Similarity applies a random similarity transform (RandomSimilarity) to img and pts together and
// returns a new image and the mapped points; img is not modified.
func Similarity(rng *rand.Rand, img *imgproc.RGB, pts landmark.Points, scale [2]float64, shift, rotate float64) (*imgproc.RGB, landmark.Points) {
	a := RandomSimilarity(rng, scale, shift, rotate)
	out := imgproc.New(img.W, img.H)
	Warp(out, img, a)
	return out, a.Points(pts)
}
