package catmark

import (
	"context"
	"math"

	"github.com/catmark/catmark/facecrop"
	"github.com/catmark/catmark/imgproc"
	"github.com/catmark/catmark/landmark"
	"github.com/catmark/catmark/model"
)

// quarterTurns is AnyAngle's first pass. The coarse model sees every photo in the four quarter
// turns, counter-clockwise (one batch, unmirrored); each turn's points give a first box turned
// back with the photo (a face upright in the photo turned by q quarters is turned by −q
// quarters in the photo); the refine model runs on all four boxes (one batch, unmirrored) and
// each photo keeps the turn with the highest face presence, in out. It returns each photo's
// runner-up turn's result too (pickTurns).
func (d *Detector) quarterTurns(ctx context.Context, photos []*imgproc.RGB, out []Face) ([]Face, error) {
	n := len(photos)
	turned := quarterInputs(photos, d.coarse.Spec.Size)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	coarse := d.predict(d.coarse, turned, false)
	all := make([]facecrop.Box, 4*n)
	crops := make([]*imgproc.RGB, 4*n)
	for i, photo := range photos {
		for q := range 4 {
			p := unturn(coarse[4*i+q].Points, q)
			b := d.firstBox(p.Denormalize(photo.W, photo.H), quarterAngle(q))
			all[4*i+q] = b
			crops[4*i+q] = facecrop.Crop(photo, photo.W, photo.H, b, d.refine.Spec.Size)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return d.pickTurns(d.predict(d.refine, crops, false), all, out), nil
}

// pickTurns keeps, for each photo i, the one of its four turned boxes all[4i…4i+3] whose
// prediction has the highest face presence, and returns each photo's runner-up turn's (the
// second highest presence). The choice depends only on the presences, so a photo turned by a
// quarter gets the same choice, turned with it.
func (d *Detector) pickTurns(refined []model.Output, all []facecrop.Box, out []Face) []Face {
	second := make([]Face, len(out))
	for i := range out {
		best, next := -1, -1
		for k := 4 * i; k < 4*i+4; k++ {
			switch {
			case best < 0 || refined[k].Presence > refined[best].Presence:
				best, next = k, best
			case next < 0 || refined[k].Presence > refined[next].Presence:
				next = k
			}
		}
		out[i] = Face{Points: all[best].FromBox(refined[best].Points), Presence: refined[best].Presence, Box: all[best]}
		second[i] = Face{Points: all[next].FromBox(refined[next].Points), Presence: refined[next].Presence, Box: all[next]}
	}
	return second
}

// upTurns returns, for each photo, the quarter turn q (0…3) that shows it upright: the turn in
// which the coarse model's points agree best with its points on the mirrored photo (the sum of
// the nine distances, in the coarse input's normalised coordinates), one batch of eight coarse
// inputs a photo. A model asked about a scene on its side guesses, and its guesses on the two
// mirror images part. On the validation photos it names the upright turn of 122 and 123 of
// val-select's 133 with recipe 7's two coarse models (119 and 122 with the distances over the
// points' extent, 120 and 123 with their median; docs/model-card.md).
func (d *Detector) upTurns(photos []*imgproc.RGB) []int {
	plain, mirrored := d.predictPair(d.coarse, quarterInputs(photos, d.coarse.Spec.Size), true)
	ups := make([]int, len(photos))
	for i := range photos {
		best := math.Inf(1)
		for q := range 4 {
			a, b := plain[4*i+q].Points, mirrored[4*i+q].Points.FlipNormalized()
			var gap float64
			for j := range a {
				gap += math.Hypot(a[j].X-b[j].X, a[j].Y-b[j].Y)
			}
			if gap < best {
				best, ups[i] = gap, q
			}
		}
	}
	return ups
}

// quarterInputs returns each photo resized to s×s in the four quarter turns, counter-clockwise:
// photo i turned by q at 4i+q.
func quarterInputs(photos []*imgproc.RGB, s int) []*imgproc.RGB {
	turned := make([]*imgproc.RGB, 0, 4*len(photos))
	for _, photo := range photos {
		small := photo.Resize(s, s)
		for q := range 4 {
			turned = append(turned, small.TurnQuarter(q))
		}
	}
	return turned
}

// unturnFace maps a face found on turned (photo turned by q quarters counter-clockwise) back to
// photo: its points and box centre, and its box angle less q quarters.
func unturnFace(det Face, q int, turned, photo *imgproc.RGB) Face {
	det.Points = unturn(det.Points.NormalizeUnclipped(turned.W, turned.H), q).Denormalize(photo.W, photo.H)
	c := unturnPoint(landmark.Point{X: det.Box.CX / float64(turned.W), Y: det.Box.CY / float64(turned.H)}, q)
	det.Box.CX, det.Box.CY = c.X*float64(photo.W), c.Y*float64(photo.H)
	det.Box.Angle = math.Remainder(det.Box.Angle+quarterAngle(q), 360)
	if det.Box.Angle == -180 {
		det.Box.Angle = 180
	}
	return det
}

// unturn maps points normalised to an image turned by q quarters counter-clockwise back to the
// image itself: (u, v) ↦ (1−v, u) undoes one quarter.
func unturn(p landmark.Points, q int) landmark.Points {
	for j, pt := range p {
		p[j] = unturnPoint(pt, q)
	}
	return p
}

// unturnPoint is unturn for one point.
func unturnPoint(pt landmark.Point, q int) landmark.Point {
	for range q & 3 {
		pt = landmark.Point{X: 1 - pt.Y, Y: pt.X}
	}
	return pt
}

// nearestQuarter is the quarter turn q (0…3) whose quarterAngle is nearest to a box angle in
// degrees: the photo turned by q quarters shows that face closest to upright.
func nearestQuarter(angle float64) int {
	return int(math.Round(-angle/90)) & 3
}

// quarterAngle is the box angle of a face upright in the photo turned by q quarters
// counter-clockwise: −q quarters, in (−180, 180].
func quarterAngle(q int) float64 {
	return [4]float64{0, -90, 180, 90}[q&3]
}
