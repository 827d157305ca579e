package model

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/catmark/catmark/engine/ref"
	"github.com/catmark/catmark/imgproc"
	"github.com/catmark/catmark/landmark"
	"github.com/catmark/catmark/models/resnet"
	"github.com/catmark/catmark/weights"
)

// centersMaps returns g×g maps with every logit at -5 and, for each face, its cell's values.
type mapFace struct {
	i, j    int
	logit   float32
	ox, oy  float32
	logSize float32
	angle   float64 // degrees
	points  landmark.Points
}

func centersMaps(g int, faces ...mapFace) []float32 {
	m := make([]float32, CentersChannels*g*g)
	for k := range g * g {
		m[k] = -5
	}
	set := func(c, i, j int, v float32) { m[(c*g+i)*g+j] = v }
	for _, f := range faces {
		set(CenterLogit, f.i, f.j, f.logit)
		set(CenterOffset, f.i, f.j, f.ox)
		set(CenterOffset+1, f.i, f.j, f.oy)
		set(CenterLogSize, f.i, f.j, f.logSize)
		s, c := math.Sincos(f.angle * math.Pi / 180)
		set(CenterCos, f.i, f.j, float32(c))
		set(CenterCos+1, f.i, f.j, float32(s))
		for q, p := range f.points {
			set(CenterPoints+2*q, f.i, f.j, float32(p.X))
			set(CenterPoints+2*q+1, f.i, f.j, float32(p.Y))
		}
	}
	return m
}

func TestDecodeCenters(t *testing.T) {
	square := Letterbox{W: 64, H: 64, ScaleX: 1, ScaleY: 1}
	half := NewLetterbox(80, 60, 64) // 4:3: scale 0.8, 8 px of padding above and below
	var pts landmark.Points
	pts[0] = landmark.Point{X: -0.25, Y: 0.1}
	for _, tc := range []struct {
		name      string
		lb        Letterbox
		faces     []mapFace
		plateau   [][2]int // cells set to the first face's logit too
		threshold float64
		max       int
		want      []Candidate // X, Y, Size, Angle, Score checked; Points[0] when set
	}{
		{"none", square, nil, nil, 0.5, 0, nil},
		{"one", square, []mapFace{{i: 2, j: 3, logit: 2, ox: 0.5, oy: 0.25, logSize: float32(math.Log(2)), angle: 45, points: pts}}, nil, 0.5, 0,
			[]Candidate{{X: 28, Y: 18, Size: 16, Angle: 45, Score: 1 / (1 + math.Exp(-2)), Points: landmark.Points{{X: 24, Y: 19.6}}}}},
		{"below threshold", square, []mapFace{{i: 2, j: 3, logit: -1}}, nil, 0.5, 0, nil},
		{"upside down", square, []mapFace{{i: 0, j: 0, logit: 1, angle: 180}}, nil, 0.5, 0,
			[]Candidate{{X: 0, Y: 0, Size: 8, Angle: 180, Score: 1 / (1 + math.Exp(-1))}}},
		{"two, best first", square, []mapFace{{i: 1, j: 1, logit: 1}, {i: 5, j: 6, logit: 3, angle: -90}}, nil, 0.5, 0,
			[]Candidate{{X: 48, Y: 40, Size: 8, Angle: -90, Score: 1 / (1 + math.Exp(-3))}, {X: 8, Y: 8, Size: 8, Score: 1 / (1 + math.Exp(-1))}}},
		{"neighbours suppressed", square, []mapFace{{i: 4, j: 4, logit: 3}, {i: 4, j: 5, logit: 2}, {i: 5, j: 5, logit: 2.5}}, nil, 0.5, 0,
			[]Candidate{{X: 32, Y: 32, Size: 8, Score: 1 / (1 + math.Exp(-3))}}},
		{"plateau gives one", square, []mapFace{{i: 3, j: 3, logit: 2}}, [][2]int{{3, 4}, {4, 3}}, 0.5, 0,
			[]Candidate{{X: 24, Y: 24, Size: 8, Score: 1 / (1 + math.Exp(-2))}}},
		{"max faces", square, []mapFace{{i: 1, j: 1, logit: 1}, {i: 5, j: 6, logit: 3}}, nil, 0.5, 1,
			[]Candidate{{X: 48, Y: 40, Size: 8, Score: 1 / (1 + math.Exp(-3))}}},
		{"letterboxed", half, []mapFace{{i: 4, j: 4, logit: 2, logSize: float32(math.Log(2))}}, nil, 0.1, 0,
			[]Candidate{{X: 40, Y: 30, Size: 20, Score: 1 / (1 + math.Exp(-2))}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := centersMaps(8, tc.faces...)
			for _, c := range tc.plateau {
				m[c[0]*8+c[1]] = tc.faces[0].logit
			}
			got, err := DecodeCenters(m, 8, 8, tc.lb, tc.threshold, tc.max)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d faces %+v, want %d", len(got), got, len(tc.want))
			}
			for k, w := range tc.want {
				g := got[k]
				if math.Abs(g.X-w.X) > 1e-4 || math.Abs(g.Y-w.Y) > 1e-4 || math.Abs(g.Size-w.Size) > 1e-4 ||
					math.Abs(g.Angle-w.Angle) > 1e-4 || math.Abs(g.Score-w.Score) > 1e-6 {
					t.Errorf("face %d = %+v, want %+v", k, g, w)
				}
				if w.Points[0] != (landmark.Point{}) && math.Hypot(g.Points[0].X-w.Points[0].X, g.Points[0].Y-w.Points[0].Y) > 1e-4 {
					t.Errorf("face %d point 0 = %v, want %v", k, g.Points[0], w.Points[0])
				}
			}
		})
	}
	if _, err := DecodeCenters(make([]float32, 10), 8, 8, square, 0.5, 0); err == nil {
		t.Error("DecodeCenters accepted 10 values for 8×8 cells")
	}
	// A wide input: 2×1 cells of maps, the face in the right one.
	wide := make([]float32, CentersChannels*2)
	wide[0], wide[1] = -3, 2
	got, err := DecodeCenters(wide, 2, 1, Letterbox{W: 32, H: 16, ScaleX: 1, ScaleY: 1}, 0.5, 0)
	if err != nil || len(got) != 1 || got[0].X != 8 || got[0].Y != 0 {
		t.Errorf("wide maps: %+v, %v; want one face at (8, 0)", got, err)
	}
}

