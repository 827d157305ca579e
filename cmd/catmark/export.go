package main

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/catmark/catmark/engine"
	"github.com/catmark/catmark/model"
	"github.com/catmark/catmark/onnx"
	"github.com/catmark/catmark/weights"
)

func init() {
	register("export", "write a model for inference only: a checkpoint (optionally half precision), or ONNX for other runtimes", runExport)
}

const exportUsage = `usage: catmark export --model CHECKPOINT --out FILE.safetensors [--half=false]
       catmark export --format onnx --model CHECKPOINT --out FILE.onnx
       catmark export --format onnx [--model FOLDER] --out FOLDER

--format safetensors (the default) writes a catmark checkpoint without its training state.

--format onnx writes standard ONNX models (float32, NCHW, opset 17, dynamic batch) for ONNX
runtimes: one checkpoint to one .onnx file, or a detector folder (coarse.safetensors and
refine.safetensors; without --model the shipped model) to coarse.onnx and refine.onnx in the
--out folder, and its centers.safetensors, when it has one, to centers.onnx. Each model's input is "image", N×3×S×S RGB planes with values v/255 in [0, 1],
the photo (coarse) or the face crop (refine) resized to S×S (the model's input side, fixed in
the file); the mean/std normalisation is inside the graph. Its outputs are "points" (N×9×2, (x, y)
normalised to the input, 0…1), "face" (N×1 presence, models that have it), and "heatmaps"
(N×9×h×w logits; points is their soft-argmax) or "bins" (SimCC logits) by the model's head.
A centers model takes the letterboxed photo, N×3×H×W (H and W multiples of 16), and gives its
raw maps every 8 pixels: "heatmap", "offset", "log_size", "angle" and "points" (docs/onnx.md).
Each file's doc_string and metadata say the same. examples/onnx runs both stages in node.

flags:
`

func runExport(args []string) error {
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), exportUsage)
		fs.PrintDefaults()
	}
	format := fs.String("format", "safetensors", "safetensors or onnx")
	in := fs.String("model", "", "a catmark checkpoint (RUN/best.safetensors); with --format onnx also a detector folder, or empty for the shipped model")
	out := fs.String("out", "", "the file to write (e.g. model/coarse.safetensors); with --format onnx and a folder model, the folder")
	half := fs.Bool("half", true, "store trained tensors as F16 (half the size); --format safetensors only")
	if err := parseFlags(fs, args, "out"); err != nil {
		return err
	}
	switch *format {
	case "safetensors":
		if *in == "" {
			fs.Usage()
			return fmt.Errorf("--model is required with --format safetensors")
		}
		return exportSafetensors(*in, *out, *half)
	case "onnx":
		halfSet := false
		fs.Visit(func(f *flag.Flag) { halfSet = halfSet || f.Name == "half" })
		if halfSet {
			return fmt.Errorf("--half applies to --format safetensors only (ONNX models are written in float32)")
		}
		return exportONNX(*in, *out)
	}
	return fmt.Errorf("--format %q: want safetensors or onnx", *format)
}

func exportSafetensors(in, out string, half bool) error {
	b, err := engine.Open("ref")
	if err != nil {
		return err
	}
	m, err := model.Load(b, in)
	if err != nil {
		return err
	}
	_, meta, err := weights.Inspect(in)
	if err != nil {
		return err
	}
	keep := map[string]string{}
	for _, k := range []string{"format", "model_spec", "config", "train_state"} {
		if v, ok := meta[k]; ok {
			keep[k] = v
		}
	}
	if half {
		err = weights.SaveHalf(out, b, m.Params(), keep)
	} else {
		err = weights.Save(out, b, m.Params(), nil, keep)
	}
	if err != nil {
		return err
	}
	return reportWritten(out)
}

// exportONNX writes the checkpoint in to the file out, or the detector folder in (the shipped
// model when in is empty) to coarse.onnx and refine.onnx in the folder out, and its optional
// centers model to centers.onnx.
func exportONNX(in, out string) error {
	b, err := engine.Open("ref")
	if err != nil {
		return err
	}
	var folder fs.FS = model.Shipped
	if in != "" {
		st, err := os.Stat(in)
		if err != nil {
			return err
		}
		if !st.IsDir() {
			if filepath.Ext(out) != ".onnx" {
				return fmt.Errorf("--out %s: a checkpoint is written to one file, FILE.onnx", out)
			}
			m, err := model.Load(b, in)
			if err != nil {
				return err
			}
			if err := onnx.WriteFile(out, m); err != nil {
				return fmt.Errorf("%s: %w", in, err)
			}
			return reportWritten(out)
		}
		folder = os.DirFS(in)
	}
	if strings.HasSuffix(out, ".onnx") {
		return fmt.Errorf("--out %s: a detector folder is written to a folder (coarse.onnx, refine.onnx), not to one file", out)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	for _, name := range []string{model.CoarseFile, model.RefineFile, model.CentersFile} {
		data, err := fs.ReadFile(folder, name)
		if name == model.CentersFile && errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("model folder %s: %w", in, err)
		}
		m, err := model.LoadBytes(b, filepath.Join(in, name), data)
		if err != nil {
			return err
		}
		path := filepath.Join(out, strings.TrimSuffix(name, ".safetensors")+".onnx")
		if err := onnx.WriteFile(path, m); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if err := reportWritten(path); err != nil {
			return err
		}
	}
	return nil
}

// reportWritten prints the file's path and size.
func reportWritten(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	fmt.Printf("wrote %s (%.1f MB)\n", path, float64(st.Size())/1e6)
	return nil
}
