package catmark

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/catmark/catmark/facecrop"
	"github.com/catmark/catmark/model"
)

// steps spreads windows evenly from edge to edge of the axis, at most stride sides apart and no
// more of them than that needs, or gives one centred window when the side is not below the
// axis's length.
func TestSteps(t *testing.T) {
	tests := []struct {
		n, side, stride float64
		want            []float64 // nil: only the properties below
	}{
		{n: 100, side: 100, stride: 0.5, want: []float64{50}},  // the window fills the axis
		{n: 100, side: 150, stride: 0.5, want: []float64{50}},  // the window is longer than the axis
		{n: 100, side: 50, stride: 1, want: []float64{25, 75}}, // exactly one stride between the ends
		{n: 100, side: 40, stride: 0.5, want: []float64{20, 40, 60, 80}},
		{n: 100, side: 40, stride: 1, want: []float64{20, 50, 80}},
		{n: 101, side: 100, stride: 0.5, want: []float64{50, 51}}, // a pixel over: two windows
		{n: 320, side: 48, stride: 0.5}, {n: 240, side: 72, stride: 0.5}, {n: 320, side: 160, stride: 0.5},
		{n: 240, side: 243, stride: 0.5}, {n: 333, side: 50, stride: 0.5}, {n: 320, side: 48, stride: 1},
		{n: 300, side: 100, stride: 1}, {n: 301, side: 100, stride: 1}, {n: 240, side: 243, stride: 1},
	}
	for _, tc := range tests {
		c := steps(tc.n, tc.side, tc.stride)
		if tc.want != nil && !slices.EqualFunc(c, tc.want, func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }) {
			t.Errorf("steps(%v, %v, %v) = %v, want %v", tc.n, tc.side, tc.stride, c, tc.want)
		}
		if tc.side >= tc.n {
			if len(c) != 1 || c[0] != tc.n/2 {
				t.Errorf("steps(%v, %v, %v) = %v, want one centred window", tc.n, tc.side, tc.stride, c)
			}
			continue
		}
		if math.Abs(c[0]-tc.side/2) > 1e-9 || math.Abs(c[len(c)-1]-(tc.n-tc.side/2)) > 1e-9 {
			t.Errorf("steps(%v, %v, %v) = %v: windows do not reach both edges", tc.n, tc.side, tc.stride, c)
		}
		gap := tc.side * tc.stride
		for i := 1; i < len(c); i++ {
			if d := c[i] - c[i-1]; d <= 0 || d > gap+1e-9 {
				t.Errorf("steps(%v, %v, %v): windows %d and %d are %v apart, want (0, %v]", tc.n, tc.side, tc.stride, i-1, i, d, gap)
			}
		}
		// One window fewer would leave a gap wider than the stride.
		if k := len(c) - 1; k > 1 && (tc.n-tc.side)/float64(k-1) <= gap+1e-9 {
			t.Errorf("steps(%v, %v, %v) = %d windows, %d would do", tc.n, tc.side, tc.stride, len(c), k)
		}
	}
}

