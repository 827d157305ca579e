package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/catmark/catmark/cache"
	"github.com/catmark/catmark/catdata"
	"github.com/catmark/catmark/model"
	"github.com/catmark/catmark/models/resnet"
	"github.com/catmark/catmark/train"
)

func init() {
	register("train", "train a landmark model on a prepared cache (resumable)", runTrain)
}

func runTrain(args []string) error {
	d := train.Defaults()
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: catmark train --data CACHE|PHOTOS --out RUN_DIR [flags]\n       catmark train --resume RUN_DIR [--epochs N] [--time-budget D] [--quiet] [--restart]\n\nDefaults are the CPU recipe (README). A photo folder is prepared into a cache first (--cache).\nA resumed run keeps its own settings; --epochs and --time-budget extend it. Flags:")
		fs.PrintDefaults()
	}
	cfg := d
	resume := fs.String("resume", "", "continue the run in this folder from its last checkpoint")
	restart := fs.Bool("restart", false, "with --resume: start the run over when its last.safetensors is missing (its best.safetensors and metrics are replaced)")
	fs.StringVar(&cfg.Data, "data", "", "prepared cache folder (catmark prepare), or a photo folder to prepare into --cache")
	cacheDir := fs.String("cache", "", "where a photo folder given as --data is prepared (default: RUN_DIR/cache; reused when it holds a cache)")
	fs.StringVar(&cfg.Out, "out", "", "run folder: config.json, best/last.safetensors, metrics.jsonl")
	stage := fs.String("stage", string(d.Stage), "what the model sees: whole (the photo), crop (a face crop) or centers (the photo letterboxed, finding every face's centre, size and angle: a first stage for --first-stage centers)")
	fs.IntVar(&cfg.Depth, "depth", d.Depth, "ResNet depth: 18, 34 or 50")
	fs.IntVar(&cfg.Width, "width", d.Width, "ResNet base width (64 = torchvision's)")
	fs.StringVar(&cfg.Head, "head", "pool", "how features become points: pool (pooled regression), integral (a heatmap per point, its expected position) or simcc (256 bins per coordinate from pooled features, their expected position)")
	fs.IntVar(&cfg.Stages, "stages", 4, "ResNet stages: 4, or 3 (ends at layer3: stride 16, a finer heatmap for an integral head)")
	fs.IntVar(&cfg.Size, "size", d.Size, "input side in pixels")
	fs.IntVar(&cfg.SmallSize, "small-size", 0, "progressive resizing: train the first --small-share of the run at this input side (0: none)")
	fs.Float64Var(&cfg.SmallShare, "small-share", 0, "with --small-size: the share of the run (steps or time budget) trained small")
	freeze := fs.String("freeze", "", `comma-separated parts to freeze, e.g. "stem,layer1,layer2" (the seed's)`)
	fs.StringVar(&cfg.Init, "init", "", "initial weights: torchvision ImageNet safetensors or a catmark checkpoint")
	fs.StringVar(&cfg.Norm, "norm", d.Norm, "input normalisation: imagenet (mean/std) or unit (/255)")
	backendVar(fs, &cfg.Backend)
	fs.StringVar(&cfg.Loss, "loss", d.Loss, "loss, composed by name: mse, mse+ddmse:1, mse+ddmse:1-8+area, l1, wing, …")
	fs.BoolVar(&cfg.Flip, "flip", d.Flip, "horizontal flip augmentation")
	fs.BoolVar(&cfg.PCA, "pca", d.PCA, "PCA colour augmentation")
	fs.Float64Var(&cfg.Scale, "scale", d.Scale, "scale jitter (±share)")
	fs.Float64Var(&cfg.Shift, "shift", d.Shift, "shift jitter (share of the side)")
	fs.Float64Var(&cfg.Rotate, "rotate", d.Rotate, "rotation jitter in degrees")
	fs.Float64Var(&cfg.Margin, "margin", d.Margin, "crop stage: share of the face box added on each side")
	fs.Float64Var(&cfg.TurnedNegatives, "turned-negatives", 0, "crop stage: share of the negatives that are the face turned by one to three quarters (presence then means an upright face, for --any-angle detection)")
	fs.Float64Var(&cfg.Negatives, "negatives", 0, "crop stage: share of training crops cut away from the face; >0 gives the model a face-presence output, which the detector uses to search a photo when a crop misses")
	fs.Float64Var(&cfg.Spread, "spread", 0, "integral head: weight of DSNT's variance regulariser, which asks each heatmap for one blob --spread-sigma cells wide (0: none)")
	fs.Float64Var(&cfg.SpreadSigma, "spread-sigma", 0, "with --spread: the regulariser's target width in heatmap cells (0: 1)")
	multi := fs.Float64("multi", -1, fmt.Sprintf("centers stage: share of training pictures with 2 to 4 cats pasted together (default %g)", train.DefaultCentersMulti))
	empty := fs.Float64("empty", -1, fmt.Sprintf("centers stage: share of training pictures with no cat (default %g)", train.DefaultCentersEmpty))
	minFace := fs.Float64("min-face", -1, fmt.Sprintf("centers stage: smallest face side in training pictures, as a share of the input side (default %.3f)", train.DefaultCentersMinFace))
	fs.StringVar(&cfg.Optimizer, "optimizer", d.Optimizer, "sgd or adamw")
	fs.Float64Var(&cfg.LR, "lr", d.LR, "peak learning rate")
	fs.Float64Var(&cfg.Momentum, "momentum", d.Momentum, "SGD momentum")
	fs.Float64Var(&cfg.Decay, "weight-decay", d.Decay, "weight decay")
	fs.StringVar(&cfg.Schedule, "schedule", d.Schedule, "learning-rate schedule: constant, step or cosine")
	fs.Float64Var(&cfg.Warmup, "warmup", d.Warmup, "cosine warm-up as a share of the run")
	fs.IntVar(&cfg.Batch, "batch", d.Batch, "batch size")
	fs.IntVar(&cfg.Epochs, "epochs", d.Epochs, "epochs (the time budget may end the run first)")
	budget := fs.Duration("time-budget", time.Duration(d.Budget), "wall-clock training budget (0: none)")
	fs.IntVar(&cfg.ValEvery, "val-every", 0, "validate after every Nth epoch and the last (0 or 1: every epoch); best.safetensors is the best validated epoch")
	fs.Int64Var(&cfg.Seed, "seed", d.Seed, "random seed")
	fs.StringVar(&cfg.Split, "split", d.Split, "the cache's split to train on")
	fs.BoolVar(&cfg.Quiet, "quiet", false, "no progress bar or per-epoch lines")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *resume != "" {
		return resumeTrain(fs, *resume, train.ResumeOptions{Quiet: cfg.Quiet, Epochs: cfg.Epochs, Budget: train.Duration(*budget), Restart: *restart})
	}
	if *restart {
		return fmt.Errorf("--restart goes with --resume")
	}
	if cfg.Data != "" && cfg.Out != "" {
		var err error
		if cfg.Data, err = cacheFor(cfg.Data, firstNonEmpty(*cacheDir, filepath.Join(cfg.Out, "cache")), cfg.Quiet); err != nil {
			return err
		}
	} else if *cacheDir != "" {
		return fmt.Errorf("--cache goes with --data and --out")
	}
	cfg.Stage = model.Stage(*stage)
	cfg.Budget = train.Duration(*budget)
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if cfg.Stage == model.Centers {
		// The centers stage has its own head on three stages; its scene shares have defaults.
		if !set["head"] {
			cfg.Head = resnet.Centers
		}
		if !set["stages"] {
			cfg.Stages = 3
		}
		cfg.Multi = orDefault(*multi, train.DefaultCentersMulti)
		cfg.Empty = orDefault(*empty, train.DefaultCentersEmpty)
		cfg.MinFace = orDefault(*minFace, train.DefaultCentersMinFace)
	} else {
		cfg.Multi, cfg.Empty, cfg.MinFace = orDefault(*multi, 0), orDefault(*empty, 0), orDefault(*minFace, 0)
	}
	if *freeze != "" {
		cfg.Freeze = strings.Split(*freeze, ",")
	}

	return trained(cfg.Out, func(ctx context.Context) (*train.Result, error) { return train.Run(ctx, cfg, os.Stderr) })
}

