package catmark

import (
	"context"
	"math"
	"sort"

	"github.com/catmark/catmark/facecrop"
	"github.com/catmark/catmark/imgproc"
)

// windowSides are the search windows' sides as shares of the photo's longer side: from a small
// face's box to the whole photo, each 1.5 times the last.
var windowSides = []float64{0.15, 0.225, 0.34, 0.5, 0.76, 1.1}

// minWindow is the smallest search window's side in pixels: smaller faces are not searched for,
// which bounds a small photo's search (the whole-photo window is always scored).
const minWindow = 32

// windows scores square windows over the photo with the refine model's presence output (one
// unmirrored pass each, in batches of 32) and returns the k best, skipping a window whose centre
// lies inside a better one's middle half (bestApart). The windows are windowBoxes': they step by
// half their side, and each place is scored at every one of angles (box angles: its crop upright
// for a face turned so).
func (d *Detector) windows(ctx context.Context, photo *imgproc.RGB, k int, angles []float64) ([]facecrop.Box, error) {
	boxes := windowBoxes(photo.W, photo.H, angles)
	m := d.refine
	s := m.Spec.Size
	score := make([]float64, 0, len(boxes))
	// Every batch is full (the last one padded with copies): a backend prepares its kernels
	// once per batch size, which would cost more than the padding.
	const batch = 32
	x := make([]float32, batch*3*s*s)
	for lo := 0; lo < len(boxes); lo += batch {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n := min(batch, len(boxes)-lo)
		for i := range n {
			m.Spec.Input(facecrop.Crop(photo, photo.W, photo.H, boxes[lo+i], s), x[i*3*s*s:])
		}
		for i := n; i < batch; i++ {
			copy(x[i*3*s*s:(i+1)*3*s*s], x[:3*s*s])
		}
		for _, o := range m.Predict(x, batch)[:n] {
			score = append(score, o.Presence)
		}
	}
	return bestApart(boxes, score, k), nil
}

// windowBoxes returns the search windows over a w×h photo: for each of windowSides (a share of
// the longer side) whose side is at least minWindow pixels, and always for the last (the whole
// photo), the windows of that side whose centres are steps(…, 0.5) along each axis (row by row),
// each place once at every one of angles, in that order.
func windowBoxes(w, h int, angles []float64) []facecrop.Box {
	long := float64(max(w, h))
	var boxes []facecrop.Box
	for i, f := range windowSides {
		side := f * long
		if side < minWindow && i < len(windowSides)-1 {
			continue
		}
		for _, cy := range steps(float64(h), side, 0.5) {
			for _, cx := range steps(float64(w), side, 0.5) {
				for _, a := range angles {
					boxes = append(boxes, facecrop.Box{CX: cx, CY: cy, Side: side, Angle: a})
				}
			}
		}
	}
	return boxes
}

// bestApart returns at most k of boxes (all when k < 1), by score (score[i] is boxes[i]'s) from the highest, ties
// in boxes' order, skipping each box whose centre lies inside the middle half of one already
// kept (less than a quarter of the kept box's side from its centre along both x and y).
func bestApart(boxes []facecrop.Box, score []float64, k int) []facecrop.Box {
	order := make([]int, len(boxes))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return score[order[a]] > score[order[b]] })
	var best []facecrop.Box
	for _, i := range order {
		b := boxes[i]
		near := false
		for _, c := range best {
			near = near || math.Abs(b.CX-c.CX) < c.Side/4 && math.Abs(b.CY-c.CY) < c.Side/4
		}
		if !near {
			best = append(best, b)
		}
		if len(best) == k {
			break
		}
	}
	return best
}

// steps returns the centres of windows of the given side along an axis of length n, at most
// stride sides apart and spread evenly from edge to edge (one centred window when the side
// exceeds n).
func steps(n, side, stride float64) []float64 {
	if side >= n {
		return []float64{n / 2}
	}
	k := int(math.Ceil((n-side)/(side*stride))) + 1
	c := make([]float64, k)
	for i := range c {
		c[i] = side/2 + (n-side)*float64(i)/float64(k-1)
	}
	return c
}
