package augment

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/catmark/catmark/imgproc"
)

// naivePCA computes the standardised covariance the seed's numpy way, in two passes.
func naiveCov(img *imgproc.RGB) [3][3]float64 {
	n := img.W * img.H
	var mean, std [3]float64
	for i := 0; i < n; i++ {
		for c := 0; c < 3; c++ {
			mean[c] += float64(img.Pix[3*i+c])
		}
	}
	for c := range mean {
		mean[c] /= float64(n)
	}
	for i := 0; i < n; i++ {
		for c := 0; c < 3; c++ {
			d := float64(img.Pix[3*i+c]) - mean[c]
			std[c] += d * d
		}
	}
	for c := range std {
		std[c] = math.Sqrt(std[c] / float64(n)) // np.std: population
	}
	var cov [3][3]float64
	for i := 0; i < n; i++ {
		var z [3]float64
		for c := 0; c < 3; c++ {
			z[c] = (float64(img.Pix[3*i+c]) - mean[c]) / std[c]
		}
		for c := 0; c < 3; c++ {
			for e := 0; e < 3; e++ {
				cov[c][e] += z[c] * z[e]
			}
		}
	}
	for c := 0; c < 3; c++ {
		for e := 0; e < 3; e++ {
			cov[c][e] /= float64(n - 1) // np.cov: sample
		}
	}
	return cov
}

func TestAnalyzeColorOnPhotos(t *testing.T) {
	for _, p := range somePhotos(t, 24) {
		pc := AnalyzeColor(p.img)
		want := naiveCov(p.img)
		n := float64(p.img.W * p.img.H)
		for c := 0; c < 3; c++ {
			// Standardised with the population std, divided by n−1: the diagonal is n/(n−1).
			if math.Abs(pc.Cov[c][c]-n/(n-1)) > 1e-9 {
				t.Errorf("%s: Cov[%d][%d] = %v, want n/(n−1) = %v", p.name, c, c, pc.Cov[c][c], n/(n-1))
			}
			for e := 0; e < 3; e++ {
				if math.Abs(pc.Cov[c][e]-want[c][e]) > 1e-9 {
					t.Errorf("%s: Cov[%d][%d] = %v, two-pass float64 gives %v", p.name, c, e, pc.Cov[c][e], want[c][e])
				}
			}
		}
		// P·diag(λ)·Pᵀ reconstructs the covariance, and P is orthonormal.
		for i := 0; i < 3; i++ {
			for j := 0; j < 3; j++ {
				rec, dot := 0.0, 0.0
				for k := 0; k < 3; k++ {
					rec += pc.Vectors[i][k] * pc.Values[k] * pc.Vectors[j][k]
					dot += pc.Vectors[k][i] * pc.Vectors[k][j]
				}
				if math.Abs(rec-pc.Cov[i][j]) > 1e-12 {
					t.Errorf("%s: P·Λ·Pᵀ[%d][%d] = %v, covariance %v", p.name, i, j, rec, pc.Cov[i][j])
				}
				id := 0.0
				if i == j {
					id = 1
				}
				if math.Abs(dot-id) > 1e-12 {
					t.Errorf("%s: PᵀP[%d][%d] = %v, want %v", p.name, i, j, dot, id)
				}
			}
		}
		// The eigenvalues of a correlation matrix are non-negative and sum to its trace.
		if sum := pc.Values[0] + pc.Values[1] + pc.Values[2]; math.Abs(sum-3*n/(n-1)) > 1e-9 || pc.Values[0] < -1e-12 {
			t.Errorf("%s: eigenvalues %v (sum %v, want %v)", p.name, pc.Values, sum, 3*n/(n-1))
		}
	}
}

func TestPCAColorStdZeroIsIdentity(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, p := range somePhotos(t, 24) {
		img := p.img.Clone()
		if shift := PCAColor(img, rng, 0); shift != [3]int{} {
			t.Errorf("%s: shift %v with std 0", p.name, shift)
		}
		if !bytes.Equal(img.Pix, p.img.Pix) {
			t.Errorf("%s: PCA colour noise with std 0 changed the image", p.name)
		}
	}
}

// The noise is one shift per channel added to every pixel and clipped.
func TestPCAColorShiftsEveryPixel(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	nonzero := 0
	for _, p := range somePhotos(t, 24) {
		img := p.img.Clone()
		shift := PCAColor(img, rng, 0.1)
		if shift != [3]int{} {
			nonzero++
		}
		for i, v := range p.img.Pix {
			want := min(max(int(v)+shift[i%3], 0), 255)
			if int(img.Pix[i]) != want {
				t.Fatalf("%s: byte %d: %d + shift %d gave %d, want %d", p.name, i, v, shift[i%3], img.Pix[i], want)
			}
		}
		// |δ| ≤ 255·Σ|α_k|·λ_k; with α ~ N(0, 0.01) and Σλ ≈ 3 a shift beyond 255·3·0.5 is absurd.
		for _, s := range shift {
			if s > 400 || s < -400 {
				t.Errorf("%s: shift %v is implausibly large", p.name, shift)
			}
		}
	}
	if nonzero == 0 {
		t.Errorf("PCA colour noise never shifted a photo")
	}
}

// The shift is P·(α∘λ)·255: along an eigenvector the shift is that vector scaled by α_k·λ_k·255.
func TestShiftAlongEigenvector(t *testing.T) {
	p := somePhotos(t, 4)[0]
	pc := AnalyzeColor(p.img)
	for k := 0; k < 3; k++ {
		var alpha [3]float64
		alpha[k] = 1
		got := pc.Shift(alpha)
		for i := 0; i < 3; i++ {
			want := math.Trunc(pc.Vectors[i][k] * pc.Values[k] * 255)
			if float64(got[i]) != want {
				t.Errorf("eigenvector %d: shift %v, want component %d = %v", k, got, i, want)
			}
		}
	}
}

func TestAnalyzeColorConstantChannel(t *testing.T) {
	img := imgproc.New(8, 8)
	for i := 0; i < 64; i++ {
		img.Pix[3*i] = uint8(i * 3) // red varies, green and blue are constant
		img.Pix[3*i+1] = 7
	}
	pc := AnalyzeColor(img)
	for c := 0; c < 3; c++ {
		for e := 0; e < 3; e++ {
			if math.IsNaN(pc.Cov[c][e]) || (c != e || c > 0) && pc.Cov[c][e] != 0 {
				t.Errorf("Cov[%d][%d] = %v", c, e, pc.Cov[c][e])
			}
		}
	}
	rng := rand.New(rand.NewPCG(1, 1))
	before := img.Clone()
	s := PCAColor(img, rng, 0.1)
	if s[1] != 0 || s[2] != 0 {
		t.Errorf("constant channels shifted: %v", s)
	}
	for i := range img.Pix {
		if i%3 != 0 && img.Pix[i] != before.Pix[i] {
			t.Fatalf("constant channel changed at byte %d", i)
		}
	}
}

func BenchmarkAnalyzeColor224(b *testing.B) {
	img := imgproc.New(224, 224)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range img.Pix {
		img.Pix[i] = uint8(rng.IntN(256))
	}
	b.SetBytes(int64(len(img.Pix)))
	for b.Loop() {
		AnalyzeColor(img)
	}
}