func TestLetterbox(t *testing.T) {
	for _, tc := range []struct {
		w, h, s  int
		iw, ih   int     // the input
		ox, oy   float64 // the padding before the photo
		inW, inH int     // the photo's size in the input
	}{
		{200, 150, 64, 64, 64, 0, 8, 64, 48},     // 4:3: long side 64, as trained
		{150, 200, 64, 64, 64, 8, 0, 48, 64},     // 3:4
		{50, 50, 64, 64, 64, 0, 0, 64, 64},       // square, enlarged
		{300, 100, 64, 144, 64, 0, 8, 144, 48},   // 3:1: long side 64·¾·3 = 144
		{1000, 100, 64, 192, 64, 0, 22, 192, 19}, // 10:1: at most 3·64
		{100, 400, 64, 64, 192, 8, 0, 48, 192},   // 1:4: 64·¾·4 = 192
	} {
		lb := NewLetterbox(tc.w, tc.h, tc.s)
		if lb.W != tc.iw || lb.H != tc.ih || lb.OX != tc.ox || lb.OY != tc.oy {
			t.Errorf("%d×%d for %d: input %d×%d, offset (%v, %v); want %d×%d, (%v, %v)", tc.w, tc.h, tc.s, lb.W, lb.H, lb.OX, lb.OY, tc.iw, tc.ih, tc.ox, tc.oy)
		}
		if lb.W%CentersAlign != 0 || lb.H%CentersAlign != 0 {
			t.Errorf("%d×%d: input %d×%d, not multiples of %d", tc.w, tc.h, lb.W, lb.H, CentersAlign)
		}
		p := landmark.Point{X: 13, Y: 7}
		if q := lb.ToPhoto(lb.ToInput(p)); math.Hypot(q.X-p.X, q.Y-p.Y) > 1e-9 {
			t.Errorf("%d×%d: round trip of %v gives %v", tc.w, tc.h, p, q)
		}
		if c := lb.ToInput(landmark.Point{X: float64(tc.w), Y: float64(tc.h)}); c.X != tc.ox+float64(tc.inW) || c.Y != tc.oy+float64(tc.inH) {
			t.Errorf("%d×%d: far corner at %v, want (%v, %v)", tc.w, tc.h, c, tc.ox+float64(tc.inW), tc.oy+float64(tc.inH))
		}
		img := imgproc.New(tc.w, tc.h)
		if out := lb.Image(img); out.W != lb.W || out.H != lb.H {
			t.Errorf("%d×%d: letterboxed image %d×%d, want %d×%d", tc.w, tc.h, out.W, out.H, lb.W, lb.H)
		}
	}
}

