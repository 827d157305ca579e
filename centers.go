package catmark

import (
	"context"
	"fmt"
	"sort"

	"github.com/catmark/catmark/facecrop"
	"github.com/catmark/catmark/imgproc"
	"github.com/catmark/catmark/internal/par"
	"github.com/catmark/catmark/model"
)

// First stages a detector can run (Settings.FirstStage).
const (
	// FirstCoarse is the coarse model (coarse.safetensors) with the searches that recover a
	// face's angle and further faces: quarter turns, windows, erasing and looking again, tiles.
	FirstCoarse = "coarse"
	// FirstCenters is the centers model (model.CentersFile), which reads the photo once and gives
	// every face's centre, size and angle; each candidate's refine crop is turned by its angle. A
	// photo whose best face stays below Settings.Search is searched as with FirstCoarse.
	FirstCenters = "centers"
)

// Candidates of the centers first stage (centersPipeline): at most maxCandidates a photo with a
// presence of at least centersThreshold, and the photo's best candidate whatever its presence.
const (
	centersThreshold = 0.1
	maxCandidates    = 2 * maxFaces
)

// usesCenters reports whether the detector runs the centers first stage.
func (d *Detector) usesCenters() bool {
	return d.cfg.FirstStage == FirstCenters && d.centers != nil
}

// findCenters runs the centers model once on every photo, letterboxed to Settings.CentersSize
// (model.NewLetterbox; the photos whose inputs have one size in one batch), and returns each
// photo's candidates in its pixels, best first.
func (d *Detector) findCenters(ctx context.Context, photos []*imgproc.RGB) ([][]model.Candidate, error) {
	type input struct {
		x  []float32
		lb model.Letterbox
	}
	ins := make([]input, len(photos))
	bySize := map[[2]int][]int{}
	var sizes [][2]int
	spec := d.centers.Spec
	if d.cfg.CentersSize > 0 {
		spec.Size = d.cfg.CentersSize
	}
	par.For(len(photos), func(i int) { ins[i].x, ins[i].lb = spec.CentersInput(photos[i]) })
	for i := range photos {
		k := [2]int{ins[i].lb.W, ins[i].lb.H}
		if bySize[k] == nil {
			sizes = append(sizes, k)
		}
		bySize[k] = append(bySize[k], i)
	}
	out := make([][]model.Candidate, len(photos))
	for _, k := range sizes {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		at := bySize[k]
		var x []float32
		for _, i := range at {
			x = append(x, ins[i].x...)
		}
		maps, err := d.centers.CentersMaps(x, len(at), k[1], k[0])
		if err != nil {
			return nil, err
		}
		gw, gh := k[0]/model.CentersStride, k[1]/model.CentersStride
		per := model.CentersChannels * gw * gh
		for j, i := range at {
			all, err := model.DecodeCenters(maps[j*per:(j+1)*per], gw, gh, ins[i].lb, 0, maxCandidates)
			if err != nil {
				return nil, err
			}
			for r, c := range all {
				if r == 0 || c.Score >= centersThreshold {
					out[i] = append(out[i], c)
				}
			}
		}
	}
	return out, nil
}

// candidateBox is the first refine crop of a centers candidate: its face box grown by the refine
// model's margin (and Settings.Grow), turned by its angle.
func (d *Detector) candidateBox(c model.Candidate) facecrop.Box {
	b := facecrop.Box{CX: c.X, CY: c.Y, Side: max(c.Size, facecrop.MinFaceSide) * (1 + 2*d.refine.Spec.Margin), Angle: c.Angle}
	if d.cfg.Grow > 0 {
		b.Side *= d.cfg.Grow
	}
	return b
}

