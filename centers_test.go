package catmark

import (
	"context"
	"image"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/catmark/catmark/augment"
	"github.com/catmark/catmark/imgproc"
	"github.com/catmark/catmark/landmark"
	"github.com/catmark/catmark/model"
	"github.com/catmark/catmark/models/resnet"
)

// centersFolder writes random coarse, refine (with presence) and centers models into a folder.
func centersFolder(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	saveRandomModel(t, filepath.Join(dir, model.CoarseFile), model.Whole, 1)
	saveRandomSpec(t, filepath.Join(dir, model.RefineFile), model.Spec{Depth: 18, Width: 4, Size: 32, Stage: model.Crop, Norm: "imagenet", Margin: 0.3, Presence: true}, 2)
	saveRandomSpec(t, filepath.Join(dir, model.CentersFile), model.Spec{Depth: 18, Width: 4, Size: 64, Stage: model.Centers, Norm: "imagenet", Head: resnet.Centers, Stages: 3}, 3)
	return dir
}

func centersSettings() Settings {
	s := Defaults
	s.FirstStage, s.Passes, s.Flip, s.Zoom, s.Grow, s.MinFace, s.Search = FirstCenters, 1, false, 0, 1.2, 0, 0
	return s
}

// TestCentersSearchWeak: a photo whose best centers face stays below Search gets the coarse
// first stage's search, and its face wins where its presence is higher; a photo whose centers
// face reaches Search is not searched; Search 0 searches nothing.
func TestCentersSearchWeak(t *testing.T) {
	photo := catPhoto(t)
	w, h := float64(photo.W), float64(photo.H)
	cand := []model.Candidate{{X: 0.3 * w, Y: 0.4 * h, Size: 0.2 * h, Score: 0.9}}
	replaced, kept := false, false
	for _, search := range []float64{0, 0.4, 0.5} {
		s := centersSettings()
		s.Search = search
		d, err := Load(centersFolder(t), WithSettings(s))
		if err != nil {
			t.Fatal(err)
		}
		d.firstStage = func(_ context.Context, photos []*imgproc.RGB) ([][]model.Candidate, error) {
			return [][]model.Candidate{cand}, nil
		}
		res, err := d.DetectAllBatch(context.Background(), []image.Image{photo.Image()})
		if err != nil || res[0].Err != nil {
			t.Fatal(err, res[0].Err)
		}
		best := res[0].Faces[0]
		centersBox := d.candidateBox(cand[0])
		// What the coarse first stage alone finds on the photo.
		c := s
		c.FirstStage = FirstCoarse
		dc, err := Load(centersFolder(t), WithSettings(c))
		if err != nil {
			t.Fatal(err)
		}
		coarse, err := dc.DetectAllBatch(context.Background(), []image.Image{photo.Image()})
		if err != nil || coarse[0].Err != nil {
			t.Fatal(err, coarse[0].Err)
		}
		searched := coarse[0].Faces[0]
		// What the centers first stage alone finds.
		s0 := s
		s0.Search = 0
		d0, err := Load(centersFolder(t), WithSettings(s0))
		if err != nil {
			t.Fatal(err)
		}
		d0.firstStage = d.firstStage
		plain, err := d0.DetectAllBatch(context.Background(), []image.Image{photo.Image()})
		if err != nil || plain[0].Err != nil {
			t.Fatal(err, plain[0].Err)
		}
		own := plain[0].Faces[0]
		if own.Box != centersBox {
			t.Fatalf("search 0: best face's box %+v, want the candidate's crop %+v", own.Box, centersBox)
		}
		weak := search > 0 && own.Presence < s.Search
		switch {
		case !weak && best.Box != own.Box:
			t.Errorf("search %v, centers presence %.3f: the photo was searched (box %+v), want the centers face", search, own.Presence, best.Box)
		case weak && searched.Presence > own.Presence && best.Box != searched.Box:
			t.Errorf("search %v: centers presence %.3f, search's %.3f: best box %+v, want the search's %+v", search, own.Presence, searched.Presence, best.Box, searched.Box)
		case weak && searched.Presence <= own.Presence && best.Box != own.Box:
			t.Errorf("search %v: centers presence %.3f ≥ search's %.3f, yet best box %+v", search, own.Presence, searched.Presence, best.Box)
		}
		replaced = replaced || weak && searched.Presence > own.Presence
		kept = kept || search > 0 && !weak
		if weak && best.Presence < max(own.Presence, searched.Presence) {
			t.Errorf("search %v: best presence %.3f, below the centers face's %.3f or the search's %.3f", search, best.Presence, own.Presence, searched.Presence)
		}
	}
	if !replaced || !kept {
		t.Fatalf("the random models gave no case where the search's face replaces the centers one (%v) or no searched-free case (%v): change the thresholds", replaced, kept)
	}
}

