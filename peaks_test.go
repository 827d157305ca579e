package catmark

import (
	"cmp"
	"math"
	"slices"
	"testing"

	"github.com/catmark/catmark/landmark"
)

// heatmapEvidence turns each map's logits into its softmax, without overflow, and sums them.
func TestHeatmapEvidence(t *testing.T) {
	maps := []float32{
		0, 0, 0, // uniform: a third each
		0, float32(math.Log(3)), 0, // 1:3:1
		1000, 1000, -1000, // large logits: half, half, none
	}
	prob, ev := heatmapEvidence(maps, 3, 3)
	wantProb := []float64{1.0 / 3, 1.0 / 3, 1.0 / 3, 0.2, 0.6, 0.2, 0.5, 0.5, 0}
	wantEv := []float64{1.0/3 + 0.2 + 0.5, 1.0/3 + 0.6 + 0.5, 1.0/3 + 0.2}
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-6 }
	if !slices.EqualFunc(prob, wantProb, near) {
		t.Errorf("prob %v, want %v", prob, wantProb)
	}
	if !slices.EqualFunc(ev, wantEv, near) {
		t.Errorf("ev %v, want %v", ev, wantEv)
	}
}

// findPeaks smooths the evidence over 3×3 cells and keeps the cells no lower than their eight
// neighbours and at least a tenth of the highest, highest first, at most maxPeaks.
func TestFindPeaks(t *testing.T) {
	type bump struct {
		i, j int
		v    float64 // height; the bump falls off as a Gaussian of 1 cell
	}
	var many []bump // 12 bumps 5 cells apart, the first the highest
	for k := range 12 {
		many = append(many, bump{2 + 5*(k/4), 2 + 5*(k%4), 1 - 0.05*float64(k)})
	}
	tests := []struct {
		name   string
		h, w   int
		bumps  []bump
		spikes [][2]int // single cells of evidence 1, on top of the bumps
		want   [][2]int // the peaks' cells, highest first
	}{
		{name: "one bump", h: 8, w: 10, bumps: []bump{{3, 4, 1}}, want: [][2]int{{3, 4}}},
		// Cells outside the map count 0: a bump in a corner peaks a cell inward, where the 3×3
		// sum holds more of it.
		{name: "bump in a corner", h: 8, w: 10, bumps: []bump{{0, 0, 1}}, want: [][2]int{{1, 1}}},
		{name: "bump in the far corner", h: 8, w: 10, bumps: []bump{{7, 9, 2}}, want: [][2]int{{6, 8}}},
		{name: "bump on an edge", h: 8, w: 10, bumps: []bump{{0, 5, 1}}, want: [][2]int{{1, 5}}},
		{name: "two apart, highest first", h: 8, w: 10, bumps: []bump{{1, 1, 0.5}, {6, 8, 1}}, want: [][2]int{{6, 8}, {1, 1}}},
		{name: "below a tenth of the highest", h: 8, w: 10, bumps: []bump{{1, 1, 1}, {6, 8, 0.09}}, want: [][2]int{{1, 1}}},
		{name: "above a tenth of the highest", h: 8, w: 10, bumps: []bump{{1, 1, 1}, {6, 8, 0.11}}, want: [][2]int{{1, 1}, {6, 8}}},
		// Smoothing: bumps two cells apart add up to one peak between them.
		{name: "close bumps merge", h: 8, w: 10, bumps: []bump{{3, 2, 1}, {3, 4, 0.5}}, want: [][2]int{{3, 3}}},
		// A plateau: every one of its cells is no lower than its neighbours. A lone cell of
		// evidence smooths into one (here the whole 1×3 map).
		{name: "plateau", h: 1, w: 3, spikes: [][2]int{{0, 1}}, want: [][2]int{{0, 0}, {0, 1}, {0, 2}}},
		{name: "at most maxPeaks", h: 15, w: 20, bumps: many, want: [][2]int{{2, 2}, {2, 7}, {2, 12}, {2, 17}, {7, 2}, {7, 7}, {7, 12}, {7, 17}}},
	}
	for _, tc := range tests {
		h, w := tc.h, tc.w
		ev := make([]float64, h*w)
		for i := range h {
			for j := range w {
				for _, b := range tc.bumps {
					ev[i*w+j] += b.v * math.Exp(-float64((i-b.i)*(i-b.i)+(j-b.j)*(j-b.j))/2)
				}
			}
		}
		for _, s := range tc.spikes {
			ev[s[0]*w+s[1]]++
		}
		got := findPeaks(ev, h, w)
		// Peaks of equal height come in no promised order.
		slices.SortStableFunc(got, func(a, b peak) int {
			return cmp.Or(cmp.Compare(b.v, a.v), cmp.Compare(a.i, b.i), cmp.Compare(a.j, b.j))
		})
		var cells [][2]int
		for _, p := range got {
			cells = append(cells, [2]int{p.i, p.j})
			var sum float64 // the 3×3 sum of the evidence around the cell
			for i := max(p.i-1, 0); i <= min(p.i+1, h-1); i++ {
				for j := max(p.j-1, 0); j <= min(p.j+1, w-1); j++ {
					sum += ev[i*w+j]
				}
			}
			if math.Abs(p.v-sum) > 1e-12 {
				t.Errorf("%s: peak (%d, %d) has value %v, its smoothed evidence %v", tc.name, p.i, p.j, p.v, sum)
			}
		}
		if !slices.Equal(cells, tc.want) {
			t.Errorf("%s: findPeaks at %v, want %v", tc.name, cells, tc.want)
		}
	}
}

// pointsNear reads each point as the expected position of its map within peakWindow cells of the
// peak (clipped to the map), or the peak's own position when the map has no mass there.
func TestPointsNear(t *testing.T) {
	if peakWindow != 2 {
		t.Fatalf("the expectations below are for peakWindow 2, not %d", peakWindow)
	}
	const h, w = 5, 9      // cell (i, j) stands for (j/8, i/4)
	pk := peak{i: 1, j: 2} // its window: rows 0…3 (−1 clipped), columns 0…4
	k := landmark.N
	prob := make([]float64, k*h*w)
	set := func(m, i, j int, v float64) { prob[m*h*w+i*w+j] = v }
	set(0, 1, 2, 1)          // on the peak
	set(1, 0, 0, 0.5)        // half in the window's corner,
	set(1, 4, 8, 0.5)        // half outside it: only the inside counts
	set(2, 4, 8, 1)          // all outside: the peak's position
	set(3, 3, 4, 0.25)       // two equal cells inside,
	set(3, 1, 0, 0.25)       // their mean,
	set(3, 4, 0, 0.5)        // and one below the window (row 4)
	for m := 4; m < k; m++ { // uniform: the window's mean cell
		for c := range h * w {
			prob[m*h*w+c] = 1.0 / (h * w)
		}
	}
	want := landmark.Points{{X: 0.25, Y: 0.25}, {X: 0, Y: 0}, {X: 0.25, Y: 0.25}, {X: 0.25, Y: 0.5}}
	for m := 4; m < k; m++ {
		want[m] = landmark.Point{X: 0.25, Y: 0.375} // columns 0…4 average 2/8, rows 0…3 average 1.5/4
	}
	got := pointsNear(prob, k, h, w, pk)
	for m := range got {
		if math.Abs(got[m].X-want[m].X) > 1e-12 || math.Abs(got[m].Y-want[m].Y) > 1e-12 {
			t.Errorf("point %d: %v, want %v", m, got[m], want[m])
		}
	}
}