// centersPipeline is the detector with the centers first stage: one pass of the centers model
// (d.firstStage) gives each photo's candidates; every candidate gets one unmirrored refine pass
// in a crop turned by its angle (all photos' candidates in one batch); the candidates whose
// presence reaches half of MinFace, and each photo's best, get the remaining passes (one batch);
// and each photo keeps its faces best first (by rank: the refine model's presence times the
// centers model's): the best one always, the others when their refine presence reaches MinFace
// and they overlap no better face. A photo whose best face's presence stays below Search is
// searched as the coarse first stage searches (searchWeak); the others get no quarter turns,
// windows, erasing or tiles. The caller holds d.mu.
func (d *Detector) centersPipeline(ctx context.Context, photos []*imgproc.RGB) ([][]Face, error) {
	cands, err := d.firstStage(ctx, photos)
	if err != nil {
		return nil, err
	}
	var ps []*imgproc.RGB
	var boxes []facecrop.Box
	var of []int        // photo of each candidate
	var score []float64 // the centers model's presence of each candidate
	for i, cs := range cands {
		if len(cs) == 0 { // no candidate at all: the middle of the photo, for a best face
			p := photos[i]
			cs = []model.Candidate{{X: float64(p.W) / 2, Y: float64(p.H) / 2, Size: float64(min(p.W, p.H)) / 2}}
		}
		for _, c := range cs {
			ps, boxes, of = append(ps, photos[i]), append(boxes, d.candidateBox(c)), append(of, i)
			score = append(score, c.Score)
		}
	}
	dets := make([]Face, len(ps))
	if err := d.firstPass(ctx, ps, boxes, dets); err != nil {
		return nil, err
	}
	best := make([]int, len(photos))
	for i := range best {
		best[i] = -1
	}
	for k, i := range of {
		if best[i] < 0 || rank(dets[k], score[k]) > rank(dets[best[i]], score[best[i]]) {
			best[i] = k
		}
	}
	var more []int
	for k, i := range of {
		if k == best[i] || dets[k].Presence >= d.cfg.MinFace/2 {
			more = append(more, k)
		}
	}
	if err := d.morePasses(ctx, ps, dets, more, max(d.cfg.Passes, 1)-1); err != nil {
		return nil, err
	}
	type ranked struct {
		f    Face
		rank float64
	}
	all := make([][]ranked, len(photos))
	for _, k := range more {
		all[of[k]] = append(all[of[k]], ranked{dets[k], rank(dets[k], score[k])})
	}
	out := make([][]Face, len(photos))
	for i, fs := range all {
		sort.SliceStable(fs, func(a, b int) bool { return fs[a].rank > fs[b].rank })
		for r, f := range fs {
			if r == 0 || f.f.Presence >= d.cfg.MinFace && !overlapsAny(f.f.Points, out[i]) && len(out[i]) < maxFaces {
				out[i] = append(out[i], f.f)
			}
		}
	}
	return out, d.searchWeak(ctx, photos, out)
}

// searchWeak runs the coarse first stage with its searches (detectLocked: quarter turns,
// windows) on the photos whose best face from the centers model has a presence below
// Settings.Search (0: never), and where that finds a face of higher presence, it becomes the
// photo's best face, the centers faces that overlap it dropped. The centers model misses some
// small faces and faces at a picture's edge that the search finds (docs/experiments.md#centers-1).
// all holds each photo's faces, best first, and is updated in place.
func (d *Detector) searchWeak(ctx context.Context, photos []*imgproc.RGB, all [][]Face) error {
	if d.cfg.Search <= 0 {
		return nil
	}
	weak, at := weakPhotos(photos, func(i int) Face { return all[i][0] }, d.cfg.Search)
	if len(weak) == 0 {
		return nil
	}
	found, err := d.detectLocked(ctx, weak, d.cfg.Search)
	if err != nil {
		return err
	}
	for k, i := range at {
		if f := found[k]; f.Presence > all[i][0].Presence {
			faces := []Face{f}
			for _, g := range all[i] {
				if !overlapsAny(g.Points, faces[:1]) {
					faces = append(faces, g)
				}
			}
			all[i] = faces
		}
	}
	return nil
}

// rank orders a photo's refined candidates: the refine model's presence times the centers
// model's. Either alone is fooled where the other is not: the refine model by a crop of fur or
// foliage that its passes walk into, the centers model by a face-like blob.
func rank(f Face, score float64) float64 { return f.Presence * score }

// checkCenters reports a detector that is to run the centers first stage but cannot: path (the
// model folder) holds no centers model, or its refine model has no presence output.
func (d *Detector) checkCenters(path string) error {
	if d.cfg.FirstStage != FirstCenters {
		return nil
	}
	if d.centers == nil {
		return fmt.Errorf("catmark: first stage %q: %s holds no %s (train one with catmark train --stage centers)", FirstCenters, path, model.CentersFile)
	}
	if d.centers.Spec.Stage != model.Centers {
		return fmt.Errorf("catmark: %s: %s is a %q model, not a %q one", path, model.CentersFile, d.centers.Spec.Stage, model.Centers)
	}
	if !d.manyFaces() {
		return fmt.Errorf("catmark: first stage %q needs a refine model with a face-presence output in %s", FirstCenters, path)
	}
	return nil
}