func TestLoadCenters(t *testing.T) {
	dir := centersFolder(t)
	d, err := Load(dir, WithSettings(centersSettings()))
	if err != nil {
		t.Fatal(err)
	}
	if !d.usesCenters() {
		t.Fatal("a folder with a centers model and --first-stage centers does not use it")
	}
	if plain, err := Load(dir); err != nil || plain.usesCenters() {
		t.Errorf("default settings: uses centers %v (%v); want the coarse first stage", plain != nil && plain.usesCenters(), err)
	}
	noCenters := t.TempDir()
	saveRandomModel(t, filepath.Join(noCenters, model.CoarseFile), model.Whole, 1)
	saveRandomSpec(t, filepath.Join(noCenters, model.RefineFile), model.Spec{Depth: 18, Width: 4, Size: 32, Stage: model.Crop, Norm: "imagenet", Margin: 0.3, Presence: true}, 2)
	if _, err := Load(noCenters, WithSettings(centersSettings())); err == nil || !strings.Contains(err.Error(), model.CentersFile) {
		t.Errorf("no centers model: error %v, want one naming %s", err, model.CentersFile)
	}
	bad := centersSettings()
	bad.FirstStage = "sideways"
	if _, err := Load(dir, WithSettings(bad)); err == nil {
		t.Error("Load accepted first stage \"sideways\"")
	}
	// The real first stage runs end to end: every photo gets a best face with a turned box.
	photo := catPhoto(t)
	all, err := d.DetectAll(photo.Image())
	if err != nil || len(all) == 0 {
		t.Fatalf("DetectAll: %d faces, %v", len(all), err)
	}
	if math.IsNaN(all[0].Presence) || all[0].Box.Side <= 0 {
		t.Errorf("best face %+v: want a presence and a box", all[0])
	}
	// Photos whose letterboxed inputs differ in size (a 3:1 panorama gets a longer one) run in
	// their own batches, and each gets its candidates.
	wide := imgproc.New(3*photo.W, photo.H)
	for y := range photo.H {
		for k := range 3 {
			copy(wide.Pix[(y*wide.W+k*photo.W)*3:], photo.Pix[y*photo.W*3:(y+1)*photo.W*3])
		}
	}
	cands, err := d.findCenters(context.Background(), []*imgproc.RGB{photo, wide, photo})
	if err != nil || len(cands) != 3 || len(cands[0]) == 0 || len(cands[1]) == 0 {
		t.Fatalf("findCenters on two sizes: %d photos' candidates, %v", len(cands), err)
	}
	if cands[0][0] != cands[2][0] {
		t.Errorf("one photo twice in a batch: best candidates %+v and %+v", cands[0][0], cands[2][0])
	}
}