// resumeFlags are the flags a resumed run honours; every other one would change the run's
// recorded settings, so it is refused rather than ignored.
var resumeFlags = map[string]bool{"resume": true, "restart": true, "epochs": true, "time-budget": true, "quiet": true}

// resumeTrain continues the run in dir; opt's Epochs and Budget apply only where their flags were
// given.
func resumeTrain(fs *flag.FlagSet, dir string, opt train.ResumeOptions) error {
	var bad []string
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) {
		set[f.Name] = true
		if !resumeFlags[f.Name] {
			bad = append(bad, "--"+f.Name)
		}
	})
	if len(bad) > 0 {
		return fmt.Errorf("%s cannot change on --resume: a resumed run keeps the settings in %s (only --epochs, --time-budget, --quiet and --restart apply; start a new run with --init %s to change others)",
			strings.Join(bad, ", "), filepath.Join(dir, "config.json"), filepath.Join(dir, "best.safetensors"))
	}
	if !set["epochs"] {
		opt.Epochs = 0
	}
	if !set["time-budget"] {
		opt.Budget = 0
	}
	return trained(dir, func(ctx context.Context) (*train.Result, error) { return train.Resume(ctx, dir, opt, os.Stderr) })
}

// trained runs a training function until it ends or is interrupted (SIGINT, SIGTERM) and says
// what came of the run in dir.
func trained(dir string, run func(context.Context) (*train.Result, error)) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := run(ctx)
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("interrupted; continue with: catmark train --resume %s", dir)
	}
	if err != nil {
		return err
	}
	if c := res.Best.Centers; c != nil {
		fmt.Printf("trained %d epochs in %s; best epoch %d: val recall %.3f, angle error %.1f°; turned 45°: recall %.3f, angle error %.1f° (%s)\n",
			res.Epochs, res.Elapsed.Round(time.Second), res.Best.Epoch, c.Recall, c.AngleErr, c.Recall45, c.AngleErr45,
			filepath.Join(dir, "best.safetensors"))
		return nil
	}
	fmt.Printf("trained %d epochs in %s; best epoch %d: val NME %.4f, MSE %.5f, PCK@0.1 %.3f (%s)\n",
		res.Epochs, res.Elapsed.Round(time.Second), res.Best.Epoch, res.Best.ValNME, res.Best.ValMSE, res.Best.ValPCK01,
		filepath.Join(dir, "best.safetensors"))
	return nil
}

