package catmark

import (
	"context"
	"image"
	"math"
	"slices"
	"sort"

	"github.com/catmark/catmark/facecrop"
	"github.com/catmark/catmark/imgproc"
	"github.com/catmark/catmark/landmark"
	"github.com/catmark/catmark/models/resnet"
)

// DetectAll finds every cat's face in img, best first (by face presence). The best face is what
// DetectFace finds; it is then erased (painted mid-grey) and the rest of the photo looked at:
//   - a photo wider or taller than 4:3 in tiles (tiles): the coarse model's face on each tile,
//     upright and, when the best face is nearer another quarter turn, turned as it is, is a
//     candidate;
//   - any other photo again as a whole (maskedFaces), erasing each face found, until no face is
//     left.
//
// The other peaks of the coarse model's heatmaps, when it has an integral head
// (model.Spec.Head), are candidates too. Each candidate gets one unmirrored refine pass in its
// box's turn, and the remaining passes when its presence reaches half of d.cfg.MinFace. A face is
// kept when its presence reaches d.cfg.MinFace and it overlaps no better face. A detector without a
// refine model with a presence output finds one face.
func (d *Detector) DetectAll(img image.Image) ([]Face, error) {
	all, err := d.DetectAllBatch(context.Background(), []image.Image{img})
	if err != nil {
		return nil, err
	}
	return all[0].Faces, all[0].Err
}

// DetectAllBatch is DetectAll for several photos: the best faces are found as DetectBatch finds
// them, and each round of erasing and looking again runs on all photos at once.
func (d *Detector) DetectAllBatch(ctx context.Context, imgs []image.Image) ([]Faces, error) {
	best, all, errs, photos, err := d.detectImages(ctx, imgs)
	if err != nil {
		return nil, err
	}
	if all != nil { // the centers first stage found them all
		out := make([]Faces, len(imgs))
		for i := range out {
			out[i] = Faces{Faces: all[i], Err: errs[i]}
		}
		return out, nil
	}
	return d.allFaces(ctx, best, errs, photos)
}

