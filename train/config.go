// Package train trains catmark's landmark regressors: the loop, its checkpoints, its metrics log
// and resuming after an interruption.
//
// A run lives in one folder:
//
//	config.json       the Config the run started with
//	last.safetensors  the model and optimiser after the last finished epoch (atomic)
//	best.safetensors  the model with the best validation NME so far (atomic)
//	metrics.jsonl     one JSON object per finished epoch
//
// Killed at any moment, a run resumes from last.safetensors and repeats at most one epoch.
package train

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/catmark/catmark/imgproc"
	"github.com/catmark/catmark/internal/atomicfile"
	"github.com/catmark/catmark/model"
	"github.com/catmark/catmark/models/resnet"
)

// Config is everything that defines a training run. Its zero values are filled by Defaults.
type Config struct {
	Data string `json:"data"` // a prepared cache folder (catmark prepare) or a photo folder
	Out  string `json:"out"`  // the run folder

	Stage model.Stage `json:"stage"`
	Depth int         `json:"depth"` // ResNet depth: 18, 34 or 50
	Width int         `json:"width"` // base width (64 = torchvision's)
	// Head is "pool" (pooled regression, the default), "integral" (heatmaps, soft-argmax) or
	// "simcc" (per-axis bins from pooled features, soft-argmax);
	// Stages is 3 or 4 (0: 4). See model.Spec.
	Head   string `json:"head,omitempty"`
	Stages int    `json:"stages,omitempty"`
	Size   int    `json:"size"` // network input side in pixels
	// SmallSize, when set, is the training input side for the first SmallShare of the run (by
	// the schedule's progress, steps or time budget): progressive resizing, cheaper epochs
	// first. The rest of the run and every validation use Size.
	SmallSize  int      `json:"small_size,omitempty"`
	SmallShare float64  `json:"small_share,omitempty"`
	Freeze     []string `json:"freeze,omitempty"`
	Init       string   `json:"init,omitempty"` // initial weights: torchvision safetensors or a catmark checkpoint
	// FreshHead loads only the backbone from Init: the head (fc, heatmap) keeps its fresh
	// initialisation from Seed, as when fine-tuning from weights trained on another task.
	FreshHead bool `json:"fresh_head,omitempty"`
	// CacheFrozen computes the output of the frozen leading layers (Freeze, loaded from Init) once
	// for every training input and its mirror, and for every validation input, keeps it in a file
	// beside the run folder (FeatureFile) and trains the rest of the network on it: the same
	// steps as without it, without the frozen layers' forward pass. It needs Init, Freeze and
	// flips as the only augmentation.
	CacheFrozen bool    `json:"cache_frozen,omitempty"`
	Norm        string  `json:"norm"` // "imagenet" or "unit" (/255)
	Backend     string  `json:"backend,omitempty"`
	Loss        string  `json:"loss"`
	Flip        bool    `json:"flip"`
	PCA         bool    `json:"pca"`
	Scale       float64 `json:"scale"`  // similarity jitter: scale range ±Scale (whole), box scale (crop)
	Shift       float64 `json:"shift"`  // similarity jitter: shift as a share of the side
	Rotate      float64 `json:"rotate"` // similarity jitter: rotation in degrees
	Margin      float64 `json:"margin"` // crop stage: share of the face box added on each side
	// Negatives is the crop stage's share of training crops cut where no face is. When positive,
	// the model gets a 19th output, the face presence, trained towards 1 on face crops and 0 on
	// these (loss.EvalPresence); the detector uses it to search a photo when a crop misses.
	Negatives float64 `json:"negatives,omitempty"`
	// TurnedNegatives is the share of those negatives that show the face itself turned by a
	// quarter, a half or three quarters (before the rotation jitter): presence then means an
	// upright face, which the detector's any-angle first pass relies on.
	TurnedNegatives float64 `json:"turned_negatives,omitempty"`
	// Spread λ > 0 adds DSNT's variance regulariser to an integral head's training loss, asking
	// each heatmap for one blob SpreadSigma cells wide (nn.IntegralHead; 0: 1 cell). The logged
	// train_loss is the landmark loss without it.
	Spread      float64 `json:"spread,omitempty"`
	SpreadSigma float64 `json:"spread_sigma,omitempty"`
	// Multi, Empty and MinFace shape a centers run's training pictures (augment.Scene): the
	// shares with several cats and with none, and the smallest face side as a share of the input.
	Multi     float64 `json:"multi,omitempty"`
	Empty     float64 `json:"empty,omitempty"`
	MinFace   float64 `json:"min_face,omitempty"`
	Optimizer string  `json:"optimizer"`
	LR        float64 `json:"lr"`
	Momentum  float64 `json:"momentum"`
	Decay     float64 `json:"weight_decay"`
	Schedule  string  `json:"schedule"` // "constant", "step", "cosine"
	Warmup    float64 `json:"warmup"`   // share of the run spent warming up (cosine)
	Batch     int     `json:"batch"`
	Epochs    int     `json:"epochs"`
	// Budget bounds the wall-clock training time; the schedule follows whichever of epochs and
	// budget runs out first.
	Budget Duration `json:"budget,omitempty"`
	// ValEvery validates after every ValEvery-th epoch and after the last (0 or 1: after every
	// epoch). Validation is about a twelfth of a crop-stage epoch; a run that keeps its last
	// checkpoint spends that time training instead.
	ValEvery int   `json:"val_every,omitempty"`
	Seed     int64 `json:"seed"`
	// Split names the cache's split used for training; validation uses "val".
	Split string `json:"split"`
	Quiet bool   `json:"-"`
}

