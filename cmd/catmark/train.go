package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/catmark/catmark/model"
	"github.com/catmark/catmark/train"
)

func init() {
	register("train", "train a landmark model on a prepared cache (resumable)", runTrain)
}

func runTrain(args []string) error {
	d := train.Defaults()
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: catmark train --data CACHE --out RUN_DIR [flags]\n       catmark train --resume RUN_DIR\n\nDefaults are the CPU recipe (README). Flags:")
		fs.PrintDefaults()
	}
	cfg := d
	resume := fs.String("resume", "", "continue the run in this folder from its last checkpoint")
	fs.StringVar(&cfg.Data, "data", "", "prepared cache folder (catmark prepare)")
	fs.StringVar(&cfg.Out, "out", "", "run folder: config.json, best/last.safetensors, metrics.jsonl")
	stage := fs.String("stage", string(d.Stage), "what the model sees: whole (the photo) or crop (a face crop)")
	fs.IntVar(&cfg.Depth, "depth", d.Depth, "ResNet depth: 18, 34 or 50")
	fs.IntVar(&cfg.Width, "width", d.Width, "ResNet base width (64 = torchvision's)")
	fs.IntVar(&cfg.Size, "size", d.Size, "input side in pixels")
	freeze := fs.String("freeze", "", `comma-separated parts to freeze, e.g. "stem,layer1,layer2" (the seed's)`)
	fs.StringVar(&cfg.Init, "init", "", "initial weights: torchvision ImageNet safetensors or a catmark checkpoint")
	fs.StringVar(&cfg.Norm, "norm", d.Norm, "input normalisation: imagenet (mean/std) or unit (/255)")
	fs.StringVar(&cfg.Backend, "backend", "", "engine backend (dnnl, ref; empty: fastest available)")
	fs.StringVar(&cfg.Loss, "loss", d.Loss, "loss, composed by name: mse, mse+ddmse:1, mse+ddmse:1-8+area, l1, wing, …")
	fs.BoolVar(&cfg.Flip, "flip", d.Flip, "horizontal flip augmentation")
	fs.BoolVar(&cfg.PCA, "pca", d.PCA, "PCA colour augmentation")
	fs.Float64Var(&cfg.Scale, "scale", d.Scale, "scale jitter (±share)")
	fs.Float64Var(&cfg.Shift, "shift", d.Shift, "shift jitter (share of the side)")
	fs.Float64Var(&cfg.Rotate, "rotate", d.Rotate, "rotation jitter in degrees")
	fs.Float64Var(&cfg.Margin, "margin", d.Margin, "crop stage: share of the face box added on each side")
	fs.Float64Var(&cfg.Negatives, "negatives", 0, "crop stage: share of training crops cut away from the face; >0 gives the model a face-presence output, which the detector uses to search a photo when a crop misses")
	fs.StringVar(&cfg.Optimizer, "optimizer", d.Optimizer, "sgd or adamw")
	fs.Float64Var(&cfg.LR, "lr", d.LR, "peak learning rate")
	fs.Float64Var(&cfg.Momentum, "momentum", d.Momentum, "SGD momentum")
	fs.Float64Var(&cfg.Decay, "weight-decay", d.Decay, "weight decay")
	fs.StringVar(&cfg.Schedule, "schedule", d.Schedule, "learning-rate schedule: constant, step or cosine")
	fs.Float64Var(&cfg.Warmup, "warmup", d.Warmup, "cosine warm-up as a share of the run")
	fs.IntVar(&cfg.Batch, "batch", d.Batch, "batch size")
	fs.IntVar(&cfg.Epochs, "epochs", d.Epochs, "epochs (the time budget may end the run first)")
	budget := fs.Duration("time-budget", time.Duration(d.Budget), "wall-clock training budget (0: none)")
	fs.Int64Var(&cfg.Seed, "seed", d.Seed, "random seed")
	fs.StringVar(&cfg.Split, "split", d.Split, "the cache's split to train on")
	fs.BoolVar(&cfg.Quiet, "quiet", false, "no progress bar or per-epoch lines")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg.Stage = model.Stage(*stage)
	cfg.Budget = train.Duration(*budget)
	if *freeze != "" {
		cfg.Freeze = strings.Split(*freeze, ",")
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var res *train.Result
	var err error
	if *resume != "" {
		res, err = train.Resume(ctx, *resume, cfg.Quiet, os.Stderr)
	} else {
		res, err = train.Run(ctx, cfg, os.Stderr)
	}
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("interrupted; continue with: catmark train --resume %s", firstNonEmpty(*resume, cfg.Out))
	}
	if err != nil {
		return err
	}
	fmt.Printf("trained %d epochs in %s; best epoch %d: val NME %.4f, MSE %.5f, PCK@0.1 %.3f (%s)\n",
		res.Epochs, res.Elapsed.Round(time.Second), res.Best.Epoch, res.Best.ValNME, res.Best.ValMSE, res.Best.ValPCK01,
		firstNonEmpty(*resume, cfg.Out)+"/best.safetensors")
	return nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
