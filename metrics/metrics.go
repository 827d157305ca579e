// Package metrics scores landmark predictions against the truth: the seed's MSE on normalised
// coordinates, and the face-landmark literature's NME, failure rate and PCK, normalised by the
// distance between the two true eyes.
//
// Definitions (see the project's SPEC.md, section "Metrics"), over the images that are measured:
//
//	MSE           mean over images and the 18 values of (p−t)², where p and t are normalised to
//	              x/width, y/height and clipped to [0,1] (the seed's metric, comparable to its table)
//	NME           per image, the mean over the 9 points of |p−t| (pixels) / d, d the distance
//	              between the two TRUE eyes; averaged over images
//	FailureRate   share of images whose NME is above FailureThreshold (0.10)
//	PCK@a         share of all points (9 per image) with |p−t| / d ≤ a (inclusive: a point exactly
//	              at a·d counts as correct), for a = 0.05 and 0.1
//	PerPoint[i]   mean over images of |p_i−t_i| / d
//
// An image whose true eyes coincide (d = 0, or d not finite), or whose width or height is not
// positive, cannot be normalised; it is left out of every figure and counted in Report.Skipped.
package metrics

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/catmark/catmark/landmark"
)

// FailureThreshold is the NME above which an image counts as a failure.
const FailureThreshold = 0.10

// Sample is one image's prediction and truth in the image's original pixel coordinates, with the
// image's size (used to normalise for MSE).
type Sample struct {
	Pred, Truth   landmark.Points
	Width, Height int
}

// PointErrors holds one figure per landmark in annotation order. In JSON it is a list of
// {"name": landmark name, "nme": value} objects, in annotation order.
type PointErrors [landmark.N]float64

type namedNME struct {
	Name string  `json:"name"`
	NME  float64 `json:"nme"`
}

// MarshalJSON writes e as [{"name":"left_eye","nme":…}, …].
func (e PointErrors) MarshalJSON() ([]byte, error) {
	out := make([]namedNME, landmark.N)
	for i, v := range e {
		out[i] = namedNME{landmark.Names[i], v}
	}
	return json.Marshal(out)
}

// UnmarshalJSON reads the form MarshalJSON writes; every landmark must appear exactly once, in any
// order.
func (e *PointErrors) UnmarshalJSON(b []byte) error {
	var in []namedNME
	if err := json.Unmarshal(b, &in); err != nil {
		return fmt.Errorf("metrics: per_point: %v", err)
	}
	var seen [landmark.N]bool
	for _, p := range in {
		i := indexOf(p.Name)
		if i < 0 {
			return fmt.Errorf("metrics: per_point: unknown landmark %q", p.Name)
		}
		if seen[i] {
			return fmt.Errorf("metrics: per_point: landmark %q appears twice", p.Name)
		}
		seen[i] = true
		e[i] = p.NME
	}
	for i, ok := range seen {
		if !ok {
			return fmt.Errorf("metrics: per_point: landmark %q missing", landmark.Names[i])
		}
	}
	return nil
}

func indexOf(name string) int {
	for i, n := range landmark.Names {
		if n == name {
			return i
		}
	}
	return -1
}

// Report holds the figures of an evaluation. With N = 0 (nothing measured) every figure is 0.
type Report struct {
	MSE         float64     `json:"mse"`
	NME         float64     `json:"nme"`
	FailureRate float64     `json:"failure_rate"`
	PCK005      float64     `json:"pck_0_05"`
	PCK01       float64     `json:"pck_0_1"`
	PerPoint    PointErrors `json:"per_point"` // mean error per point / eye distance
	N           int         `json:"n"`         // images measured
	Skipped     int         `json:"skipped"`   // images left out: true eye distance 0 or bad size
}

// String formats the headline figures on one line.
func (r Report) String() string {
	return fmt.Sprintf("n=%d skipped=%d mse=%.5f nme=%.4f failure=%.3f pck@0.05=%.3f pck@0.1=%.3f",
		r.N, r.Skipped, r.MSE, r.NME, r.FailureRate, r.PCK005, r.PCK01)
}

// Errors returns each point's pixel error divided by the distance between the two true eyes;
// ok is false when the sample cannot be measured (eye distance 0 or not finite, or a non-positive
// image size).
func (s Sample) Errors() (e PointErrors, ok bool) {
	d := s.Truth.EyeDistance()
	if !(d > 0) || math.IsInf(d, 0) || s.Width <= 0 || s.Height <= 0 {
		return e, false
	}
	for i := range e {
		e[i] = math.Hypot(s.Pred[i].X-s.Truth[i].X, s.Pred[i].Y-s.Truth[i].Y) / d
	}
	return e, true
}

// MSE returns the seed's metric for one sample: the mean over the 18 values of the squared
// difference of the normalised, clipped coordinates.
func (s Sample) MSE() float64 {
	p := s.Pred.Normalize(s.Width, s.Height)
	t := s.Truth.Normalize(s.Width, s.Height)
	var sum float64
	for i := range p {
		dx, dy := p[i].X-t[i].X, p[i].Y-t[i].Y
		sum += dx*dx + dy*dy
	}
	return sum / landmark.Dim
}

// Compute scores the samples (see the package documentation for the definitions).
func Compute(samples []Sample) Report {
	var r Report
	var mse, nme float64
	var fail, pck005, pck01 int
	for _, s := range samples {
		e, ok := s.Errors()
		if !ok {
			r.Skipped++
			continue
		}
		r.N++
		mse += s.MSE()
		var img float64
		for i, v := range e {
			img += v
			r.PerPoint[i] += v
			if v <= 0.05 {
				pck005++
			}
			if v <= 0.1 {
				pck01++
			}
		}
		img /= landmark.N
		nme += img
		if img > FailureThreshold {
			fail++
		}
	}
	if r.N == 0 {
		return r
	}
	n := float64(r.N)
	r.MSE = mse / n
	r.NME = nme / n
	r.FailureRate = float64(fail) / n
	r.PCK005 = float64(pck005) / (n * landmark.N)
	r.PCK01 = float64(pck01) / (n * landmark.N)
	for i := range r.PerPoint {
		r.PerPoint[i] /= n
	}
	return r
}