// Defaults returns catmark train's defaults: a whole-photo recipe of one hour on one core. The
// shipped models were trained by scripts/train-model.sh, which sets its own flags on top of these
// (its loss, crop stage and budgets; docs/model-card.md, "Training data").
func Defaults() Config {
	return Config{
		Stage: model.Whole, Depth: 18, Width: 32, Size: 128, Norm: "imagenet",
		Loss: "mse+ddmse:1-8+area", Flip: true, Scale: 0.15, Shift: 0.08, Rotate: 10, Margin: 0.3,
		Optimizer: "adamw", LR: 2e-3, Momentum: 0.9, Decay: 0.05, Schedule: "cosine", Warmup: 0.03,
		Batch: 32, Epochs: 400, Budget: Duration(time.Hour), Seed: 1, Split: "train",
	}
}

// Validate reports the first setting that cannot work, naming it.
func (c *Config) Validate() error {
	switch {
	case c.Data == "":
		return fmt.Errorf("train: no data folder (--data)")
	case c.Out == "":
		return fmt.Errorf("train: no run folder (--out)")
	case c.Stage != model.Whole && c.Stage != model.Crop && c.Stage != model.Centers:
		return fmt.Errorf("train: stage %q: want %q, %q or %q", c.Stage, model.Whole, model.Crop, model.Centers)
	case c.Stage == model.Centers && (c.Head != "" && c.Head != resnet.Centers || c.Stages != 0 && c.Stages != 3):
		return fmt.Errorf("train: the %q stage has its own head on 3 stages, not head %q with %d stages", model.Centers, c.Head, c.Stages)
	case c.Stage == model.Centers && (c.Depth == 50 || c.Size%model.CentersAlign != 0):
		return fmt.Errorf("train: the %q stage needs ResNet-18 or 34 and a size divisible by %d (depth %d, size %d)", model.Centers, model.CentersAlign, c.Depth, c.Size)
	case c.Stage == model.Centers && c.SmallSize != 0:
		return fmt.Errorf("train: small size %d: the %q stage trains at one size", c.SmallSize, model.Centers)
	case c.Stage != model.Centers && (c.Multi != 0 || c.Empty != 0 || c.MinFace != 0):
		return fmt.Errorf("train: multi %g, empty %g, min face %g: only the %q stage makes scenes", c.Multi, c.Empty, c.MinFace, model.Centers)
	case c.Stage == model.Centers && !(c.MinFace > 0 && c.MinFace <= 0.9):
		return fmt.Errorf("train: min face %g: want a share of the input side in (0, 0.9]", c.MinFace)
	case c.Stage == model.Centers && !(c.Multi >= 0 && c.Empty >= 0 && c.Multi+c.Empty <= 1):
		return fmt.Errorf("train: multi %g and empty %g: want shares summing to at most 1", c.Multi, c.Empty)
	case c.Depth != 18 && c.Depth != 34 && c.Depth != 50:
		return fmt.Errorf("train: depth %d: want 18, 34 or 50", c.Depth)
	case c.Width < 1:
		return fmt.Errorf("train: width %d must be positive", c.Width)
	case !resnet.HeadOK(c.Head):
		return fmt.Errorf("train: head %q: want %q, %q or %q", c.Head, resnet.Pool, resnet.Integral, resnet.SimCC)
	case c.Stages != 0 && c.Stages != 3 && c.Stages != 4:
		return fmt.Errorf("train: stages %d: want 3 or 4", c.Stages)
	case c.Size < 32:
		return fmt.Errorf("train: input size %d is below 32", c.Size)
	case c.SmallSize != 0 && (c.SmallSize < 32 || c.SmallSize >= c.Size):
		return fmt.Errorf("train: small size %d: want 32 or more and below the input size %d", c.SmallSize, c.Size)
	case c.SmallSize != 0 && (c.SmallShare <= 0 || c.SmallShare >= 1):
		return fmt.Errorf("train: small share %g: want a share of the run in (0, 1) for --small-size", c.SmallShare)
	case c.SmallSize == 0 && c.SmallShare != 0:
		return fmt.Errorf("train: small share %g without --small-size", c.SmallShare)
	case c.Batch < 1:
		return fmt.Errorf("train: batch %d must be positive", c.Batch)
	case c.ValEvery < 0:
		return fmt.Errorf("train: val-every %d must be 0 or more", c.ValEvery)
	case c.Epochs < 1:
		return fmt.Errorf("train: epochs %d must be positive", c.Epochs)
	case c.LR <= 0:
		return fmt.Errorf("train: learning rate %g must be positive", c.LR)
	case !slices.Contains(imgproc.NormNames, c.Norm):
		return fmt.Errorf("train: normalisation %q: want one of %q", c.Norm, imgproc.NormNames)
	case c.Optimizer != "sgd" && c.Optimizer != "adamw":
		return fmt.Errorf("train: optimiser %q: want sgd or adamw", c.Optimizer)
	case c.Negatives < 0 || c.Negatives >= 1:
		return fmt.Errorf("train: negatives %g: want a share in [0, 1)", c.Negatives)
	case c.Negatives > 0 && c.Stage != model.Crop:
		return fmt.Errorf("train: negatives %g: only the crop stage learns face presence", c.Negatives)
	case c.TurnedNegatives < 0 || c.TurnedNegatives > 1:
		return fmt.Errorf("train: turned negatives %g: want a share in [0, 1]", c.TurnedNegatives)
	case c.TurnedNegatives > 0 && c.Negatives == 0:
		return fmt.Errorf("train: turned negatives %g: a share of --negatives, which is 0", c.TurnedNegatives)
	case c.Spread < 0 || c.SpreadSigma < 0:
		return fmt.Errorf("train: spread %g, spread sigma %g: want 0 or more", c.Spread, c.SpreadSigma)
	case c.SpreadSigma > 0 && c.Spread == 0:
		return fmt.Errorf("train: spread sigma %g without --spread", c.SpreadSigma)
	case c.Spread > 0 && c.Head != resnet.Integral:
		return fmt.Errorf("train: spread %g: the variance regulariser needs --head integral", c.Spread)
	case c.FreshHead && c.Init == "":
		return fmt.Errorf("train: fresh head: no initial weights (--init) to load the backbone from")
	case c.CacheFrozen && c.Stage == model.Centers:
		return fmt.Errorf("train: cache-frozen: the %q stage makes new scenes every epoch; only fixed crops and photos can be cached", model.Centers)
	case c.CacheFrozen && len(c.Freeze) == 0:
		return fmt.Errorf("train: cache-frozen: nothing is frozen (--freeze, e.g. stem,layer1,layer2)")
	case c.CacheFrozen && c.Init == "":
		return fmt.Errorf("train: cache-frozen: the frozen layers need initial weights (--init)")
	case c.CacheFrozen && c.PCA:
		return fmt.Errorf("train: cache-frozen: PCA colour augmentation changes the inputs every epoch; only flips can be cached")
	case c.CacheFrozen && (c.Scale != 0 || c.Shift != 0 || c.Rotate != 0):
		return fmt.Errorf("train: cache-frozen: scale %g, shift %g, rotate %g: geometric jitter changes the inputs every epoch; only flips can be cached", c.Scale, c.Shift, c.Rotate)
	case c.CacheFrozen && c.Negatives > 0:
		return fmt.Errorf("train: cache-frozen: negatives %g are cut at random; only flips can be cached", c.Negatives)
	case c.CacheFrozen && c.SmallSize > 0:
		return fmt.Errorf("train: cache-frozen: small size %d changes the input size; only one size can be cached", c.SmallSize)
	case c.Schedule != "constant" && c.Schedule != "step" && c.Schedule != "cosine":
		return fmt.Errorf("train: schedule %q: want constant, step or cosine", c.Schedule)
	}
	return nil
}

// Spec is the model spec of the network the run trains.
func (c *Config) Spec() model.Spec {
	if c.Stage == model.Centers {
		return model.Spec{Depth: c.Depth, Width: c.Width, Size: c.Size, Stage: c.Stage, Norm: c.Norm, Head: resnet.Centers, Stages: 3}
	}
	return model.Spec{Depth: c.Depth, Width: c.Width, Size: c.Size, Stage: c.Stage, Norm: c.Norm, Margin: c.Margin,
		Presence: c.Negatives > 0, Head: c.Head, Stages: c.Stages}
}

// Duration is a time.Duration that reads and writes JSON as "45m".
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	*d = Duration(v)
	return err
}

func writeConfig(c Config) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(c.Out, "config.json"), append(b, '\n'))
}

// ReadConfig reads a run folder's config.json.
func ReadConfig(dir string) (Config, error) {
	var c Config
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return c, fmt.Errorf("train: %s is not a run folder: %w", dir, err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("train: %s: %w", filepath.Join(dir, "config.json"), err)
	}
	c.Out = dir
	return c, nil
}
