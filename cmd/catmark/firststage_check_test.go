package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/catmark/catmark/engine/ref"
	"github.com/catmark/catmark/internal/fixture"
	"github.com/catmark/catmark/model"
	"github.com/catmark/catmark/models/resnet"
	"github.com/catmark/catmark/weights"
)

// saveSpec writes a randomly initialised model of spec to path.
func saveSpec(t *testing.T, path string, spec model.Spec, seed int64) {
	t.Helper()
	b := ref.New()
	m, err := model.New(b, spec, seed)
	if err != nil {
		t.Fatal(err)
	}
	if err := weights.Save(path, b, m.Params(), nil, m.Meta()); err != nil {
		t.Fatal(err)
	}
}

// needTools skips the test when a tool is missing, or fails it on CI, where .ci/run installs them.
func needTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is needed: %v", tool, err)
			}
			t.Skipf("%s is needed: %v", tool, err)
		}
	}
}

// scripts/first-stage-check.sh runs every step in its smoke mode, on a few fixture photos with
// tiny random models (the candidate with a centers model and --first-stage centers), and writes
// a summary with both sides' figures and every threshold judged; bad arguments are refused.
func TestFirstStageCheckSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds catmark and the load tester, and runs scripts/first-stage-check.sh")
	}
	needTools(t, "bash", "python3", "go", "awk")
	script, err := filepath.Abs(filepath.Join("..", "..", "scripts", "first-stage-check.sh"))
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	// catmark and the load tester (server's test binary), built side by side.
	bin, loadtest := filepath.Join(tmp, "catmark"), filepath.Join(tmp, "server.test")
	builds := [][]string{{"build", "-o", bin, "."}, {"test", "-c", "-o", loadtest, "../../server"}}
	errs := make([]error, len(builds))
	var wg sync.WaitGroup
	for i, args := range builds {
		wg.Go(func() {
			if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	base, cand := filepath.Join(tmp, "base"), filepath.Join(tmp, "cand")
	for _, dir := range []string{base, cand} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		saveSpec(t, filepath.Join(dir, model.CoarseFile), model.Spec{Depth: 18, Width: 4, Size: 32, Stage: model.Whole, Norm: "imagenet"}, 1)
		saveSpec(t, filepath.Join(dir, model.RefineFile), model.Spec{Depth: 18, Width: 4, Size: 32, Stage: model.Crop, Norm: "imagenet", Margin: 0.3, Presence: true}, 2)
	}
	saveSpec(t, filepath.Join(cand, model.CentersFile), model.Spec{Depth: 18, Width: 4, Size: 64, Stage: model.Centers, Norm: "imagenet", Head: resnet.Centers, Stages: 3}, 3)
	photos := filepath.Dir(fixture.Path(t, 0))
	// A prepared cache: its train split's photos are copied out of the photo folder.
	cache := evalTestCache(t, fixture.Photos(t, 12))

	run := func(env []string, args ...string) (string, int) {
		cmd := exec.Command("bash", append([]string{script}, args...)...)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return string(out), exit.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return string(out), 0
	}

	out := filepath.Join(tmp, "check")
	log, code := run([]string{"SMOKE=1", "LOADTEST=" + loadtest, "SPLIT=train", "PHOTOS=" + photos}, bin, cand, bin, base, cache, out)
	if code != 0 {
		t.Fatalf("first-stage-check.sh exited %d:\n%s", code, log)
	}
	md, err := os.ReadFile(filepath.Join(out, "summary.md"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("summary.md:\n%s", md)
	for _, want := range []string{"SMOKE run", "--first-stage centers", "| upright NME |", "| random-angle NME / upright |",
		"| small-face composites of 4: smallest face's recall |", "| predict photos/s |", "| serve p99 (s) |", "## Thresholds", "of 11 thresholds pass", "worst photos upright, baseline"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("summary.md lacks %q:\n%s", want, md)
		}
	}
	b, err := os.ReadFile(filepath.Join(out, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	var sum struct {
		Smoke      bool
		Figures    map[string]map[string]any
		Thresholds []struct {
			Name   string
			Pass   *bool
			Figure string
		}
	}
	if err := json.Unmarshal(b, &sum); err != nil {
		t.Fatalf("summary.json: %v\n%s", err, b)
	}
	if !sum.Smoke || len(sum.Thresholds) != 11 {
		t.Errorf("summary.json: smoke %v, %d thresholds; want true and 11", sum.Smoke, len(sum.Thresholds))
	}
	for _, th := range sum.Thresholds {
		if th.Pass == nil || th.Figure == "" {
			t.Errorf("threshold %+v: want a verdict and a figure", th)
		}
	}
	for _, side := range []string{"candidate", "baseline"} {
		f := sum.Figures[side]
		for _, k := range []string{"predict photos/s", "serve requests/s (20 clients)"} {
			if v, _ := f[k].(float64); !(v > 0) {
				t.Errorf("%s %s = %v, want a positive rate", side, k, f[k])
			}
		}
		if f["serve errors"] != 0.0 {
			t.Errorf("%s serve errors = %v, want 0", side, f["serve errors"])
		}
		if v, _ := f["small-face composites of 2: largest size ratio"].(float64); !(v > 0 && v <= 0.25) {
			t.Errorf("%s small-face composites: size ratio %v, want in (0, 0.25]", side, f["small-face composites of 2: largest size ratio"])
		}
	}
	// The random angles are each photo's own: photos.csv records them.
	csv, err := readCSV(filepath.Join(out, "candidate", "turn-random", "photos.csv"))
	if err != nil || len(csv) != 5 || len(csv[0]) != 3 || csv[0][2] != "turn" {
		t.Errorf("candidate's random-angle photos.csv: %v, %q; want 4 photos with their turn", err, csv)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{bin, cand, bin, base, photos}, "usage: "},
		{[]string{bin, filepath.Join(tmp, "nowhere"), bin, base, photos, out}, "nowhere is not a model folder"},
		{[]string{filepath.Join(tmp, "nobin"), cand, bin, base, photos, out}, "nobin is not an executable"},
		{[]string{bin, cand, bin, base, filepath.Join(tmp, "nodata"), out}, "nodata does not exist"},
	} {
		log, code := run([]string{"SMOKE=1", "LOADTEST=" + loadtest}, tc.args...)
		if code != 2 || !strings.Contains(log, tc.want) {
			t.Errorf("first-stage-check.sh %q: exit %d, %q; want 2 and %q", tc.args, code, log, tc.want)
		}
	}
}
