package augment

import (
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"

	"github.com/catmark/catmark/imgproc"
)

// ColorPCA is the principal-component analysis of one image's colours, computed as the seed's
// pca_color_augmentation does: every channel is standardised with its mean and population standard
// deviation (numpy's std), Cov is the sample covariance of the standardised channels (numpy's cov,
// divisor n−1), and Values and Vectors are its eigenvalues (ascending) and unit eigenvectors.
// A constant channel standardises to zero (numpy would give NaN), so its row and column of Cov
// are zero.
type ColorPCA struct {
	N       int           // number of pixels
	Mean    [3]float64    // channel means, 0…255
	Std     [3]float64    // channel population standard deviations
	Cov     [3][3]float64 // covariance of the standardised channels
	Values  [3]float64    // eigenvalues λ of Cov, ascending
	Vectors [3][3]float64 // Vectors[i][k] is component i of the k-th eigenvector (P's columns)
}

// exactLimit is the largest pixel count for which the centred sums are computed exactly in int64.
const exactLimit = 1 << 22

// AnalyzeColor computes the colour PCA of img in one pass over its pixels. The sums are exact
// (integers); the image is only read.
func AnalyzeColor(img *imgproc.RGB) ColorPCA {
	pix := img.Pix[:img.W*img.H*3]
	var s0, s1, s2, q00, q01, q02, q11, q12, q22 uint64
	for i := 0; i < len(pix)/3; i++ {
		px := pix[3*i : 3*i+3 : 3*i+3]
		r, g, b := uint64(px[0]), uint64(px[1]), uint64(px[2])
		s0 += r
		s1 += g
		s2 += b
		q00 += r * r
		q01 += r * g
		q02 += r * b
		q11 += g * g
		q12 += g * b
		q22 += b * b
	}
	n := img.W * img.H
	pc := ColorPCA{N: n}
	if n < 2 {
		return pc
	}
	s := [3]uint64{s0, s1, s2}
	q := [3][3]uint64{{q00, q01, q02}, {q01, q11, q12}, {q02, q12, q22}}
	// d[c][e] = n·Σ x_c x_e − Σ x_c Σ x_e = n² × the population covariance of channels c and e.
	var d [3][3]float64
	for c := 0; c < 3; c++ {
		for e := 0; e < 3; e++ {
			if n <= exactLimit {
				d[c][e] = float64(int64(n)*int64(q[c][e]) - int64(s[c])*int64(s[e]))
			} else {
				d[c][e] = float64(n)*float64(q[c][e]) - float64(s[c])*float64(s[e])
			}
		}
	}
	fn := float64(n)
	for c := 0; c < 3; c++ {
		pc.Mean[c] = float64(s[c]) / fn
		pc.Std[c] = math.Sqrt(math.Max(d[c][c], 0)) / fn
	}
	// Σ (x_c−m_c)/σ_c · (x_e−m_e)/σ_e / (n−1) = d[c][e]·n / ((n−1)·√(d[c][c]·d[e][e])).
	for c := 0; c < 3; c++ {
		for e := 0; e < 3; e++ {
			den := math.Sqrt(d[c][c] * d[e][e])
			if den > 0 {
				pc.Cov[c][e] = d[c][e] * fn / ((fn - 1) * den)
			}
		}
	}
	sd := mat.NewSymDense(3, []float64{
		pc.Cov[0][0], pc.Cov[0][1], pc.Cov[0][2],
		pc.Cov[1][0], pc.Cov[1][1], pc.Cov[1][2],
		pc.Cov[2][0], pc.Cov[2][1], pc.Cov[2][2],
	})
	var eig mat.EigenSym
	if !eig.Factorize(sd, true) {
		// Not reached for a finite 3×3 symmetric matrix; leave the zero decomposition (no noise).
		return pc
	}
	vals := eig.Values(nil)
	var vecs mat.Dense
	eig.VectorsTo(&vecs)
	for k := 0; k < 3; k++ {
		pc.Values[k] = vals[k]
		for i := 0; i < 3; i++ {
			pc.Vectors[i][k] = vecs.At(i, k)
		}
	}
	return pc
}

// DrawAlpha draws the three PCA weights α ~ N(0, std²).
func DrawAlpha(rng *rand.Rand, std float64) [3]float64 {
	var a [3]float64
	for k := range a {
		a[k] = rng.NormFloat64() * std
	}
	return a
}

// Shift returns the colour shift P·(α∘λ)·255 for weights alpha, truncated toward zero to whole
// levels as the seed does (astype(np.int32)).
func (pc ColorPCA) Shift(alpha [3]float64) [3]int {
	var out [3]int
	for i := 0; i < 3; i++ {
		v := 0.0
		for k := 0; k < 3; k++ {
			v += pc.Vectors[i][k] * alpha[k] * pc.Values[k]
		}
		v *= 255
		switch {
		case math.IsNaN(v):
			v = 0
		case v > 1e6:
			v = 1e6
		case v < -1e6:
			v = -1e6
		}
		out[i] = int(v)
	}
	return out
}

// PCAColor adds PCA colour noise to img in place, as the seed does: α ~ N(0, std²) per principal
// component, every pixel shifted by P·(α∘λ)·255 (truncated to whole levels) and clipped to 0…255.
// It returns the shift. With std 0 the image is unchanged.
func PCAColor(img *imgproc.RGB, rng *rand.Rand, std float64) [3]int {
	shift := AnalyzeColor(img).Shift(DrawAlpha(rng, std))
	AddColor(img, shift)
	return shift
}

// ColorTable returns, for each channel, the map v ↦ clip(v + shift[c], 0, 255).
func ColorTable(shift [3]int) [3][256]uint8 {
	var t [3][256]uint8
	for c := 0; c < 3; c++ {
		for v := 0; v < 256; v++ {
			t[c][v] = uint8(min(max(v+shift[c], 0), 255))
		}
	}
	return t
}

// AddColor adds shift to every pixel's R, G and B in place, clipping to 0…255.
func AddColor(img *imgproc.RGB, shift [3]int) {
	if shift == [3]int{} {
		return
	}
	t := ColorTable(shift)
	pix := img.Pix[:img.W*img.H*3]
	for len(pix) >= 3 {
		pix[0] = t[0][pix[0]]
		pix[1] = t[1][pix[1]]
		pix[2] = t[2][pix[2]]
		pix = pix[3:]
	}
}
