package catmark

import (
	"context"
	"image"
	"math"
	"sort"

	"github.com/catmark/catmark/facecrop"
	"github.com/catmark/catmark/imgproc"
	"github.com/catmark/catmark/landmark"
	"github.com/catmark/catmark/model"
	"github.com/catmark/catmark/models/resnet"
)

// Face is one cat's face that DetectAll found.
type Face struct {
	// Points are the nine landmarks in the photo's pixels, labelled as on the upright cat (the
	// cat's left eye is Points[0] however the head is turned).
	Points landmark.Points
	// Face is the refine model's face presence for them, 0 to 1.
	Face float64
	// Box is the last refine pass's crop in the photo's pixels; Box.Angle is how far the crop
	// is turned, counter-clockwise in degrees.
	Box facecrop.Box
}

// Angle is how far the face is turned from upright, counter-clockwise in degrees, from its
// points (landmark.Points.Angle).
func (f Face) Angle() float64 { return f.Points.Angle() }

// Bounds is the smallest rectangle of whole pixels holding Box (turned or not).
func (f Face) Bounds() image.Rectangle {
	c := f.Box.Corners()
	x0, y0, x1, y1 := c[0].X, c[0].Y, c[0].X, c[0].Y
	for _, p := range c[1:] {
		x0, x1 = min(x0, p.X), max(x1, p.X)
		y0, y1 = min(y0, p.Y), max(y1, p.Y)
	}
	return image.Rect(int(math.Floor(x0)), int(math.Floor(y0)), int(math.Ceil(x1)), int(math.Ceil(y1)))
}

// DefaultMinFace is Settings.MinFace's default: the face presence a face beyond the best one
// needs to be reported by DetectAll.
const DefaultMinFace = 0.5

// DetectAll finds every cat's face in img, best first (by face presence). The best face is what
// DetectFace finds. Then the faces found are erased (painted mid-grey) and the photo is looked
// at again, until no face is left (maskedFaces). Last, on a photo wider or taller than 4:3,
// the coarse model's face on each tile of the erased photo (tiles), and the other
// peaks of the coarse model's heatmaps when it has an integral head (model.Spec.Head), are
// candidates, each refined as the best one is (a candidate whose first pass gives a presence
// under half of d.MinFace is dropped there). A face is kept when its presence reaches
// d.MinFace and it overlaps no better face. A detector without a refine model with a presence
// output finds one face.
func (d *Detector) DetectAll(img image.Image) ([]Face, error) {
	all, err := d.DetectAllBatch(context.Background(), []image.Image{img})
	if err != nil {
		return nil, err
	}
	return all[0].Faces, all[0].Err
}

// Faces is what DetectAllBatch found on one photo: its faces, best first, or the error that
// kept the photo from being measured.
type Faces struct {
	Faces []Face
	Err   error
}

// DetectAllBatch is DetectAll for several photos: the best faces are found as DetectBatch finds
// them, and each round of erasing and looking again runs on all photos at once.
func (d *Detector) DetectAllBatch(ctx context.Context, imgs []image.Image) ([]Faces, error) {
	best, photos, err := d.detectImages(ctx, imgs)
	if err != nil {
		return nil, err
	}
	return d.allFaces(ctx, best, photos)
}

// DetectAllRGB is DetectAll for an image already in catmark's RGB form (at least MinSide a
// side), returning each face's points, best first: what evaluate.MeasureFaces measures.
func (d *Detector) DetectAllRGB(photo *imgproc.RGB) ([]landmark.Points, error) {
	ps := []*imgproc.RGB{photo}
	best, err := d.detect(context.Background(), ps)
	if err != nil {
		return nil, err
	}
	all, err := d.allFaces(context.Background(), best, ps)
	if err != nil {
		return nil, err
	}
	pts := make([]landmark.Points, len(all[0].Faces))
	for i, f := range all[0].Faces {
		pts[i] = f.Points
	}
	return pts, all[0].Err
}

