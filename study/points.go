package study

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"

	"github.com/catmark/catmark/evaluate"
	"github.com/catmark/catmark/internal/atomicfile"
	"github.com/catmark/catmark/landmark"
	"github.com/catmark/catmark/metrics"
	"github.com/catmark/catmark/train"
)

// pointsFile, in a finished run's folder, holds its last checkpoint's error per point on the
// validation photos (mean error over the true eye distance, in landmark order).
const pointsFile = "points.json"

// evalFile, in a finished run's folder, holds its last checkpoint's figures on the validation
// photos (Eval): the seed's MSE, NME, failure rate, PCK and the median photo's NME.
const evalFile = "eval.json"

// Eval is a run's last checkpoint measured on its cache's validation split.
type Eval struct {
	metrics.Report
	// MedianNME is the median of the photos' NMEs.
	MedianNME float64 `json:"median_nme"`
}

// measurePoints evaluates the finished run cfg's last checkpoint on its cache's validation split
// (a crop-stage model on crops around the true face, as training validates it) and writes
// pointsFile and evalFile.
func measurePoints(cfg train.Config) error {
	m, err := evaluate.Load(filepath.Join(cfg.Out, "last.safetensors"), cfg.Backend)
	if err != nil {
		return err
	}
	d, err := evaluate.OpenData(cfg.Data, "val")
	if err != nil {
		return err
	}
	defer d.Close()
	res, err := evaluate.Run(m, d, evaluate.Options{})
	if err != nil {
		return err
	}
	var nmes []float64
	for _, p := range res.Photos {
		if !math.IsNaN(p.NME) {
			nmes = append(nmes, p.NME)
		}
	}
	ev := Eval{Report: res.Report, MedianNME: median(nmes)}
	b, err := json.MarshalIndent(ev, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(cfg.Out, evalFile), append(b, '\n')); err != nil {
		return err
	}
	b, _ = json.Marshal([landmark.N]float64(res.PerPoint))
	return atomicfile.WriteFile(filepath.Join(cfg.Out, pointsFile), append(b, '\n'))
}

// median returns the median of v (NaN for none); v is reordered.
func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	sort.Float64s(v)
	if n := len(v); n%2 == 1 {
		return v[n/2]
	} else {
		return (v[n/2-1] + v[n/2]) / 2
	}
}

// readEval reads a run's evalFile.
func readEval(dir string) (Eval, error) {
	var ev Eval
	b, err := os.ReadFile(filepath.Join(dir, evalFile))
	if err != nil {
		return ev, err
	}
	if err := json.Unmarshal(b, &ev); err != nil {
		return ev, fmt.Errorf("study: %s: %w", filepath.Join(dir, evalFile), err)
	}
	return ev, nil
}

// readPoints reads a run's pointsFile.
func readPoints(dir string) ([landmark.N]float64, error) {
	var per [landmark.N]float64
	b, err := os.ReadFile(filepath.Join(dir, pointsFile))
	if err != nil {
		return per, err
	}
	if err := json.Unmarshal(b, &per); err != nil {
		return per, fmt.Errorf("study: %s: %w", filepath.Join(dir, pointsFile), err)
	}
	return per, nil
}