// allFaces goes on from each photo's best face (best[i], on photos[i]; a photo with an error,
// errs[i], keeps it) to all of its faces.
func (d *Detector) allFaces(ctx context.Context, best []Face, errs []error, photos []*imgproc.RGB) ([]Faces, error) {
	out := make([]Faces, len(best))
	var at []int
	for i, b := range best {
		if errs[i] != nil {
			out[i].Err = errs[i]
			continue
		}
		out[i].Faces = []Face{b}
		at = append(at, i)
	}
	if !d.manyFaces() || len(at) == 0 {
		return out, nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	// A photo that gets tiles is looked at in them, its best face erased; any other is looked at
	// again and again with its faces erased (maskedFaces), all such photos in one batch.
	masked := make([]*imgproc.RGB, len(photos))
	var again []int
	for _, i := range at {
		if len(tiles(photos[i].W, photos[i].H)) == 0 {
			again = append(again, i)
			continue
		}
		masked[i] = photos[i].Clone()
		erase(masked[i], out[i].Faces)
	}
	if len(again) > 0 {
		found := make([][]Face, len(again))
		ps := make([]*imgproc.RGB, len(again))
		for k, i := range again {
			found[k], ps[k] = out[i].Faces, photos[i]
		}
		ms, err := d.maskedFaces(ctx, ps, found)
		if err != nil {
			return nil, err
		}
		for k, i := range again {
			out[i].Faces, masked[i] = found[k], ms[k]
		}
	}
	for _, i := range at {
		var err error
		if out[i].Faces, err = d.moreFaces(ctx, photos[i], masked[i], out[i].Faces); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// maxFaces bounds the faces DetectAll reports on one photo.
const maxFaces = 8

// maskedFaces erases the faces found so far on each photo (their boxes painted mid-grey) and
// looks at what is left as DetectFace does, without the search, all photos in one batch: a first
// pass (in four quarter turns with AnyAngle) and, where its presence reaches half of d.cfg.MinFace,
// the remaining passes. A photo keeps a face whose final presence reaches d.cfg.MinFace and that
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
			erase(masked[i], found[i][erased[i]:])
			erased[i] = len(found[i])
			ps[k] = masked[i]
		}
		t := make([]Face, len(active))
		if d.anyAngle() {
			if _, err := d.quarterTurns(ctx, ps, t); err != nil {
				return nil, err
			}
		} else {
			boxes := make([]facecrop.Box, len(ps))
			for k, o := range d.predict(d.coarse, ps, d.cfg.Flip) {
				boxes[k] = d.firstBox(o.Points.Denormalize(ps[k].W, ps[k].H), 0)
			}
			if err := d.firstPass(ctx, ps, boxes, t); err != nil {
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
			if t[k].Presence >= d.cfg.MinFace && !overlapsAny(t[k].Points, found[i]) {
				found[i] = append(found[i], t[k])
				if len(found[i]) < maxFaces {
					next = append(next, i)
				}
			}
		}
		active = next
	}
	return masked, nil
}

// moreFaces looks for faces beyond found (the best one and those maskedFaces found) at the
// candidates of DetectAll's last step, on masked (the photo with the faces found erased) and
// photo, and returns all faces kept, best first, at most maxFaces. A round of tiles that finds
// a face is followed by another with the new faces erased too (a tile showing two cats gives
// one of them), until one finds none. The caller holds d.mu.
func (d *Detector) moreFaces(ctx context.Context, photo, masked *imgproc.RGB, found []Face) ([]Face, error) {
	// The tiles upright, and also turned as the best face is when that is nearer another
	// quarter turn: the coarse model learnt on upright cats, and the cats of one photo are
	// most often turned alike (a camera held sideways).
	turns := []int{0}
	if q := nearestQuarter(found[0].Box.Angle); d.anyAngle() && q != 0 {
		turns = append(turns, q)
	}
	var boxes []facecrop.Box
	if d.coarse.Spec.Head == resnet.Integral {
		peaks, err := d.peakPoints(photo)
		if err != nil {
			return nil, err
		}
		for _, p := range peaks {
			boxes = append(boxes, d.firstBox(p, 0))
		}
	}
	tiled := len(tiles(photo.W, photo.H)) > 0
	for len(found) < maxFaces {
		for _, q := range turns {
			for _, p := range d.tilePoints(masked, q) {
				boxes = append(boxes, d.firstBox(p, quarterAngle(q)))
			}
		}
		n := len(found)
		var err error
		if found, err = d.candidates(ctx, photo, boxes, found); err != nil {
			return nil, err
		}
		if len(found) == n || !tiled {
			break
		}
		erase(masked, found[n:])
		boxes = nil
	}
	sort.SliceStable(found[1:], func(a, b int) bool { return found[1+a].Presence > found[1+b].Presence })
	return found[:min(len(found), maxFaces)], nil
}

// candidates refines the candidate boxes on photo that overlap no face found: one unmirrored
// pass in each box's turn (the coarse model saw the face so), the remaining passes where its
// presence reaches half of MinFace. It returns found with the faces whose presence reaches
// MinFace and that overlap no better face added, best first.
func (d *Detector) candidates(ctx context.Context, photo *imgproc.RGB, boxes []facecrop.Box, found []Face) ([]Face, error) {
	boxes = slices.DeleteFunc(boxes, func(b facecrop.Box) bool { return coversAny(b, found) })
	if len(boxes) == 0 {
		return found, nil
	}
	photos := make([]*imgproc.RGB, len(boxes))
	for i := range photos {
		photos[i] = photo
	}
	dets := make([]Face, len(boxes))
	if err := d.firstPass(ctx, photos, boxes, dets); err != nil {
		return nil, err
	}
	kept, err := d.finishPasses(ctx, photos, dets)
	if err != nil {
		return nil, err
	}
	sort.SliceStable(kept, func(a, b int) bool { return dets[kept[a]].Presence > dets[kept[b]].Presence })
	for _, k := range kept {
		t := dets[k]
		if t.Presence >= d.cfg.MinFace && !overlapsAny(t.Points, found) {
			found = append(found, t)
		}
	}
	return found, nil
}

// erase paints the faces' bounds mid-grey in m.
func erase(m *imgproc.RGB, faces []Face) {
	for _, f := range faces {
		m.Fill(f.Bounds(), 128)
	}
}

// manyFaces reports whether the detector can find more than one face.
func (d *Detector) manyFaces() bool {
	return d.refine != nil && d.refine.Spec.Presence
}

// overlapsAny reports whether the face with points p is one of the found faces: the
// rectangles holding their points (ear tips to mouth, no margin) share over a third of the
// smaller one's area, or either face's centre lies in the other's rectangle. Crop boxes, with
// their margins, would make two cats cheek to cheek one.
func overlapsAny(p landmark.Points, found []Face) bool {
	ax0, ay0, ax1, ay1 := p.Extent()
	for _, f := range found {
		bx0, by0, bx1, by1 := f.Points.Extent()
		in := max(0, min(ax1, bx1)-max(ax0, bx0)) * max(0, min(ay1, by1)-max(ay0, by0))
		small := min((ax1-ax0)*(ay1-ay0), (bx1-bx0)*(by1-by0))
		if 3*in > small ||
			inside((ax0+ax1)/2, (ay0+ay1)/2, bx0, by0, bx1, by1) ||
			inside((bx0+bx1)/2, (by0+by1)/2, ax0, ay0, ax1, ay1) {
			return true
		}
	}
	return false
}

// inside reports whether (x, y) lies in the rectangle [x0, x1]×[y0, y1].
func inside(x, y, x0, y0, x1, y1 float64) bool {
	return x >= x0 && x <= x1 && y >= y0 && y <= y1
}

// coversAny reports whether candidate box b covers much of any found face's box: their
// bounding rectangles' intersection is over a third of the smaller one's area. Refined, such a
// candidate would most likely find that face again, so it is not refined.
func coversAny(b facecrop.Box, found []Face) bool {
	r := Face{Box: b}.Bounds()
	for _, f := range found {
		q := f.Bounds()
		in := r.Intersect(q)
		small := min(r.Dx()*r.Dy(), q.Dx()*q.Dy())
		if small > 0 && 3*in.Dx()*in.Dy() > small {
			return true
		}
	}
	return false
}

// tileAspect is the tiles' aspect ratio: the coarse model learnt on photos of about 4:3.
const tileAspect = 4.0 / 3

// tiles returns, for a photo of w×h pixels wider than tileAspect (or taller than its inverse),
// tiles of that aspect at half its height (half its width for a tall photo), a tile apart, and
// at its full height, half a tile apart, each size spread from edge to edge and inside the
// photo, smaller first; for any other photo none. A 3:2 photo gets six small tiles and two
// large ones.
func tiles(w, h int) []image.Rectangle {
	wide := float64(w) > tileAspect*float64(h)
	if !wide && !(float64(h) > tileAspect*float64(w)) {
		return nil
	}
	var out []image.Rectangle
	for _, share := range []int{2, 1} {
		tw, th := int(math.Round(tileAspect*float64(h/share))), h/share
		if !wide {
			tw, th = w/share, int(math.Round(tileAspect*float64(w/share)))
		}
		stride := float64(share) / 2 // in tiles: the small ones a tile apart, the large half a tile
		for _, cy := range steps(float64(h), float64(th), stride) {
			for _, cx := range steps(float64(w), float64(tw), stride) {
				x := min(max(int(math.Round(cx-float64(tw)/2)), 0), w-tw)
				y := min(max(int(math.Round(cy-float64(th)/2)), 0), h-th)
				out = append(out, image.Rect(x, y, x+tw, y+th))
			}
		}
	}
	return out
}

// tilePoints runs the coarse model on each of the photo's tiles turned by q quarters
// counter-clockwise (one batch, unmirrored) and returns each tile's points in the photo's
// pixels: a face candidate per tile, for photos much wider or taller than the coarse model learnt
// on (several cats side by side, say), and for faces small in such a photo.
func (d *Detector) tilePoints(photo *imgproc.RGB, q int) []landmark.Points {
	ts := tiles(photo.W, photo.H)
	if len(ts) == 0 {
		return nil
	}
	// The whole photo too, as the first stage sees it.
	ts = append(ts, image.Rect(0, 0, photo.W, photo.H))
	s := d.coarse.Spec.Size
	imgs := make([]*imgproc.RGB, len(ts))
	for i, r := range ts {
		imgs[i] = photo.Sub(r).Resize(s, s).TurnQuarter(q)
	}
	out := make([]landmark.Points, len(ts))
	for i, o := range d.predict(d.coarse, imgs, false) {
		p := unturn(o.Points, q).Denormalize(ts[i].Dx(), ts[i].Dy())
		for j := range p {
			p[j].X += float64(ts[i].Min.X)
			p[j].Y += float64(ts[i].Min.Y)
		}
		out[i] = p
	}
	return out
}