// windowBoxes gives, at each window side of at least minWindow pixels (and always the whole
// photo's), windows that cover the photo from edge to edge with centres at most half a side
// apart, every place at every angle, in the angles' order.
func TestWindowBoxes(t *testing.T) {
	tests := []struct {
		name   string
		w, h   int
		angles []float64
		sides  []float64 // windowSides × the longer side, those ≥ minWindow and the last
	}{
		{"4:3", 640, 480, []float64{0}, []float64{96, 144, 217.6, 320, 486.4, 704}},
		{"portrait at three angles", 300, 900, []float64{0, 90, -90}, []float64{135, 202.5, 306, 450, 684, 990}},
		{"small: the smallest sides skipped", 100, 80, []float64{0}, []float64{34, 50, 76, 110}},
		{"tiny: only the whole photo", 20, 20, []float64{0, 180}, []float64{22}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			boxes := windowBoxes(tc.w, tc.h, tc.angles)
			bySide := map[float64][]facecrop.Box{}
			var sides []float64
			for _, b := range boxes {
				if _, ok := bySide[b.Side]; !ok {
					sides = append(sides, b.Side)
				}
				bySide[b.Side] = append(bySide[b.Side], b)
			}
			if !slices.EqualFunc(sides, tc.sides, func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }) {
				t.Fatalf("window sides %v, want %v", sides, tc.sides)
			}
			for _, side := range sides {
				bs := bySide[side]
				if len(bs)%len(tc.angles) != 0 {
					t.Fatalf("side %v: %d windows for %d angles", side, len(bs), len(tc.angles))
				}
				places := map[[2]float64]bool{}
				var xs, ys []float64
				for p := 0; p < len(bs); p += len(tc.angles) {
					at := [2]float64{bs[p].CX, bs[p].CY}
					if places[at] {
						t.Errorf("side %v: place %v twice", side, at)
					}
					places[at] = true
					for a, angle := range tc.angles {
						if b := bs[p+a]; b.CX != at[0] || b.CY != at[1] || b.Angle != angle {
							t.Errorf("side %v: window %d is %+v, want place %v at angle %v", side, p+a, b, at, angle)
						}
					}
					if !slices.Contains(xs, at[0]) {
						xs = append(xs, at[0])
					}
					if !slices.Contains(ys, at[1]) {
						ys = append(ys, at[1])
					}
				}
				if len(places) != len(xs)*len(ys) {
					t.Errorf("side %v: %d places, not the grid of %d columns and %d rows", side, len(places), len(xs), len(ys))
				}
				slices.Sort(xs)
				slices.Sort(ys)
				coverAxis(t, "x", float64(tc.w), side, xs)
				coverAxis(t, "y", float64(tc.h), side, ys)
			}
		})
	}
}

// coverAxis checks windows of side centred at c (sorted) along an axis of length n: one centred
// window if the side is not below n, else windows reaching both ends at most side/2 apart.
func coverAxis(t *testing.T, axis string, n, side float64, c []float64) {
	t.Helper()
	if side >= n {
		if len(c) != 1 || c[0] != n/2 {
			t.Errorf("side %v over %s length %v: centres %v, want one at %v", side, axis, n, c, n/2)
		}
		return
	}
	if math.Abs(c[0]-side/2) > 1e-9 || math.Abs(c[len(c)-1]+side/2-n) > 1e-9 {
		t.Errorf("side %v along %s (length %v): windows span [%v, %v], want [0, %v]", side, axis, n, c[0]-side/2, c[len(c)-1]+side/2, n)
	}
	for i := 1; i < len(c); i++ {
		if c[i]-c[i-1] > side/2+1e-9 {
			t.Errorf("side %v along %s: centres %v and %v are more than half a side apart", side, axis, c[i-1], c[i])
		}
	}
}

