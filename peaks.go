package catmark

import (
	"math"
	"sort"

	"github.com/catmark/catmark/imgproc"
	"github.com/catmark/catmark/landmark"
)

// peakWindow is the half-side, in heatmap cells, of the window around a peak in which each
// point's position is taken.
const peakWindow = 2

// maxPeaks bounds the candidates one photo's heatmaps give.
const maxPeaks = 8

// peakPoints runs the coarse model's heatmaps on the photo and returns, for each peak of their
// combined evidence, the nine points read from the heatmaps near it, in photo pixels. The
// evidence is the sum over the nine points of each heatmap's softmax, smoothed over 3×3 cells; a
// peak is a cell no lower than its eight neighbours and at least a tenth of the highest; each
// point is the expected position of its heatmap's softmax within peakWindow cells of the peak.
func (d *Detector) peakPoints(photo *imgproc.RGB) ([]landmark.Points, error) {
	m := d.coarse
	s := m.Spec.Size
	// The coarse model learnt on photos of about 4:3 squashed to s×s. A wider photo (several
	// cats side by side, say) keeps that squash: its input grows in width instead, so each face
	// looks as the faces it learnt on.
	w, h := s, s
	if float64(photo.W) > tileAspect*float64(photo.H) {
		w = min(4*s, int(math.Round(float64(s)*float64(photo.W)/float64(photo.H)/tileAspect/16))*16)
	}
	norm, err := imgproc.NormNamed(m.Spec.Norm)
	if err != nil {
		return nil, err
	}
	x := make([]float32, 3*w*h)
	norm.Planes(photo.Resize(w, h), x)
	maps, shape, err := m.Heatmaps(x, 1, h, w)
	if err != nil {
		return nil, err
	}
	k := shape[1]
	h, w = shape[2], shape[3]
	prob, ev := heatmapEvidence(maps, k, h*w)
	peaks := findPeaks(ev, h, w)
	out := make([]landmark.Points, 0, len(peaks))
	for _, pk := range peaks {
		out = append(out, pointsNear(prob, k, h, w, pk).Denormalize(photo.W, photo.H))
	}
	return out, nil
}

// heatmapEvidence returns the softmax of each of k heatmaps of hw cells (k×hw logits, map after
// map), as prob (k×hw, each map summing to 1), and their sum over the k maps, ev (hw cells).
func heatmapEvidence(maps []float32, k, hw int) (prob, ev []float64) {
	prob = make([]float64, k*hw)
	ev = make([]float64, hw)
	for j := range k {
		z := maps[j*hw : (j+1)*hw]
		top := float64(z[0])
		for _, v := range z {
			top = max(top, float64(v))
		}
		var sum float64
		for p, v := range z {
			e := math.Exp(float64(v) - top)
			prob[j*hw+p] = e
			sum += e
		}
		for p := range hw {
			prob[j*hw+p] /= sum
			ev[p] += prob[j*hw+p]
		}
	}
	return prob, ev
}

// peak is a cell (row i, column j) of the evidence and its smoothed value v.
type peak struct {
	i, j int
	v    float64
}

// findPeaks returns the peaks of the evidence ev (h×w cells, row after row) smoothed by summing
// each cell's 3×3 neighbourhood (cells outside the map count 0): the cells no lower than any of
// their eight neighbours (so every cell of a plateau is one) and at least a tenth of the highest
// smoothed value, highest first, at most maxPeaks.
func findPeaks(ev []float64, h, w int) []peak {
	hw := h * w
	smooth := make([]float64, hw)
	for i := range h {
		for j := range w {
			for di := -1; di <= 1; di++ {
				for dj := -1; dj <= 1; dj++ {
					if ii, jj := i+di, j+dj; ii >= 0 && ii < h && jj >= 0 && jj < w {
						smooth[i*w+j] += ev[ii*w+jj]
					}
				}
			}
		}
	}
	top := 0.0
	for _, v := range smooth {
		top = max(top, v)
	}
	var peaks []peak
	for i := range h {
		for j := range w {
			v := smooth[i*w+j]
			if v < top/10 {
				continue
			}
			highest := true
			for di := -1; di <= 1 && highest; di++ {
				for dj := -1; dj <= 1; dj++ {
					if ii, jj := i+di, j+dj; (di != 0 || dj != 0) && ii >= 0 && ii < h && jj >= 0 && jj < w && smooth[ii*w+jj] > v {
						highest = false
						break
					}
				}
			}
			if highest {
				peaks = append(peaks, peak{i, j, v})
			}
		}
	}
	sort.Slice(peaks, func(a, b int) bool { return peaks[a].v > peaks[b].v })
	if len(peaks) > maxPeaks {
		peaks = peaks[:maxPeaks]
	}
	return peaks
}

// pointsNear returns the k points read near peak pk from prob (k maps of h×w cells, each a
// softmax): each point the expected position of its map within peakWindow cells of pk (rows and
// columns clipped to the map), cell (i, j) standing for (j/(w−1), i/(h−1)), or pk's own position
// when its map has no mass there.
func pointsNear(prob []float64, k, h, w int, pk peak) landmark.Points {
	hw := h * w
	var pts landmark.Points
	for j := range k {
		var sum, ex, ey float64
		for i := max(pk.i-peakWindow, 0); i <= min(pk.i+peakWindow, h-1); i++ {
			for jj := max(pk.j-peakWindow, 0); jj <= min(pk.j+peakWindow, w-1); jj++ {
				q := prob[j*hw+i*w+jj]
				sum += q
				ex += q * float64(jj) / float64(w-1)
				ey += q * float64(i) / float64(h-1)
			}
		}
		if sum == 0 {
			ex, ey, sum = float64(pk.j)/float64(w-1), float64(pk.i)/float64(h-1), 1
		}
		pts[j] = landmark.Point{X: ex / sum, Y: ey / sum}
	}
	return pts
}
