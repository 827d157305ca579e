package metrics

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/catmark/catmark/landmark"
)

// face is a truth in a 400×300 image with the eyes 100 px apart, all points inside the image.
func face() landmark.Points {
	return points(
		100, 100, 200, 100, 150, 180,
		60, 60, 80, 20, 120, 50,
		180, 50, 220, 20, 240, 60,
	)
}

// points builds Points from x0, y0, …, x8, y8.
func points(v ...float64) landmark.Points {
	p, err := landmark.FromFlat(v)
	if err != nil {
		panic(err)
	}
	return p
}

func shifted(p landmark.Points, dx, dy float64) landmark.Points {
	for i := range p {
		p[i].X += dx
		p[i].Y += dy
	}
	return p
}

func sample(pred landmark.Points) Sample {
	return Sample{Pred: pred, Truth: face(), Width: 400, Height: 300}
}

func TestPerfect(t *testing.T) {
	r := Compute([]Sample{sample(face()), sample(face())})
	want := Report{PCK005: 1, PCK01: 1, N: 2}
	if r != want {
		t.Errorf("perfect predictions: %+v, want %+v", r, want)
	}
}

func TestShiftByFivePercentOfEyeDistance(t *testing.T) {
	// Every point moved by (3, 4) px: distance exactly 5 = 0.05 × eye distance 100 (all exact in
	// binary). NME is 0.05 (up to rounding in the mean of nine values); PCK is inclusive, so every point counts at 0.05 as well as at 0.1.
	r := Compute([]Sample{sample(shifted(face(), 3, 4))})
	if math.Abs(r.NME-0.05) > 1e-15 || r.PCK01 != 1 || r.PCK005 != 1 || r.FailureRate != 0 || r.N != 1 {
		t.Errorf("shift by 0.05·d: %+v, want NME 0.05, PCK@0.05 = PCK@0.1 = 1 (boundary inclusive), failure 0", r)
	}
	for i, v := range r.PerPoint {
		if v != 0.05 {
			t.Errorf("per point %s = %g, want 0.05", landmark.Names[i], v)
		}
	}
	// Just past the boundary, no point is within 0.05·d.
	r = Compute([]Sample{sample(shifted(face(), 3, 4.001))})
	if r.PCK005 != 0 || r.PCK01 != 1 {
		t.Errorf("shift just past 0.05·d: PCK@0.05 = %g, PCK@0.1 = %g, want 0 and 1", r.PCK005, r.PCK01)
	}
}

func TestNMEFailureAndPerPoint(t *testing.T) {
	// Image 1: perfect. Image 2: every point 20 px off (NME 0.2, a failure). Image 3: only the
	// mouth 30 px off: NME 0.3/9 ≈ 0.033, no failure, the mouth's error 0.3.
	mouth := face()
	mouth[2].Y += 30
	r := Compute([]Sample{sample(face()), sample(shifted(face(), 0, 20)), sample(mouth)})
	if want := (0 + 0.2 + 0.3/9) / 3; math.Abs(r.NME-want) > 1e-15 {
		t.Errorf("NME = %.17g, want (0 + 0.2 + 0.3/9)/3 = %.17g", r.NME, want)
	}
	if r.FailureRate != 1.0/3 {
		t.Errorf("failure rate = %g, want 1/3", r.FailureRate)
	}
	// PCK@0.1: image 1 all 9, image 2 none, image 3 eight of nine → 17/27.
	if r.PCK01 != 17.0/27 || r.PCK005 != 17.0/27 {
		t.Errorf("PCK@0.1 = %g, PCK@0.05 = %g, want 17/27 for both", r.PCK01, r.PCK005)
	}
	for i, v := range r.PerPoint {
		want := 0.2 / 3
		if i == 2 {
			want = (0.2 + 0.3) / 3
		}
		if math.Abs(v-want) > 1e-15 {
			t.Errorf("per point %s = %g, want %g", landmark.Names[i], v, want)
		}
	}
}

func TestMSE(t *testing.T) {
	// 400×300 image. The left eye's x is 40 px off (0.1 normalised) and the mouth's y 30 px off
	// (0.1 normalised): (0.1² + 0.1²)/18 = 0.02/18.
	p := face()
	p[0].X += 40
	p[2].Y -= 30
	r := Compute([]Sample{sample(p)})
	if want := 0.02 / 18; math.Abs(r.MSE-want) > 1e-17 {
		t.Errorf("MSE = %.17g, want 0.02/18 = %.17g", r.MSE, want)
	}
	// Averaged over images: with a perfect second image the MSE halves.
	r2 := Compute([]Sample{sample(p), sample(face())})
	if want := 0.01 / 18; math.Abs(r2.MSE-want) > 1e-17 {
		t.Errorf("MSE over two images = %.17g, want 0.01/18", r2.MSE)
	}
}

