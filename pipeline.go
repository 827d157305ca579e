package catmark

import (
	"context"
	"math"

	"github.com/catmark/catmark/facecrop"
	"github.com/catmark/catmark/imgproc"
	"github.com/catmark/catmark/internal/par"
	"github.com/catmark/catmark/landmark"
)

// detect runs the two stages on photos in batches and searches the photos whose first crop
// missed, stopping when ctx is done. It returns each photo's best face and, with the centers
// first stage, which finds them all at once, each photo's faces (nil otherwise).
func (d *Detector) detect(ctx context.Context, photos []*imgproc.RGB) ([]Face, [][]Face, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.usesCenters() {
		all, err := d.centersPipeline(ctx, photos)
		if err != nil {
			return nil, nil, err
		}
		best := make([]Face, len(photos))
		for i, fs := range all {
			best[i] = fs[0]
		}
		return best, all, nil
	}
	best, err := d.detectLocked(ctx, photos, d.cfg.Search)
	return best, nil, err
}

// detectLocked is detect for a caller that holds d.mu, searching the photos whose first crop's
// presence is below search.
func (d *Detector) detectLocked(ctx context.Context, photos []*imgproc.RGB, search float64) ([]Face, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([]Face, len(photos))
	boxes := make([]facecrop.Box, len(photos))
	passes := max(d.cfg.Passes, 1)
	anyAngle := d.anyAngle()
	if anyAngle {
		// Stage 1 in four quarter turns, and the first refine pass on each. The turn with the
		// highest presence goes through the remaining passes; so does the runner-up where the
		// winner's presence is below the search threshold or the runner-up's reaches half of
		// MinFace (in one batch), and the higher final presence wins: a first-pass presence can
		// saturate on a wrong turn. Only presences choose, so a photo turned by quarters is
		// measured as the upright one is, except where Upright overrules a weak turned face
		// (preferUpright, at the end).
		second, err := d.quarterTurns(ctx, photos, out)
		if err != nil {
			return nil, err
		}
		if passes--; passes > 0 {
			ps := append([]*imgproc.RGB(nil), photos...)
			all := append([]Face(nil), out...)
			var at []int
			for i, u := range second {
				if out[i].Presence < d.cfg.Search || u.Presence >= d.cfg.MinFace/2 {
					ps, all, at = append(ps, photos[i]), append(all, u), append(at, i)
				}
			}
			bs := make([]facecrop.Box, len(all))
			for i := range bs {
				bs[i] = d.passBox(all[i].Points)
			}
			if err := d.runRefine(ctx, ps, bs, all, passes); err != nil {
				return nil, err
			}
			copy(out, all)
			for k, i := range at {
				if alt := all[len(photos)+k]; alt.Presence > out[i].Presence {
					out[i] = alt
				}
			}
			passes = 0
		}
	} else {
		// Stage 1: the whole photos, points normalised to each.
		for i, o := range d.predict(d.coarse, photos, d.cfg.Flip) {
			out[i] = Face{Points: o.Points.Denormalize(photos[i].W, photos[i].H), Presence: math.NaN()}
		}
		if d.refine == nil {
			return out, nil
		}
		for i := range boxes {
			boxes[i] = d.firstBox(out[i].Points, 0)
		}
	}
	if passes > 0 {
		if err := d.runRefine(ctx, photos, boxes, out, passes); err != nil {
			return nil, err
		}
	}
	if !d.refine.Spec.Presence {
		return out, nil
	}
	for i, photo := range photos {
		if out[i].Presence >= search {
			continue
		}
		// With AnyAngle the search scores every window in the four quarter turns: the
		// turn that won the first pass may be the very reason the crop missed.
		angles := []float64{0}
		if anyAngle {
			angles = []float64{0, quarterAngle(1), quarterAngle(2), quarterAngle(3)}
		}
		wins, err := d.windows(ctx, photo, 3, angles)
		if err != nil {
			return nil, err
		}
		tries := make([]Face, len(wins))
		same := make([]*imgproc.RGB, len(wins))
		for k := range same {
			same[k] = photo
		}
		if err := d.runRefine(ctx, same, wins, tries, max(d.cfg.Passes, 1)); err != nil {
			return nil, err
		}
		for _, t := range tries {
			if t.Presence > out[i].Presence {
				out[i] = t
			}
		}
	}
	if anyAngle && d.cfg.Upright > 0 {
		if err := d.preferUpright(ctx, photos, out, search); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// preferUpright replaces each face in out whose presence is below d.cfg.Upright and which is turned
// a quarter or more from its photo's upright (by its points' angle against upTurns' quarter)
// with what the detector finds with AnyAngle off on the photo turned upright (searching below
// search), in one batch. The photo's upright comes from the photo itself, not its frame, so a
// photo turned by quarters gets the same choice, turned with it.
func (d *Detector) preferUpright(ctx context.Context, photos []*imgproc.RGB, out []Face, search float64) error {
	weak, at := weakPhotos(photos, func(i int) Face { return out[i] }, d.cfg.Upright)
	if len(weak) == 0 {
		return nil
	}
	ups := d.upTurns(weak)
	var ps []*imgproc.RGB
	var turns, redo []int
	for k, i := range at {
		if q := ups[k]; nearestQuarter(out[i].Points.Angle()) != q {
			ps, turns, redo = append(ps, photos[i].TurnQuarter(q)), append(turns, q), append(redo, i)
		}
	}
	if len(ps) == 0 {
		return nil
	}
	upright := &Detector{coarse: d.coarse, refine: d.refine, cfg: d.cfg}
	upright.cfg.AnyAngle = false
	res, err := upright.detectLocked(ctx, ps, search)
	if err != nil {
		return err
	}
	for k, i := range redo {
		out[i] = unturnFace(res[k], turns[k], ps[k], photos[i])
	}
	return nil
}

// weakPhotos returns the photos whose face (face(i) for photos[i]) has a presence below t, and
// their indices in photos.
func weakPhotos(photos []*imgproc.RGB, face func(i int) Face, t float64) ([]*imgproc.RGB, []int) {
	var weak []*imgproc.RGB
	var at []int
	for i, p := range photos {
		if face(i).Presence < t {
			weak, at = append(weak, p), append(at, i)
		}
	}
	return weak, at
}

// anyAngle reports whether AnyAngle applies: it needs a refine model with a presence output.
func (d *Detector) anyAngle() bool {
	return d.cfg.AnyAngle && d.refine != nil && d.refine.Spec.Presence
}

// firstBox is the first refine pass's box for a face at points (photo pixels) turned by angle:
// the refine model's face box, grown by d.cfg.Grow.
func (d *Detector) firstBox(points landmark.Points, angle float64) facecrop.Box {
	b := facecrop.FaceBoxAt(points, d.refine.Spec.Margin, angle)
	if d.cfg.Grow > 0 {
		b.Side *= d.cfg.Grow
	}
	return b
}

// passBox is a later refine pass's box around the previous pass's points: upright, or, with
// AnyAngle, turned with the face.
func (d *Detector) passBox(points landmark.Points) facecrop.Box {
	if d.anyAngle() {
		return facecrop.FaceBoxAt(points, d.refine.Spec.Margin, points.Angle())
	}
	return facecrop.FaceBox(points, d.refine.Spec.Margin)
}

// refine runs passes refine passes on photos[i] from boxes[i], all photos in one batch per pass,
// each pass on crops around the previous points, and leaves the last pass's points (photo
// pixels), face presence and box in out. The last pass is the final one: averaged with the
// mirrored crops' prediction with d.cfg.Flip and with the scaled crops' with d.cfg.Zoom; earlier passes
// only place the next crop and run unmirrored.
func (d *Detector) runRefine(ctx context.Context, photos []*imgproc.RGB, boxes []facecrop.Box, out []Face, passes int) error {
	return d.passes(ctx, photos, boxes, out, passes, true)
}

// firstPass runs one unmirrored refine pass on photos[i] from boxes[i] (one batch), leaving the
// points, presence and box in out: a candidate's first look, which decides whether it gets the
// remaining passes (finishPasses).
func (d *Detector) firstPass(ctx context.Context, photos []*imgproc.RGB, boxes []facecrop.Box, out []Face) error {
	return d.passes(ctx, photos, boxes, out, 1, false)
}

// passes is refine; its last pass is a final one (Flip and Zoom apply) when final.
func (d *Detector) passes(ctx context.Context, photos []*imgproc.RGB, boxes []facecrop.Box, out []Face, passes int, final bool) error {
	n := len(photos)
	for pass := range passes {
		if err := ctx.Err(); err != nil {
			return err
		}
		if pass > 0 {
			for i := range boxes {
				boxes[i] = d.passBox(out[i].Points)
			}
		}
		last := final && pass == passes-1
		// The crops: n of the boxes themselves, then, zooming, n scaled by each other factor.
		zooms := []float64{1}
		if last && d.cfg.Zoom > 0 {
			zooms = append(zooms, 1-d.cfg.Zoom, 1+d.cfg.Zoom)
		}
		crops := make([]*imgproc.RGB, len(zooms)*n)
		at := make([]facecrop.Box, len(zooms)*n)
		par.For(len(crops), func(j int) {
			i, photo := j%n, photos[j%n]
			at[j] = boxes[i]
			at[j].Side *= zooms[j/n]
			crops[j] = facecrop.Crop(photo, photo.W, photo.H, at[j], d.refine.Spec.Size)
		})
		res := d.predict(d.refine, crops, last && d.cfg.Flip)
		views := make([]landmark.Points, len(zooms))
		for i := range photos {
			for k := range zooms {
				views[k] = at[k*n+i].FromBox(res[k*n+i].Points)
			}
			out[i] = Face{Points: landmark.Mean(views...), Presence: res[i].Presence, Box: boxes[i]}
		}
	}
	return nil
}

// finishPasses keeps the first-pass results dets[k] (on photos[k]) whose presence reaches half
// of d.cfg.MinFace, runs the remaining refine passes on those, all in one batch, and returns their
// indices, dets updated in place.
func (d *Detector) finishPasses(ctx context.Context, photos []*imgproc.RGB, dets []Face) ([]int, error) {
	var kept []int
	for k, t := range dets {
		if t.Presence >= d.cfg.MinFace/2 {
			kept = append(kept, k)
		}
	}
	if err := d.morePasses(ctx, photos, dets, kept, max(d.cfg.Passes, 1)-1); err != nil {
		return nil, err
	}
	return kept, nil
}

// morePasses runs passes more refine passes (runRefine: the last a final one) on the faces
// dets[k], k in idx, each on photos[k] from a crop around its points, and writes the results
// back into dets; with no passes or no faces it does nothing.
func (d *Detector) morePasses(ctx context.Context, photos []*imgproc.RGB, dets []Face, idx []int, passes int) error {
	if passes <= 0 || len(idx) == 0 {
		return nil
	}
	ps, bs, out := make([]*imgproc.RGB, len(idx)), make([]facecrop.Box, len(idx)), make([]Face, len(idx))
	for j, k := range idx {
		ps[j], bs[j] = photos[k], d.passBox(dets[k].Points)
	}
	if err := d.runRefine(ctx, ps, bs, out, passes); err != nil {
		return err
	}
	for j, k := range idx {
		dets[k] = out[j]
	}
	return nil
}