// The cache a photo folder given to train is prepared into: the recipe's (README).
var trainCache = cache.Options{Size: 320, TrainFraction: 0.8, Seed: 1, GroupByPrefix: true}

// cacheFor returns data when it is a prepared cache; a photo folder (or zip) is prepared into dir
// first, or dir reused when it already holds a cache of it. It says on stderr what it does.
func cacheFor(data, dir string, quiet bool) (string, error) {
	if _, err := os.Stat(filepath.Join(data, cache.ManifestFile)); err == nil {
		return data, nil
	}
	if _, err := os.Stat(filepath.Join(dir, cache.ManifestFile)); err == nil {
		fmt.Fprintf(os.Stderr, "using the cache %s (prepared earlier from photos)\n", dir)
		return dir, nil
	}
	src, err := catdata.Scan(data)
	if err != nil {
		return "", fmt.Errorf("--data %s is neither a prepared cache nor a photo folder: %w", data, err)
	}
	defer src.Close()
	if src.Len() == 0 {
		return "", fmt.Errorf("--data %s is neither a prepared cache nor a photo folder (no NAME.jpg with NAME.jpg.cat)", data)
	}
	fmt.Fprintf(os.Stderr, "preparing %d photos of %s into the cache %s (as catmark prepare --size %d --split %g --group-prefix)\n",
		src.Len(), data, dir, trainCache.Size, trainCache.TrainFraction)
	opt := trainCache
	if !quiet {
		opt.Progress = os.Stderr
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	sum, err := cache.Prepare(src, dir, opt)
	if err != nil {
		return "", err
	}
	if sum.Kept == 0 {
		return "", fmt.Errorf("no usable photos in %s", data)
	}
	return dir, nil
}

// orDefault is v, or def when v is negative (a flag left at its "stage default" value).
func orDefault(v, def float64) float64 {
	if v < 0 {
		return def
	}
	return v
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