func TestMSEClips(t *testing.T) {
	// A true ear tip above the frame (y = −20) predicted on the frame's edge (y = 0), and a true
	// outer base at the right edge (x = 400) predicted beyond it (x = 440): both clip to the same
	// normalised value, so the seed's MSE is 0 while NME still sees 20 and 40 px of error.
	truth := face()
	truth[4].Y = -20
	truth[8].X = 400
	pred := truth
	pred[4].Y = 0
	pred[8].X = 440
	r := Compute([]Sample{{Pred: pred, Truth: truth, Width: 400, Height: 300}})
	if r.MSE != 0 {
		t.Errorf("MSE = %g, want 0 after clipping", r.MSE)
	}
	if want := (0.2 + 0.4) / 9; math.Abs(r.NME-want) > 1e-15 {
		t.Errorf("NME = %g, want (0.2+0.4)/9 = %g", r.NME, want)
	}
}

func TestSkipped(t *testing.T) {
	sameEyes := face()
	sameEyes[1] = sameEyes[0]
	bad := []Sample{
		{Pred: face(), Truth: sameEyes, Width: 400, Height: 300},
		{Pred: face(), Truth: face(), Width: 0, Height: 300},
		{Pred: face(), Truth: face(), Width: 400, Height: -1},
	}
	off := sample(shifted(face(), 0, 20))
	r := Compute(append(bad, off))
	if r.N != 1 || r.Skipped != 3 {
		t.Fatalf("N = %d, Skipped = %d, want 1 and 3", r.N, r.Skipped)
	}
	if math.Abs(r.NME-0.2) > 1e-15 || r.FailureRate != 1 {
		t.Errorf("skipped images leaked into the figures: NME %g, failure %g; want 0.2 and 1", r.NME, r.FailureRate)
	}
	if _, ok := bad[0].Errors(); ok {
		t.Errorf("Errors reports ok for coinciding true eyes")
	}
	empty := Compute(nil)
	if empty != (Report{}) {
		t.Errorf("empty evaluation = %+v, want the zero report", empty)
	}
	if _, err := json.Marshal(empty); err != nil {
		t.Errorf("empty report does not encode: %v", err)
	}
}

func TestJSON(t *testing.T) {
	mouth := face()
	mouth[2].Y += 30
	r := Compute([]Sample{sample(mouth), sample(face())})
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var generic map[string]any
	if err := json.Unmarshal(b, &generic); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"mse", "nme", "failure_rate", "pck_0_05", "pck_0_1", "per_point", "n", "skipped"} {
		if _, ok := generic[k]; !ok {
			t.Errorf("JSON %s lacks key %q", b, k)
		}
	}
	if len(generic) != 8 {
		t.Errorf("JSON has %d keys, want 8: %s", len(generic), b)
	}
	pp, ok := generic["per_point"].([]any)
	if !ok || len(pp) != landmark.N {
		t.Fatalf("per_point = %v, want a list of %d objects", generic["per_point"], landmark.N)
	}
	m := pp[2].(map[string]any)
	if m["name"] != "mouth" || m["nme"] != 0.15 {
		t.Errorf("per_point[2] = %v, want {name: mouth, nme: 0.15}", m)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back != r {
		t.Errorf("round trip: %+v, want %+v", back, r)
	}
}

func TestPerPointUnmarshalErrors(t *testing.T) {
	var list []string
	for _, n := range landmark.Names {
		list = append(list, fmt.Sprintf(`{"name":%q,"nme":0.1}`, n))
	}
	tests := []struct{ in, mention string }{
		{`[` + strings.Join(list[:8], ",") + `]`, "right_ear_outer_base"},
		{`[` + strings.Join(append(list, list[0]), ",") + `]`, "twice"},
		{`[{"name":"nose","nme":0.1}]`, `"nose"`},
		{`{"left_eye":0.1}`, "per_point"},
	}
	for _, tc := range tests {
		var e PointErrors
		err := json.Unmarshal([]byte(tc.in), &e)
		if err == nil || !strings.Contains(err.Error(), tc.mention) {
			t.Errorf("Unmarshal(%s) error %v, want one mentioning %s", tc.in, err, tc.mention)
		}
	}
}

func ExampleCompute() {
	truth, _ := landmark.FromFlat([]float64{
		100, 100, 200, 100, 150, 180, // eyes 100 px apart, mouth
		60, 60, 80, 20, 120, 50, // left ear
		180, 50, 220, 20, 240, 60, // right ear
	})
	pred := truth
	pred[4].Y += 50 // the left ear tip half an eye distance too low
	r := Compute([]Sample{{Pred: pred, Truth: truth, Width: 320, Height: 240}})
	fmt.Println(r)
	fmt.Printf("%s: %.2f\n", landmark.Names[4], r.PerPoint[4])
	// Output:
	// n=1 skipped=0 mse=0.00241 nme=0.0556 failure=0.000 pck@0.05=0.889 pck@0.1=0.889
	// left_ear_tip: 0.50
}