func TestFaceGeometryTurns(t *testing.T) {
	var up landmark.Points
	// An upright face: eyes level, ear tips above the mouth.
	for q, p := range [9][2]float64{{40, 50}, {60, 50}, {50, 65}, {30, 40}, {32, 20}, {42, 35}, {58, 35}, {68, 20}, {70, 40}} {
		up[q] = landmark.Point{X: p[0], Y: p[1]}
	}
	g0 := FaceGeometry(up)
	for _, deg := range []float64{0, 30, 45, 90, -135} {
		s, c := math.Sincos(deg * math.Pi / 180)
		var turned landmark.Points
		for q, p := range up { // turned counter-clockwise on screen about (100, 100)
			dx, dy := p.X-100, p.Y-100
			turned[q] = landmark.Point{X: 100 + c*dx + s*dy, Y: 100 - s*dx + c*dy}
		}
		g := FaceGeometry(turned)
		wantX, wantY := 100+c*(g0.X-100)+s*(g0.Y-100), 100-s*(g0.X-100)+c*(g0.Y-100)
		if math.Abs(g.X-wantX) > 1e-6 || math.Abs(g.Y-wantY) > 1e-6 || math.Abs(g.Size-g0.Size) > 1e-6 ||
			math.Abs(math.Remainder(g.Angle-g0.Angle-deg, 360)) > 1e-6 {
			t.Errorf("turned by %v: %+v, want centre (%v, %v), size %v, angle %v", deg, g, wantX, wantY, g0.Size, g0.Angle+deg)
		}
	}
}

func TestCentersModel(t *testing.T) {
	b := ref.New()
	spec := Spec{Depth: 18, Width: 4, Size: 64, Stage: Centers, Norm: "imagenet", Head: resnet.Centers, Stages: 3}
	m, err := New(b, spec, 1)
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float32, 2*3*64*64)
	maps, err := m.CentersMaps(x, 2, 64, 64)
	if err != nil || len(maps) != 2*CentersChannels*8*8 {
		t.Fatalf("CentersMaps: %d values, %v; want %d", len(maps), err, 2*CentersChannels*64)
	}
	if wide, err := m.CentersMaps(make([]float32, 3*64*96), 1, 64, 96); err != nil || len(wide) != CentersChannels*8*12 {
		t.Errorf("CentersMaps on a 96×64 input: %d values, %v; want %d", len(wide), err, CentersChannels*8*12)
	}
	if _, err := m.CentersMaps(make([]float32, 3*64*72), 1, 64, 72); err == nil {
		t.Error("CentersMaps accepted a side of 72, not a multiple of 16")
	}
	path := filepath.Join(t.TempDir(), "centers.safetensors")
	if err := weights.Save(path, b, m.Params(), nil, m.Meta()); err != nil {
		t.Fatal(err)
	}
	back, err := Load(b, path)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := back.CentersMaps(x, 2, 64, 64)
	for i := range maps {
		if maps[i] != again[i] {
			t.Fatalf("reloaded model's output %d = %v, want %v", i, again[i], maps[i])
		}
	}
	for _, bad := range []Spec{
		{Depth: 18, Width: 4, Size: 64, Stage: Centers, Norm: "imagenet", Stages: 3},
		{Depth: 18, Width: 4, Size: 64, Stage: Centers, Norm: "imagenet", Head: resnet.Centers, Stages: 4},
		{Depth: 18, Width: 4, Size: 60, Stage: Centers, Norm: "imagenet", Head: resnet.Centers, Stages: 3},
		{Depth: 18, Width: 4, Size: 64, Stage: Whole, Norm: "imagenet", Head: resnet.Centers, Stages: 3},
	} {
		if err := bad.Validate(); err == nil {
			t.Errorf("Validate accepted %+v", bad)
		}
	}
}
