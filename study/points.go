package study

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/catmark/catmark/evaluate"
	"github.com/catmark/catmark/internal/atomicfile"
	"github.com/catmark/catmark/landmark"
	"github.com/catmark/catmark/train"
)

// pointsFile, in a finished run's folder, holds its last checkpoint's error per point on the
// validation photos (mean error over the true eye distance, in landmark order).
const pointsFile = "points.json"

// measurePoints evaluates the finished run cfg's last checkpoint on its cache's validation split
// (a crop-stage model on crops around the true face, as training validates it) and writes
// pointsFile.
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
	b, _ := json.Marshal([landmark.N]float64(res.PerPoint))
	return atomicfile.WriteFile(filepath.Join(cfg.Out, pointsFile), append(b, '\n'))
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