// TestCentersPipelineCrops injects first-stage candidates and checks that each is refined in its
// own crop, turned by its angle, and that turning the photo by 45° turns the crops and the points
// with it.
func TestCentersPipelineCrops(t *testing.T) {
	d, err := Load(centersFolder(t), WithSettings(centersSettings()))
	if err != nil {
		t.Fatal(err)
	}
	photo := catPhoto(t)
	w, h := float64(photo.W), float64(photo.H)
	cands := []model.Candidate{
		{X: 0.3 * w, Y: 0.4 * h, Size: 0.2 * h, Angle: 0, Score: 0.9},
		{X: 0.75 * w, Y: 0.6 * h, Size: 0.15 * h, Angle: -60, Score: 0.5},
	}
	run := func(p *imgproc.RGB, cs []model.Candidate) []Face {
		t.Helper()
		d.firstStage = func(_ context.Context, photos []*imgproc.RGB) ([][]model.Candidate, error) {
			return [][]model.Candidate{cs}, nil
		}
		res, err := d.DetectAllBatch(context.Background(), []image.Image{p.Image()})
		if err != nil || res[0].Err != nil {
			t.Fatal(err, res[0].Err)
		}
		return res[0].Faces
	}
	faces := run(photo, cands)
	if len(faces) != 2 {
		t.Fatalf("%d faces from two far-apart candidates (min face 0), want 2", len(faces))
	}
	margin := d.refine.Spec.Margin
	for _, c := range cands {
		want := d.candidateBox(c)
		if want.Side != c.Size*(1+2*margin)*1.2 || want.Angle != c.Angle {
			t.Fatalf("candidate box %+v for %+v", want, c)
		}
		found := false
		for _, f := range faces {
			found = found || f.Box == want
		}
		if !found {
			t.Errorf("no face refined in the crop %+v of candidate %+v; faces %+v", want, c, faces)
		}
	}
	// The photo turned by 45° about its centre, onto a canvas that holds all of it.
	side := math.Ceil((w + h) / math.Sqrt2)
	turn := augment.Turn(w/2, h/2, 1, 45, side/2, side/2)
	turned := imgproc.New(int(side), int(side))
	augment.Render(turned, augment.Photo{Img: photo, W: photo.W, H: photo.H}, turn)
	var turnedCands []model.Candidate
	for _, c := range cands {
		p := turn.Point(landmark.Point{X: c.X, Y: c.Y})
		c.X, c.Y, c.Angle = p.X, p.Y, c.Angle+45
		turnedCands = append(turnedCands, c)
	}
	again := run(turned, turnedCands)
	if len(again) != len(faces) {
		t.Fatalf("%d faces on the turned photo, %d upright", len(again), len(faces))
	}
	for _, f := range faces {
		c := turn.Point(landmark.Point{X: f.Box.CX, Y: f.Box.CY})
		var g *Face
		for k := range again {
			if math.Hypot(again[k].Box.CX-c.X, again[k].Box.CY-c.Y) < 1e-6 {
				g = &again[k]
			}
		}
		if g == nil {
			t.Fatalf("no crop on the turned photo at (%v, %v), the turned crop of %+v", c.X, c.Y, f.Box)
		}
		if math.Abs(math.Remainder(g.Box.Angle-f.Box.Angle-45, 360)) > 1e-9 {
			t.Errorf("crop angle %v on the turned photo, want %v + 45", g.Box.Angle, f.Box.Angle)
		}
		// The same crop content gives the same points, turned with the photo (up to resampling).
		want := turn.Points(f.Points)
		for q := range want {
			if e := math.Hypot(g.Points[q].X-want[q].X, g.Points[q].Y-want[q].Y); e > 0.03*f.Box.Side {
				t.Errorf("point %d on the turned photo %v, want %v (off by %.2f px, box side %.0f)", q, g.Points[q], want[q], e, f.Box.Side)
			}
		}
		if math.Abs(g.Presence-f.Presence) > 0.05 {
			t.Errorf("presence %v on the turned photo, %v upright", g.Presence, f.Presence)
		}
	}
}

// TestCentersSize: Settings.CentersSize is the side the centers model reads photos at: the
// candidates change with it (the model sees another input).
func TestCentersSize(t *testing.T) {
	dir := centersFolder(t)
	photo := catPhoto(t)
	var got [][]model.Candidate
	for _, size := range []int{0, 128} {
		s := centersSettings()
		s.CentersSize = size
		d, err := Load(dir, WithSettings(s))
		if err != nil {
			t.Fatal(err)
		}
		cs, err := d.findCenters(context.Background(), []*imgproc.RGB{photo})
		if err != nil {
			t.Fatal(err)
		}
		if len(cs[0]) == 0 {
			t.Fatalf("centers size %d: no candidate", size)
		}
		got = append(got, cs[0])
	}
	if got[0][0] == got[1][0] {
		t.Errorf("centers size 128 gives the same best candidate as the model's own 64: %+v", got[0][0])
	}
}