// bestApart keeps boxes by score, skipping one whose centre is inside a kept box's middle half
// (judged by the kept box's side), and stops at k.
func TestBestApart(t *testing.T) {
	box := func(cx, cy, side float64) facecrop.Box { return facecrop.Box{CX: cx, CY: cy, Side: side} }
	tests := []struct {
		name  string
		boxes []facecrop.Box
		score []float64
		k     int
		want  []int // indices into boxes
	}{
		{"by score", []facecrop.Box{box(0, 0, 40), box(100, 0, 40), box(200, 0, 40)}, []float64{0.2, 0.9, 0.5}, 3, []int{1, 2, 0}},
		{"k bounds", []facecrop.Box{box(0, 0, 40), box(100, 0, 40), box(200, 0, 40)}, []float64{0.2, 0.9, 0.5}, 2, []int{1, 2}},
		{"k below 1: all apart", []facecrop.Box{box(0, 0, 40), box(100, 0, 40), box(5, 5, 40)}, []float64{0.2, 0.9, 0.1}, 0, []int{1, 0}},
		{"inside the middle half", []facecrop.Box{box(50, 50, 40), box(59, 41, 20)}, []float64{0.9, 0.8}, 3, []int{0}},
		{"on the middle half's edge", []facecrop.Box{box(50, 50, 40), box(60, 50, 40)}, []float64{0.9, 0.8}, 3, []int{0, 1}},
		{"apart along y only", []facecrop.Box{box(50, 50, 40), box(50, 70, 40)}, []float64{0.9, 0.8}, 3, []int{0, 1}},
		// The kept box's side decides: a large window around a small better one stays.
		{"the kept box's side", []facecrop.Box{box(100, 100, 8), box(104, 100, 80), box(101, 101, 8)}, []float64{0.9, 0.8, 0.7}, 3, []int{0, 1}},
		{"suppressed boxes do not suppress", []facecrop.Box{box(0, 0, 40), box(8, 0, 40), box(16, 0, 40)}, []float64{0.9, 0.8, 0.7}, 3, []int{0, 2}},
		{"ties in order", []facecrop.Box{box(0, 0, 40), box(100, 0, 40), box(200, 0, 40)}, []float64{0.5, 0.5, 0.5}, 2, []int{0, 1}},
		{"none", nil, nil, 3, nil},
	}
	for _, tc := range tests {
		var want []facecrop.Box
		for _, i := range tc.want {
			want = append(want, tc.boxes[i])
		}
		if got := bestApart(tc.boxes, tc.score, tc.k); !slices.Equal(got, want) {
			t.Errorf("%s: bestApart = %v, want %v", tc.name, got, want)
		}
	}
}

// windows returns at most k of windowBoxes' windows, none inside a better one's middle half, the
// first the one the refine model finds likeliest; it stops on a cancelled context.
func TestWindows(t *testing.T) {
	dir := t.TempDir()
	saveRandomModel(t, filepath.Join(dir, model.CoarseFile), model.Whole, 1)
	saveRandomSpec(t, filepath.Join(dir, model.RefineFile), model.Spec{Depth: 18, Width: 4, Size: 32, Stage: model.Crop, Norm: "imagenet", Margin: 0.3, Presence: true}, 2)
	det, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	photo := catPhoto(t).Resize(160, 120)
	angles := []float64{0, 90}
	all := windowBoxes(photo.W, photo.H, angles)
	m := det.refine
	s := m.Spec.Size
	x := make([]float32, len(all)*3*s*s)
	for i, b := range all {
		m.Spec.Input(facecrop.Crop(photo, photo.W, photo.H, b, s), x[i*3*s*s:])
	}
	presence := map[facecrop.Box]float64{}
	top := math.Inf(-1)
	for i, o := range m.Predict(x, len(all)) {
		presence[all[i]] = o.Presence
		top = max(top, o.Presence)
	}

	got, err := det.windows(context.Background(), photo, 3, angles)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) == 0 || len(got) > 3 {
		t.Fatalf("windows gave %d boxes, want 1 to 3", len(got))
	}
	for i, b := range got {
		p, ok := presence[b]
		if !ok {
			t.Fatalf("box %d %+v is not one of windowBoxes'", i, b)
		}
		if i == 0 && p < top-1e-5 {
			t.Errorf("first box's presence %v, below the best window's %v", p, top)
		}
		if i > 0 && p > presence[got[i-1]]+1e-5 {
			t.Errorf("box %d's presence %v above box %d's %v", i, p, i-1, presence[got[i-1]])
		}
		for _, c := range got[:i] {
			if math.Abs(b.CX-c.CX) < c.Side/4 && math.Abs(b.CY-c.CY) < c.Side/4 {
				t.Errorf("box %d %+v lies in the middle half of the better %+v", i, b, c)
			}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := det.windows(ctx, photo, 3, angles); !errors.Is(err, context.Canceled) {
		t.Errorf("windows on a cancelled context: %v, want context.Canceled", err)
	}
}
