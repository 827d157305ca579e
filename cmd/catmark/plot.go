package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/catmark/catmark/study"
	"github.com/catmark/catmark/train"
)

func init() {
	register("plot", "draw the loss and NME curves of one or more training runs as PNG", runPlot)
}

func runPlot(args []string) error {
	fs := flag.NewFlagSet("plot", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `usage: catmark plot --run RUN_DIR[,RUN_DIR…] [--labels A,B,…] [--out curves.png]

Draws training curves from each run's metrics.jsonl: training loss (solid) and validation loss
(dashed) per epoch on a logarithmic axis, and validation NME per epoch. Flags:`)
		fs.PrintDefaults()
	}
	runs := fs.String("run", "", "comma-separated run folders (written by catmark train)")
	labels := fs.String("labels", "", "comma-separated labels for the runs (default: the folders' names)")
	out := fs.String("out", "curves.png", "PNG file to write")
	width := fs.Int("width", 1200, "picture width in pixels")
	height := fs.Int("height", 450, "picture height in pixels")
	if err := parseFlags(fs, args, "run"); err != nil {
		return err
	}
	dirs := strings.Split(*runs, ",")
	var names []string
	if *labels != "" {
		names = strings.Split(*labels, ",")
		if len(names) != len(dirs) {
			return fmt.Errorf("--labels gives %d labels for %d runs", len(names), len(dirs))
		}
	}
	curves := make([]study.Curve, len(dirs))
	for i, dir := range dirs {
		log, err := plotReadRun(dir)
		if err != nil {
			return err
		}
		curves[i] = study.Curve{Label: filepath.Base(filepath.Clean(dir)), Log: log}
		if names != nil {
			curves[i].Label = names[i]
		}
	}
	if err := study.PlotTraining(*out, curves, *width, *height); err != nil {
		return err
	}
	fmt.Printf("wrote %s: %d run(s)\n", *out, len(curves))
	return nil
}

// plotReadRun reads a run folder's metrics log, with errors that say what is wrong.
func plotReadRun(dir string) ([]train.EpochLog, error) {
	if dir == "" {
		return nil, errors.New("--run: empty run folder name")
	}
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("run folder %s: %w", dir, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%s is not a run folder (want the folder catmark train --out wrote)", dir)
	}
	log, err := train.ReadLog(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s is not a run folder: it has no metrics.jsonl (want the folder catmark train --out wrote)", dir)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "metrics.jsonl"), err)
	}
	if len(log) == 0 {
		return nil, fmt.Errorf("run %s has no finished epoch yet (%s is empty)", dir, filepath.Join(dir, "metrics.jsonl"))
	}
	return log, nil
}
