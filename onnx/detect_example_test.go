package onnx

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/catmark/catmark"
	"github.com/catmark/catmark/engine"
	_ "github.com/catmark/catmark/engine/ref" // the detector's backend here
	"github.com/catmark/catmark/imgproc"
	"github.com/catmark/catmark/internal/fixture"
	"github.com/catmark/catmark/landmark"
	"github.com/catmark/catmark/model"
)

// exampleDir is the node example that runs the exported detector.
const exampleDir = "../examples/onnx"

// exportShipped writes the shipped detector's two networks to a folder and returns it.
func exportShipped(t *testing.T) string {
	t.Helper()
	b, err := engine.Open("ref")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, name := range []string{"coarse", "refine"} {
		data, err := fs.ReadFile(model.Shipped, name+".safetensors")
		if err != nil {
			t.Fatal(err)
		}
		m, err := model.LoadBytes(b, name+".safetensors", data)
		if err != nil {
			t.Fatal(err)
		}
		if err := WriteFile(filepath.Join(dir, name+".onnx"), m); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// examples/onnx/detect.js, given the pixels catmark decodes, finds the points catmark's detector
// finds with one refine pass and nothing else (no mirroring, zoom, turns or search), within
// 0.02 px; and on the JPEG files themselves, decoded by jpeg-js, it prints the nine named points
// within 3 px of them.
func TestExampleMatchesDetector(t *testing.T) {
	if testing.Short() {
		t.Skip("runs node")
	}
	needRuntime(t)
	if _, err := os.Stat(filepath.Join(exampleDir, "node_modules", "jpeg-js")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true and the example's packages are not installed: %v", err)
		}
		t.Skip("examples/onnx's packages are not installed (npm ci --ignore-scripts --prefix examples/onnx)")
	}
	det, err := catmark.Load("", catmark.WithBackend("ref"), catmark.WithSettings(catmark.Settings{Passes: 1, Grow: catmark.Defaults.Grow}))
	if err != nil {
		t.Fatal(err)
	}
	models := exportShipped(t)
	var files []string
	var want []landmark.Points
	args := []string{filepath.Join("testdata", "example_check.js"), models}
	for i := range 6 {
		file := fixture.Path(t, i*7)
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		photo, _, err := imgproc.Decode(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		raw := filepath.Join(t.TempDir(), "photo.rgb")
		if err := os.WriteFile(raw, photo.Pix, 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, strconv.Itoa(photo.W), strconv.Itoa(photo.H), raw)
		p, err := det.Detect(photo.Image())
		if err != nil {
			t.Fatal(err)
		}
		files, want = append(files, file), append(want, p)
	}
	out, err := exec.Command("node", args...).Output()
	if err != nil {
		t.Fatalf("node example_check.js: %v\n%s", err, stderr(err))
	}
	var got []struct {
		Points [][2]float64 `json:"points"`
	}
	if err := json.Unmarshal(out, &got); err != nil || len(got) != len(want) {
		t.Fatalf("example_check.js printed %d results (%v), want %d", len(got), err, len(want))
	}
	worst := 0.0
	for i, g := range got {
		d := farthest(g.Points, want[i])
		if d > 0.02 {
			t.Errorf("%s: a point %.3g px from catmark's", filepath.Base(files[i]), d)
		}
		worst = math.Max(worst, d)
	}
	t.Logf("%d photos as catmark decodes them: the farthest point %.2g px from catmark's", len(got), worst)

	// The command itself, on the JPEG file: nine lines "name x y" after the header.
	out, err = exec.Command("node", filepath.Join(exampleDir, "detect.js"), models, files[0]).Output()
	if err != nil {
		t.Fatalf("node detect.js: %v\n%s", err, stderr(err))
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 1+landmark.N {
		t.Fatalf("detect.js printed %d lines, want a header and %d points:\n%s", len(lines), landmark.N, out)
	}
	var printed [][2]float64
	for k, line := range lines[1:] {
		var name string
		var x, y float64
		if _, err := fmt.Sscan(line, &name, &x, &y); err != nil || name != landmark.Names[k] {
			t.Fatalf("line %q: want %s and two numbers (%v)", line, landmark.Names[k], err)
		}
		printed = append(printed, [2]float64{x, y})
	}
	d := farthest(printed, want[0])
	if d > 3 {
		t.Errorf("%s decoded by jpeg-js: a point %.3g px from catmark's", filepath.Base(files[0]), d)
	}
	t.Logf("%s decoded by jpeg-js: the farthest point %.2g px from catmark's", filepath.Base(files[0]), d)
}

// farthest returns the largest distance between got[k] and want[k].
func farthest(got [][2]float64, want landmark.Points) float64 {
	if len(got) != len(want) {
		return math.Inf(1)
	}
	d := 0.0
	for k, p := range got {
		d = math.Max(d, math.Hypot(p[0]-want[k].X, p[1]-want[k].Y))
	}
	return d
}

// stderr returns what a failed command wrote to its standard error.
func stderr(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}
