package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/catmark/catmark/engine"
	"github.com/catmark/catmark/model"
	"github.com/catmark/catmark/weights"
)

func init() {
	register("export", "write a checkpoint for inference only (optionally half precision), e.g. a shipped model", runExport)
}

func runExport(args []string) error {
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	in := fs.String("model", "", "a catmark checkpoint (RUN/best.safetensors)")
	out := fs.String("out", "", "the file to write (e.g. model/coarse.safetensors)")
	half := fs.Bool("half", true, "store trained tensors as F16 (half the size)")
	if err := parseFlags(fs, args, "model", "out"); err != nil {
		return err
	}
	b, err := engine.Open("ref")
	if err != nil {
		return err
	}
	m, err := model.Load(b, *in)
	if err != nil {
		return err
	}
	_, meta, err := weights.Inspect(*in)
	if err != nil {
		return err
	}
	keep := map[string]string{}
	for _, k := range []string{"format", "model_spec", "config", "train_state"} {
		if v, ok := meta[k]; ok {
			keep[k] = v
		}
	}
	if *half {
		err = weights.SaveHalf(*out, b, m.Params(), keep)
	} else {
		err = weights.Save(*out, b, m.Params(), nil, keep)
	}
	if err != nil {
		return err
	}
	st, err := os.Stat(*out)
	if err != nil {
		return err
	}
	fmt.Printf("wrote %s (%.1f MB)\n", *out, float64(st.Size())/1e6)
	return nil
}
