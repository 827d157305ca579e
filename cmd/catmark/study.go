package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/catmark/catmark/study"
	"github.com/catmark/catmark/train"
)

func init() {
	register("study", "run the seed's loss study (seven cases, everything else equal) and compare them", runStudy)
}

func runStudy(args []string) error {
	fs := flag.NewFlagSet("study", flag.ContinueOnError)
	fs.Usage = func() {
		var scales strings.Builder
		for _, s := range study.Scales {
			fmt.Fprintf(&scales, "  %-7s ResNet-%d, width %d, %d px, batch %d, %d epochs: %s\n", s.Name, s.Depth, s.Width, s.Size, s.Batch, s.Epochs, s.About)
		}
		fmt.Fprintf(fs.Output(), `usage: catmark study --data CACHE --out DIR [--scale NAME] [flags]

Trains the seed's seven cases (or those --cases names, controls included) with everything else
equal (model, input size, data, schedule; case 2 gets twice the epochs), each once per seed in
DIR/caseN (first seed) or DIR/caseN-seedS, then writes DIR/study.md (mean ± spread over the
seeds, and every run), DIR/study.json and DIR/study.png (validation MSE and NME per epoch).
Rerunning the same command skips finished runs and resumes unfinished ones; with a constant
learning rate, a rerun with more --epochs carries finished runs on from their last epoch. Several
commands with different --cases may run at once in the same folder (one core each).

  case 1  MSE                       case 6  case 4 + ear-area term
  case 2  MSE, twice the epochs     case 7  case 6 + PCA colour augmentation
  case 3  MSE + DDMSE(1)            case 8  MSE, lr scaled to case 6's gradient norm (control)
  case 4  MSE + DDMSE(1…8)          case 9  Wing (control)
  case 5  case 4 + triangle term    case 10 L1 (control)
  all with flip; SGD, momentum 0.9, lr 1e-3 as in the seed

Scales (--epochs, --depth, --width, --size and --batch override them):
%s
Flags:
`, scales.String())
		fs.PrintDefaults()
	}
	data := fs.String("data", "", "prepared cache folder (catmark prepare)")
	out := fs.String("out", "", "study folder")
	scaleName := fs.String("scale", "small", "preset size of the study (see above)")
	epochs := fs.Int("epochs", 0, "epochs per case (case 2: twice as many)")
	depth := fs.Int("depth", 0, "ResNet depth: 18, 34 or 50")
	width := fs.Int("width", 0, "ResNet base width")
	size := fs.Int("size", 0, "input side in pixels")
	batchSize := fs.Int("batch", 0, "batch size")
	optimizer := fs.String("optimizer", "sgd", "sgd (the seed's) or adamw")
	lr := fs.Float64("lr", 1e-3, "learning rate")
	momentum := fs.Float64("momentum", 0.9, "SGD momentum")
	decay := fs.Float64("weight-decay", 0, "weight decay (default 0 for sgd, as in the seed; 1e-4 for adamw)")
	schedule := fs.String("schedule", "constant", "learning-rate schedule: constant (the seed's), step or cosine")
	norm := fs.String("norm", "imagenet", "input normalisation: imagenet or unit (/255, the seed's mistake)")
	cases := fs.String("cases", "", "comma-separated cases to train, e.g. 1,6,7 (default all)")
	seed := fs.Int64("seed", 1, "random seed, the same for every case")
	seedList := fs.String("seeds", "", "comma-separated seeds, each case trained once per seed (e.g. 1,2,3; default --seed alone)")
	initW := fs.String("init", "", "initial weights: torchvision ImageNet safetensors, or a catmark checkpoint of the same architecture such as model/coarse.safetensors for --scale refine (required by --scale seed)")
	initHead := fs.Bool("init-head", false, "load the head too from --init (default: the backbone only, the head initialised fresh from the seed, as when fine-tuning from another task)")
	freeze := fs.String("freeze", "", `comma-separated parts to freeze (--scale seed: "stem,layer1,layer2")`)
	cacheFrozen := fs.Bool("cache-frozen", false, "compute the frozen layers' outputs once per crop and its mirror (kept in the study folder) and train the rest on them; needs --init and --freeze, and turns the scale's jitter off: flips are the only augmentation, as in the seed (case 7's PCA colour runs through the frozen layers)")
	boxScale := fs.Float64("box-scale", 0, "box scale (crops) or scale (whole photos) jitter ± share (default: the scale's)")
	shift := fs.Float64("shift", 0, "shift jitter as a share of the side (default: the scale's)")
	rotate := fs.Float64("rotate", 0, "rotation jitter in degrees (default: the scale's)")
	backend := new(string)
	backendVar(fs, backend)
	if err := parseFlags(fs, args, "data", "out"); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	scale, err := study.ScaleByName(*scaleName)
	if err != nil {
		return err
	}
	for _, o := range []struct {
		name string
		v    int
		dst  *int
	}{{"epochs", *epochs, &scale.Epochs}, {"depth", *depth, &scale.Depth}, {"width", *width, &scale.Width}, {"size", *size, &scale.Size}, {"batch", *batchSize, &scale.Batch}} {
		if set[o.name] {
			*o.dst = o.v
		}
	}
	if set["freeze"] {
		scale.Freeze = nil
		if *freeze != "" {
			scale.Freeze = strings.Split(*freeze, ",")
		}
	}
	if len(scale.Freeze) > 0 && *initW == "" {
		return fmt.Errorf("scale %s freezes %s, which only makes sense with pretrained weights: give --init (torchvision ImageNet safetensors or a catmark checkpoint of the same architecture) or --freeze \"\"", scale.Name, strings.Join(scale.Freeze, ","))
	}
	base := study.Base(*data, scale)
	if *cacheFrozen {
		switch {
		case len(scale.Freeze) == 0:
			return fmt.Errorf("--cache-frozen caches the output of frozen layers: give --freeze (the seed's: stem,layer1,layer2)")
		case *initW == "":
			return fmt.Errorf("--cache-frozen needs the frozen layers' weights: give --init (e.g. model/coarse.safetensors)")
		}
		for _, j := range []struct {
			name string
			v    float64
		}{{"box-scale", *boxScale}, {"shift", *shift}, {"rotate", *rotate}} {
			if set[j.name] && j.v != 0 {
				return fmt.Errorf("--cache-frozen caches flips only, and --%s %g changes the crops every epoch: leave --%s out", j.name, j.v, j.name)
			}
		}
		base.Scale, base.Shift, base.Rotate, base.CacheFrozen = 0, 0, 0, true
	}
	if set["box-scale"] {
		base.Scale = *boxScale
	}
	if set["shift"] {
		base.Shift = *shift
	}
	if set["rotate"] {
		base.Rotate = *rotate
	}
	base.Optimizer, base.LR, base.Momentum, base.Schedule, base.Norm = *optimizer, *lr, *momentum, *schedule, *norm
	base.Decay = *decay
	if *optimizer == "adamw" && !set["weight-decay"] {
		base.Decay = train.Defaults().Decay
	}
	base.Seed, base.Init, base.Backend = *seed, *initW, *backend
	base.FreshHead = *initW != "" && !*initHead
	var which []int
	if *cases != "" {
		for _, f := range strings.Split(*cases, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil {
				return fmt.Errorf("--cases %q: %q is not a case number", *cases, f)
			}
			if _, err := study.CaseByNumber(n); err != nil {
				return err
			}
			which = append(which, n)
		}
	}
	var seeds []int64
	if *seedList != "" {
		if set["seed"] {
			return fmt.Errorf("--seed and --seeds: give one of them")
		}
		for _, f := range strings.Split(*seedList, ",") {
			v, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64)
			if err != nil {
				return fmt.Errorf("--seeds %q: %q is not a whole number", *seedList, f)
			}
			seeds = append(seeds, v)
		}
	}
	if _, err := os.Stat(filepath.Join(*data, "manifest.json")); err != nil {
		return fmt.Errorf("%s is not a prepared cache (run: catmark prepare --data PHOTOS --out %s)", *data, *data)
	}

	fmt.Printf("study in %s: ResNet-%d, width %d, %d px, batch %d, %d epochs per case (case 2: %d), %s lr %g, %s schedule\n",
		*out, base.Depth, base.Width, base.Size, base.Batch, base.Epochs, 2*base.Epochs, base.Optimizer, base.LR, base.Schedule)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := study.Run(ctx, study.Options{Dir: *out, Base: base, Cases: which, Seeds: seeds, Log: os.Stdout})
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("interrupted; the finished epochs are kept: rerun the same command to resume")
	}
	if err != nil {
		return err
	}
	fmt.Printf("\n%s\nwrote %s, %s and %s\n", rep.Markdown(),
		filepath.Join(*out, study.TableFile), filepath.Join(*out, study.JSONFile), filepath.Join(*out, study.ChartFile))
	return nil
}
