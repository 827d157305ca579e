package study

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/catmark/catmark/evaluate"
	"github.com/catmark/catmark/internal/atomicfile"
	"github.com/catmark/catmark/metrics"
	"github.com/catmark/catmark/train"
)

// evalFile, in a finished run's folder, holds its last checkpoint's figures on the validation
// photos (Eval): the seed's MSE, NME, failure rate, PCK, each point's error and the median
// photo's NME.
const evalFile = "eval.json"

// Eval is a run's last checkpoint measured on its cache's validation split.
type Eval struct {
	metrics.Report
	// MedianNME is the median of the photos' NMEs.
	MedianNME float64 `json:"median_nme"`
}

// measureLast evaluates the finished run cfg's last checkpoint on its cache's validation split
// (a crop-stage model on crops around the true face, as training validates it) and writes
// evalFile.
func measureLast(cfg train.Config) error {
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
	b, err := json.MarshalIndent(Eval{Report: res.Report, MedianNME: res.MedianNME}, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(cfg.Out, evalFile), append(b, '\n'))
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