// allFaces goes on from each photo's best face (best[i], on photos[i]; a photo with an error
// keeps it) to all of its faces.
func (d *Detector) allFaces(ctx context.Context, best []Detection, photos []*imgproc.RGB) ([]Faces, error) {
	out := make([]Faces, len(best))
	var at []int
	for i, b := range best {
		if b.Err != nil {
			out[i].Err = b.Err
			continue
		}
		out[i].Faces = []Face{{Points: b.Points, Face: b.Face, Box: b.Box}}
		at = append(at, i)
	}
	if !d.manyFaces() || len(at) == 0 {
		return out, nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	found := make([][]Face, len(at))
	ps := make([]*imgproc.RGB, len(at))
	for k, i := range at {
		found[k], ps[k] = out[i].Faces, photos[i]
	}
	masked, err := d.maskedFaces(ctx, ps, found)
	if err != nil {
		return nil, err
	}
	for k, i := range at {
		if out[i].Faces, err = d.moreFaces(ctx, photos[i], masked[k], found[k]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// manyFaces reports whether the detector can find more than one face.
func (d *Detector) manyFaces() bool {
	return d.Refine != nil && d.Refine.Spec.Presence
}

// tileAspect is the tiles' aspect ratio: the coarse model learnt on photos of about 4:3.
const tileAspect = 4.0 / 3

// tileFrom is the aspect ratio from which DetectAll also tiles a photo at half its height:
// wider than 16:9, so that ordinary photos (4:3, 3:2, 16:9; 40 % of the Cat Dataset is wider
// than 4:3) get only the two or three full-height tiles.
const tileFrom = 1.8

// tiles returns, for a photo of w×h pixels wider than tileAspect (or taller than its inverse),
// tiles of that aspect at its full height (all of its width for a tall photo) and, from
// tileFrom on, also at half of it, each size half a tile apart from edge to edge and inside the
// photo, smaller first; for any other photo none.
func tiles(w, h int) []image.Rectangle {
	wide := float64(w) > tileAspect*float64(h)
	if !wide && !(float64(h) > tileAspect*float64(w)) {
		return nil
	}
	shares := []int{1}
	if float64(max(w, h)) > tileFrom*float64(min(w, h)) {
		shares = []int{2, 1}
	}
	var out []image.Rectangle
	for _, share := range shares {
		tw, th := int(math.Round(tileAspect*float64(h/share))), h/share
		if !wide {
			tw, th = w/share, int(math.Round(tileAspect*float64(w/share)))
		}
		for _, cy := range steps(float64(h), float64(th)) {
			for _, cx := range steps(float64(w), float64(tw)) {
				x := min(max(int(math.Round(cx-float64(tw)/2)), 0), w-tw)
				y := min(max(int(math.Round(cy-float64(th)/2)), 0), h-th)
				out = append(out, image.Rect(x, y, x+tw, y+th))
			}
		}
	}
	return out
}

// tilePoints runs the coarse model on each of the photo's tiles (one batch, unmirrored) and
// returns each tile's points in the photo's pixels: a face candidate per tile, for photos much
// wider or taller than the coarse model learnt on (several cats side by side, say), and for
// faces small in such a photo.
func (d *Detector) tilePoints(photo *imgproc.RGB) []landmark.Points {
	ts := tiles(photo.W, photo.H)
	if len(ts) == 0 {
		return nil
	}
	imgs := make([]*imgproc.RGB, len(ts))
	for i, r := range ts {
		imgs[i] = photo.Sub(r)
	}
	out := make([]landmark.Points, len(ts))
	for i, o := range d.predict(d.Coarse, imgs, false) {
		p := o.Points.Denormalize(ts[i].Dx(), ts[i].Dy())
		for j := range p {
			p[j].X += float64(ts[i].Min.X)
			p[j].Y += float64(ts[i].Min.Y)
		}
		out[i] = p
	}
	return out
}

// moreFaces looks for faces beyond found (the best one and those maskedFaces found) at the
// candidates of DetectAll's last step, on masked (the photo with the faces found erased) and
// photo, and returns all faces kept, best first, at most maxFaces. The caller holds d.mu.
func (d *Detector) moreFaces(ctx context.Context, photo, masked *imgproc.RGB, found []Face) ([]Face, error) {
	cands := d.tilePoints(masked)
	if d.Coarse.Spec.Head == resnet.Integral {
		peaks, err := d.peakPoints(photo)
		if err != nil {
			return nil, err
		}
		cands = append(cands, peaks...)
	}
	var boxes []facecrop.Box
	for _, p := range cands {
		b := d.firstBox(p, 0)
		if !overlapsAny(b, found) {
			boxes = append(boxes, b)
		}
	}
	if len(boxes) == 0 {
		return found, nil
	}
	photos := make([]*imgproc.RGB, len(boxes))
	for i := range photos {
		photos[i] = photo
	}
	// The first pass on every candidate, in all four quarter turns with AnyAngle; candidates
	// whose presence stays under half of MinFace get no more passes.
	dets := make([]Detection, len(boxes))
	if d.anyAngle() {
		if err := d.turnBoxes(ctx, photos, boxes, dets); err != nil {
			return nil, err
		}
	} else if err := d.refine(ctx, photos, boxes, dets, 1); err != nil {
		return nil, err
	}
	kept, err := d.finishPasses(ctx, photos, dets)
	if err != nil {
		return nil, err
	}
	sort.SliceStable(kept, func(a, b int) bool { return dets[kept[a]].Face > dets[kept[b]].Face })
	for _, k := range kept {
		t := dets[k]
		if t.Face >= d.MinFace && !overlapsAny(t.Box, found) {
			found = append(found, Face{Points: t.Points, Face: t.Face, Box: t.Box})
		}
	}
	sort.SliceStable(found[1:], func(a, b int) bool { return found[1+a].Face > found[1+b].Face })
	return found[:min(len(found), maxFaces)], nil
}

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
	m := d.Coarse
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
	hw := h * w
	prob := make([]float64, k*hw)
	ev := make([]float64, hw)
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
	type peak struct {
		i, j int
		v    float64
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
	out := make([]landmark.Points, 0, len(peaks))
	for _, pk := range peaks {
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
		out = append(out, pts.Denormalize(photo.W, photo.H))
	}
	return out, nil
}

// overlapsAny reports whether box b covers much of any found face's box: their bounding
// rectangles' intersection is over a third of the smaller one's area.
func overlapsAny(b facecrop.Box, found []Face) bool {
	r := Face{Box: b}.Bounds()
	for _, f := range found {
		q := f.Bounds()
		in := r.Intersect(q)
		small := min(area(r), area(q))
		if small > 0 && 3*area(in) > small {
			return true
		}
	}
	return false
}

func area(r image.Rectangle) int { return r.Dx() * r.Dy() }

// turnBoxes is AnyAngle's first pass for boxes already placed: the refine model sees each box
// in the four quarter turns (one batch, unmirrored) and each keeps the turn with the highest
// face presence, in out.
func (d *Detector) turnBoxes(ctx context.Context, photos []*imgproc.RGB, boxes []facecrop.Box, out []Detection) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	all := make([]facecrop.Box, 0, 4*len(boxes))
	crops := make([]*imgproc.RGB, 0, 4*len(boxes))
	for i, b := range boxes {
		for q := range 4 {
			t := b
			t.Angle = quarterAngle(q)
			all = append(all, t)
			crops = append(crops, facecrop.Crop(photos[i], photos[i].W, photos[i].H, t, d.Refine.Spec.Size))
		}
	}
	d.pickTurns(d.predict(d.Refine, crops, false), all, out)
	return nil
}

// quarterAngle is the box angle of a face upright in the photo turned by q quarters
// counter-clockwise: −q quarters, in (−180, 180].
func quarterAngle(q int) float64 {
	return [4]float64{0, -90, 180, 90}[q&3]
}

// pickTurns keeps, for each photo i, the one of its four turned boxes all[4i…4i+3] whose
// prediction has the highest face presence, and returns each photo's upright (first) turn's.
func (d *Detector) pickTurns(refined []model.Output, all []facecrop.Box, out []Detection) []Detection {
	upright := make([]Detection, len(out))
	for i := range out {
		k := 4 * i
		upright[i] = Detection{Points: all[k].FromBox(refined[k].Points), Face: refined[k].Face, Box: all[k]}
		best := 4 * i
		for k := 4 * i; k < 4*i+4; k++ {
			if refined[k].Face > refined[best].Face {
				best = k
			}
		}
		out[i] = Detection{Points: all[best].FromBox(refined[best].Points), Face: refined[best].Face, Box: all[best]}
	}
	return upright
}

// finishPasses keeps the first-pass results dets[k] (on photos[k]) whose presence reaches half
// of d.MinFace, runs the remaining refine passes on those, all in one batch, and returns their
// indices, dets updated in place.
func (d *Detector) finishPasses(ctx context.Context, photos []*imgproc.RGB, dets []Detection) ([]int, error) {
	var kept []int
	for k, t := range dets {
		if t.Face >= d.MinFace/2 {
			kept = append(kept, k)
		}
	}
	passes := max(d.Passes, 1) - 1
	if passes == 0 || len(kept) == 0 {
		return kept, nil
	}
	ps, bs, out := make([]*imgproc.RGB, len(kept)), make([]facecrop.Box, len(kept)), make([]Detection, len(kept))
	for j, k := range kept {
		ps[j], bs[j] = photos[k], d.passBox(dets[k].Points)
	}
	if err := d.refine(ctx, ps, bs, out, passes); err != nil {
		return nil, err
	}
	for j, k := range kept {
		dets[k] = out[j]
	}
	return kept, nil
}

// maxFaces bounds the faces DetectAll reports on one photo.
const maxFaces = 8

// maskedFaces erases the faces found so far on each photo (their boxes painted mid-grey) and
// looks at what is left as DetectFace does, without the search, all photos in one batch: a first
// pass (in four quarter turns with AnyAngle) and, where its presence reaches half of d.MinFace,
// the remaining passes. A photo keeps a face whose final presence reaches d.MinFace and that
// overlaps no face found, and goes on until one does not, or maxFaces. found[i] grows with
// photos[i]'s new faces; the photos with all their faces erased are returned. The caller holds
// d.mu.
func (d *Detector) maskedFaces(ctx context.Context, photos []*imgproc.RGB, found [][]Face) ([]*imgproc.RGB, error) {
	masked := make([]*imgproc.RGB, len(photos))
	erased := make([]int, len(photos))
	var active []int
	for i, p := range photos {
		masked[i] = p.Clone()
		active = append(active, i)
	}
	for len(active) > 0 {
		ps := make([]*imgproc.RGB, len(active))
		for k, i := range active {
			m := masked[i]
			for _, f := range found[i][erased[i]:] {
				m.Fill(f.Bounds(), 128)
			}
			erased[i] = len(found[i])
			ps[k] = m
		}
		t := make([]Detection, len(active))
		if d.anyAngle() {
			if _, err := d.quarterTurns(ctx, ps, t); err != nil {
				return nil, err
			}
		} else {
			boxes := make([]facecrop.Box, len(ps))
			for k, o := range d.predict(d.Coarse, ps, d.Flip) {
				boxes[k] = d.firstBox(o.Points.Denormalize(ps[k].W, ps[k].H), 0)
			}
			if err := d.refine(ctx, ps, boxes, t, 1); err != nil {
				return nil, err
			}
		}
		more, err := d.finishPasses(ctx, ps, t)
		if err != nil {
			return nil, err
		}
		var next []int
		for _, k := range more {
			i := active[k]
			if t[k].Face >= d.MinFace && !overlapsAny(t[k].Box, found[i]) {
				found[i] = append(found[i], Face{Points: t[k].Points, Face: t[k].Face, Box: t[k].Box})
				if len(found[i]) < maxFaces {
					next = append(next, i)
				}
			}
		}
		active = next
	}
	return masked, nil
}
