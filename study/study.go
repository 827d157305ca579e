// Package study runs the seed's loss study: the same model trained seven times, with seven
// losses (the "cases" of SPEC.md), everything else equal, and a table and a chart that compare
// them.
//
// A study lives in one folder:
//
//	case1 … case7  one training run per case (package train's run folder)
//	study.md       the comparison table
//	study.json     the same figures, and the shared settings
//	study.png      validation MSE (the seed's metric) and NME per epoch of every case
//	study-time.png the same against training time
//	frozen-*.features the frozen layers' outputs of every crop, with train.Config.CacheFrozen
//	               (train.FeatureFile), shared by the cases and seeds
//
// Run is resumable: a finished case is skipped, an unfinished one continues from its last
// checkpoint (train.Resume).
package study

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/catmark/catmark/internal/atomicfile"
	"github.com/catmark/catmark/landmark"
	"github.com/catmark/catmark/model"
	"github.com/catmark/catmark/train"
)

// Case is one of the study's training setups: the seed's seven, and controls. Every case uses
// flip augmentation.
type Case struct {
	N    int    // 1…7 the seed's, 8… controls
	Loss string // the loss, as loss.Parse names it
	PCA  bool   // PCA colour augmentation
	// EpochFactor multiplies the study's epochs: 2 for case 2, which trains twice as long.
	EpochFactor int
	// SeedMSE is the seed's best test MSE for the case (ResNet-50 from ImageNet weights, 224 px,
	// 6,996 training photos, 200 or 400 epochs): for orientation, not for direct comparison;
	// 0 for the controls, which the seed did not run.
	SeedMSE float64
	// GradMatched scales the learning rate so that the case's initial gradient norm matches
	// case 6's (GradScale): plain MSE with the structured loss's gradient size, which tells a
	// better objective from a bigger step. (AdamW normalises gradient sizes away, so the control
	// matters for SGD.)
	GradMatched bool
}

// Cases are the seed's seven cases (SPEC.md, section "Losses") and three controls: MSE at case
// 6's gradient norm, and Wing and L1, the field's usual alternatives to MSE.
var Cases = []Case{
	{N: 1, Loss: "mse", EpochFactor: 1, SeedMSE: 0.02472},
	{N: 2, Loss: "mse", EpochFactor: 2, SeedMSE: 0.01930},
	{N: 3, Loss: "mse+ddmse:1", EpochFactor: 1, SeedMSE: 0.01942},
	{N: 4, Loss: "mse+ddmse:1-8", EpochFactor: 1, SeedMSE: 0.01516},
	{N: 5, Loss: "mse+ddmse:1-8+triangle", EpochFactor: 1, SeedMSE: 0.01715},
	{N: 6, Loss: "mse+ddmse:1-8+area", EpochFactor: 1, SeedMSE: 0.00415},
	{N: 7, Loss: "mse+ddmse:1-8+area", PCA: true, EpochFactor: 1, SeedMSE: 0.00379},
	{N: 8, Loss: "mse", EpochFactor: 1, GradMatched: true},
	{N: 9, Loss: "wing", EpochFactor: 1},
	{N: 10, Loss: "l1", EpochFactor: 1},
}

// SeedCases are the seed's own seven cases, what a study trains when no case is named.
var SeedCases = []int{1, 2, 3, 4, 5, 6, 7}

// gradReference is the case whose gradient norm GradMatched cases match.
const gradReference = 6

// CaseByNumber returns case n.
func CaseByNumber(n int) (Case, error) {
	for _, c := range Cases {
		if c.N == n {
			return c, nil
		}
	}
	return Case{}, fmt.Errorf("study: no case %d (the seed's cases are 1…7, the controls 8…%d)", n, len(Cases))
}

// Describe names the case's loss and augmentation, e.g. "mse+ddmse:1-8+area, PCA colour".
func (c Case) Describe() string {
	d := c.Loss
	if c.PCA {
		d += ", PCA colour"
	}
	if c.GradMatched {
		d += fmt.Sprintf(", lr × case %d's gradient norm / its own", gradReference)
	}
	return d
}

// Dir returns the case's run folder inside the study folder for one seed: caseN for the study's
// first seed (as studies of one seed always were), caseN-seedS for the others.
func (c Case) Dir(study string, seed, firstSeed int64) string {
	if seed == firstSeed {
		return filepath.Join(study, fmt.Sprintf("case%d", c.N))
	}
	return filepath.Join(study, fmt.Sprintf("case%d-seed%d", c.N, seed))
}

// Config returns the case's training settings for one seed: base with the case's loss, PCA
// augmentation, epochs (base.Epochs × EpochFactor) and seed, the learning rate times lrScale
// for a GradMatched case, flip on, quiet, in its folder of the study folder. A PCA case does not
// use cached frozen features (train.Config.CacheFrozen): its inputs change every epoch.
func (c Case) Config(base train.Config, study string, seed int64, lrScale float64) train.Config {
	cfg := base
	cfg.Loss, cfg.PCA, cfg.Flip = c.Loss, c.PCA, true
	cfg.Epochs = base.Epochs * c.EpochFactor
	cfg.Out = c.Dir(study, seed, base.Seed)
	cfg.Seed = seed
	if c.GradMatched {
		cfg.LR = base.LR * lrScale
	}
	if c.PCA {
		// PCA colour changes the crops every epoch: the case runs through the frozen layers.
		cfg.CacheFrozen = false
	}
	cfg.Quiet = true
	return cfg
}

// Scale is a preset size of study: the model, its input and the base number of epochs.
type Scale struct {
	Name                              string
	Depth, Width, Size, Batch, Epochs int
	Freeze                            []string // parts frozen (the seed's fine-tuning); needs initial weights
	// Refine trains the refine stage instead of the whole photo: face crops with the one-hour
	// recipe's jitter (scripts/train-model.sh) and its integral head on three stages, where
	// models localise.
	Refine bool
	About  string
}

// Scales are the preset sizes, smallest first. Each study trains 8 × Epochs epochs in all (case 2
// twice as long).
var Scales = []Scale{
	{Name: "tiny", Depth: 18, Width: 8, Size: 64, Batch: 16, Epochs: 10, About: "a smoke test"},
	{Name: "small", Depth: 18, Width: 16, Size: 96, Batch: 32, Epochs: 30, About: "a first comparison"},
	{Name: "medium", Depth: 18, Width: 32, Size: 128, Batch: 32, Epochs: 60, About: "the CPU recipe's model"},
	{Name: "refine", Depth: 18, Width: 32, Size: 128, Batch: 32, Epochs: 60, Refine: true,
		About: "the recipe's refine stage: face crops with its jitter, integral head (where models localise)"},
	{Name: "large", Depth: 34, Width: 64, Size: 160, Batch: 32, Epochs: 100, About: "for bigger machines"},
	{Name: "seed", Depth: 50, Width: 64, Size: 224, Batch: 32, Epochs: 200, Freeze: []string{"stem", "layer1", "layer2"},
		About: "the seed's setup: ResNet-50 fine-tuned from ImageNet weights (--init), layers up to layer2 frozen"},
}

// ScaleByName returns the preset called name.
func ScaleByName(name string) (Scale, error) {
	var names []string
	for _, s := range Scales {
		if s.Name == name {
			return s, nil
		}
		names = append(names, s.Name)
	}
	return Scale{}, fmt.Errorf("study: unknown scale %q (want %s)", name, strings.Join(names, ", "))
}

// Base returns the settings all cases share at scale s: the seed's recipe (SGD, momentum 0.9,
// learning rate 1e-3, constant, no weight decay; flip and no other geometric augmentation;
// no time budget) with ImageNet normalisation, on the cache data; a Refine scale trains face
// crops with the recipe's box jitter and rotation instead.
func Base(data string, s Scale) train.Config {
	cfg := train.Defaults()
	cfg.Data = data
	cfg.Stage = model.Whole
	cfg.Depth, cfg.Width, cfg.Size, cfg.Batch, cfg.Epochs = s.Depth, s.Width, s.Size, s.Batch, s.Epochs
	cfg.Freeze = s.Freeze
	cfg.Optimizer, cfg.LR, cfg.Momentum, cfg.Decay, cfg.Schedule = "sgd", 1e-3, 0.9, 0, "constant"
	cfg.Flip, cfg.PCA = true, false
	cfg.Scale, cfg.Shift, cfg.Rotate = 0, 0, 0
	if s.Refine {
		cfg.Stage, cfg.Margin, cfg.Scale, cfg.Shift, cfg.Rotate = model.Crop, 0.3, 0.25, 0.15, 25
		cfg.Head, cfg.Stages = "integral", 3
	}
	cfg.Budget = 0
	return cfg
}

// Options controls Run.
type Options struct {
	Dir   string       // the study folder
	Base  train.Config // the shared settings (Base, perhaps changed); Loss, PCA and Out are the cases'
	Cases []int        // the cases to train; nil means the seed's seven (SeedCases)
	// Seeds are the seeds each case is trained with (initialisation and batch order); nil
	// means Base.Seed alone. The first seed's runs are in caseN, the others' in caseN-seedS.
	Seeds []int64
	// Log gets one line when a case starts and one when it ends; nil means none.
	Log io.Writer
	// ChartWidth and ChartHeight are study.png's size in pixels; 0 means 1200×500.
	ChartWidth, ChartHeight int
}

// Row is one case's figures in the study's table.
type Row struct {
	Case    int    `json:"case"`
	Seed    int64  `json:"seed"`
	Loss    string `json:"loss"`
	PCA     bool   `json:"pca"`
	Epochs  int    `json:"epochs"`  // planned
	Trained int    `json:"trained"` // finished epochs
	Status  string `json:"status"`  // "finished", "unfinished" or "diverged: …"

	BestMSE      float64 `json:"best_val_mse"` // lowest validation MSE over the epochs (the seed's figure)
	BestMSEEpoch int     `json:"best_mse_epoch"`
	BestNME      float64 `json:"best_val_nme"` // lowest validation NME over the epochs
	BestNMEEpoch int     `json:"best_nme_epoch"`
	// PCK01 and FinalNME are those of the best-NME epoch (best.safetensors) and the last.
	PCK01    float64 `json:"pck_0_1"`
	FinalNME float64 `json:"final_val_nme"`
	TrainS   float64 `json:"train_s"` // training time in seconds
	SeedMSE  float64 `json:"seed_test_mse"`
	LR       float64 `json:"lr"`
	Dir      string  `json:"dir"`
}

// Summary is one case's figures over its seeds: mean and sample standard deviation of the last
// epoch's validation NME (every run trains the same fixed number of epochs, so no epoch is
// chosen on the validation photos) and of the best validation MSE, the seed's figure.
type Summary struct {
	Case      int     `json:"case"`
	Describe  string  `json:"describe"`
	Runs      int     `json:"finished_runs"`
	FinalNME  float64 `json:"final_val_nme_mean"`
	FinalSD   float64 `json:"final_val_nme_sd"`
	BestMSE   float64 `json:"best_val_mse_mean"`
	BestMSESD float64 `json:"best_val_mse_sd"`
	// PerPoint is each point's validation error (mean over the true eye distance) of the last
	// checkpoints, averaged over the runs that measured it (PointRuns).
	PerPoint  [landmark.N]float64 `json:"per_point_nme"`
	PointRuns int                 `json:"per_point_runs"`
	// The last checkpoints' figures on the validation photos (Eval), over the same PointRuns
	// runs: the seed's MSE, the failure rate (share of photos with NME > 0.1) and the median
	// photo's NME.
	LastMSE   float64 `json:"last_val_mse_mean"`
	LastMSESD float64 `json:"last_val_mse_sd"`
	Failure   float64 `json:"failure_rate_mean"`
	FailureSD float64 `json:"failure_rate_sd"`
	Median    float64 `json:"median_nme_mean"`
	// Paired compares the case's last-epoch val NME with case 1's over the seeds both finished
	// (nil for case 1, or with no common seed).
	Paired *Paired `json:"paired_with_case_1,omitempty"`
}

// Paired is a case's last-epoch val NME minus case 1's, seed by seed.
type Paired struct {
	Seeds  int     `json:"seeds"`
	Mean   float64 `json:"mean_difference"`
	SD     float64 `json:"sd_difference"`
	CI95   float64 `json:"ci95_half_width"` // Student's t over the seeds; 0 with one seed
	Better int     `json:"seeds_better"`    // seeds where the case scored lower than case 1
}

// pair compares case values with base values at the same seeds.
func pair(values, base map[int64]float64) *Paired {
	var d []float64
	better := 0
	for seed, v := range values {
		if b, ok := base[seed]; ok {
			d = append(d, v-b)
			if v < b {
				better++
			}
		}
	}
	if len(d) == 0 {
		return nil
	}
	p := &Paired{Seeds: len(d), Better: better}
	p.Mean, p.SD = meanSD(d)
	if len(d) > 1 {
		p.CI95 = tQuantile975(len(d)-1) * p.SD / math.Sqrt(float64(len(d)))
	}
	return p
}

// tQuantile975 is the 97.5 % quantile of Student's t distribution with df degrees of freedom.
func tQuantile975(df int) float64 {
	table := []float64{12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228}
	if df >= 1 && df <= len(table) {
		return table[df-1]
	}
	return 1.96 + 2.4/float64(df) // within 0.3 % of the exact value beyond 10 degrees of freedom
}

// Report is a study's summary: the shared settings and one row per case that has a run.
type Report struct {
	Dir      string       `json:"dir"`
	Settings train.Config `json:"settings"` // loss, pca, epochs, seed and out are per run
	Seeds    []int64      `json:"seeds"`
	// GradScale is the learning-rate factor of the gradient-matched control (case 8): case 6's
	// initial gradient norm over plain MSE's; 0 when not measured.
	GradScale float64   `json:"grad_scale,omitempty"`
	Rows      []Row     `json:"runs"`
	Summary   []Summary `json:"cases"`
}

// File names that Run and Summarize write in the study folder.
const (
	TableFile = "study.md"
	JSONFile  = "study.json"
	ChartFile = "study.png"
	// TimeChartFile is ChartFile against training time.
	TimeChartFile = "study-time.png"
	// divergedFile marks a case whose loss diverged, with the error; a rerun does not retry it.
	divergedFile = "diverged.txt"
	// gradScaleFile keeps the measured GradScale, so that reruns train case 8 with the same
	// learning rate.
	gradScaleFile = "gradscale.json"
)

// gradBatches is how many training batches GradScale averages the gradient norms over.
const gradBatches = 8

// GradScale returns case 6's initial gradient norm over plain MSE's for the study's settings
// (train.GradNorms over the first gradBatches batches at the first seed's initial weights),
// measured once and kept in the study folder. With measure false a missing measurement gives 0.
func GradScale(dir string, base train.Config, measure bool) (float64, error) {
	type record struct {
		Reference, Loss string
		Batches         int
		Norms           []float64
		Scale           float64
	}
	path := filepath.Join(dir, gradScaleFile)
	if b, err := os.ReadFile(path); err == nil {
		var r record
		if err := json.Unmarshal(b, &r); err != nil {
			return 0, fmt.Errorf("study: %s: %w", path, err)
		}
		return r.Scale, nil
	}
	if !measure {
		return 0, nil
	}
	ref, _ := CaseByNumber(gradReference)
	cfg := ref.Config(base, dir, base.Seed, 1)
	norms, err := train.GradNorms(cfg, []string{ref.Loss, "mse"}, gradBatches)
	if err != nil {
		return 0, fmt.Errorf("study: measuring gradient norms: %w", err)
	}
	r := record{Reference: ref.Loss, Loss: "mse", Batches: gradBatches, Norms: norms, Scale: norms[0] / norms[1]}
	b, _ := json.MarshalIndent(r, "", "  ")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	return r.Scale, atomicfile.WriteFile(path, append(b, '\n'))
}

// seeds returns opt's seeds, or the base seed alone.
func seeds(opt []int64, base train.Config) []int64 {
	if len(opt) == 0 {
		return []int64{base.Seed}
	}
	return opt
}

// Run trains the requested cases one after the other, each in its folder of opt.Dir: a case
// whose run finished is skipped, an unfinished one resumes, a new one starts. A case whose run
// folder holds other settings than the study asks for is an error (nothing is trained). A case
// that diverges is reported and the study goes on. When all are done, or the context is
// cancelled, it writes the table, the JSON and the chart of every case that has a run (Summarize)
// and returns the report.
func Run(ctx context.Context, opt Options) (*Report, error) {
	if opt.Dir == "" {
		return nil, errors.New("study: no study folder")
	}
	if opt.Base.Epochs < 1 {
		return nil, fmt.Errorf("study: epochs %d must be positive", opt.Base.Epochs)
	}
	if opt.Base.Data != "" {
		if abs, err := filepath.Abs(opt.Base.Data); err == nil {
			opt.Base.Data = abs
		}
	}
	cases, err := pick(opt.Cases)
	if err != nil {
		return nil, err
	}
	if len(opt.Seeds) > 0 {
		opt.Base.Seed = opt.Seeds[0]
	}
	runSeeds := seeds(opt.Seeds, opt.Base)
	scale := 0.0
	for _, c := range cases {
		if c.GradMatched {
			if scale, err = GradScale(opt.Dir, opt.Base, true); err != nil {
				return nil, err
			}
		}
	}
	// Check every run before training any.
	for _, c := range cases {
		for _, seed := range runSeeds {
			cfg := c.Config(opt.Base, opt.Dir, seed, scale)
			if err := cfg.Validate(); err != nil {
				return nil, fmt.Errorf("study: case %d: %w", c.N, err)
			}
			if err := compatible(c, cfg); err != nil {
				return nil, err
			}
		}
	}
	if err := os.MkdirAll(opt.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("study: %w", err)
	}
	logf := func(format string, a ...any) {
		if opt.Log != nil {
			fmt.Fprintf(opt.Log, format, a...)
		}
	}
	var runErr error
runs:
	for _, seed := range runSeeds {
		for _, c := range cases {
			cfg := c.Config(opt.Base, opt.Dir, seed, scale)
			name := fmt.Sprintf("case %d (%s)", c.N, c.Describe())
			if len(runSeeds) > 1 {
				name = fmt.Sprintf("case %d (%s), seed %d", c.N, c.Describe(), seed)
			}
			row, started := readRow(c, cfg)
			if row.Status == "finished" {
				if _, err := readEval(cfg.Out); err != nil {
					if err := measureLast(cfg); err != nil {
						runErr = fmt.Errorf("study: case %d, seed %d: measuring the last checkpoint: %w", c.N, seed, err)
						break runs
					}
				}
			}
			if row.Status != "unfinished" {
				logf("%s: %s earlier; skipped\n", name, row.Status)
				continue
			}
			if started {
				logf("%s: resuming after epoch %d of %d\n", name, row.Trained, cfg.Epochs)
				_, err = train.Resume(ctx, cfg.Out, train.ResumeOptions{Quiet: true, Epochs: cfg.Epochs}, io.Discard)
			} else {
				logf("%s: training %d epochs\n", name, cfg.Epochs)
				_, err = train.Run(ctx, cfg, io.Discard)
			}
			if errors.Is(err, train.ErrDiverged) {
				os.WriteFile(filepath.Join(cfg.Out, divergedFile), []byte(err.Error()+"\n"), 0o644)
				logf("%s: %v\n", name, err)
				continue
			}
			if err != nil {
				runErr = fmt.Errorf("study: case %d, seed %d: %w", c.N, seed, err)
				break runs
			}
			row, _ = readRow(c, cfg)
			if row.Status == "finished" {
				if err := measureLast(cfg); err != nil {
					runErr = fmt.Errorf("study: case %d, seed %d: measuring the last checkpoint: %w", c.N, seed, err)
					break runs
				}
			}
			logf("%s: %s\n", name, row.Line())
		}
	}
	rep, err := Summarize(opt.Dir, opt.Base, runSeeds, opt.ChartWidth, opt.ChartHeight)
	if runErr != nil {
		return rep, runErr
	}
	return rep, err
}

// Line is the row's headline on one line.
func (r Row) Line() string {
	if r.Trained == 0 {
		return r.Status + ", no epoch finished"
	}
	return fmt.Sprintf("%d epochs in %s; best val MSE %.5f (epoch %d), NME %.4f (epoch %d), PCK@0.1 %.1f %%",
		r.Trained, seconds(r.TrainS), r.BestMSE, r.BestMSEEpoch, r.BestNME, r.BestNMEEpoch, 100*r.PCK01)
}

func pick(ns []int) ([]Case, error) {
	if len(ns) == 0 {
		ns = SeedCases
	}
	var out []Case
	seen := map[int]bool{}
	for _, n := range ns {
		c, err := CaseByNumber(n)
		if err != nil {
			return nil, err
		}
		if !seen[n] {
			out = append(out, c)
			seen[n] = true
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].N < out[j].N })
	return out, nil
}

// compatible checks that the case's folder, if it holds a run, was started with cfg's settings
// (the backend aside: a run may resume on another one).
func compatible(c Case, cfg train.Config) error {
	have, err := train.ReadConfig(cfg.Out)
	if err != nil {
		if _, serr := os.Stat(filepath.Join(cfg.Out, "config.json")); errors.Is(serr, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("study: case %d: %w", c.N, err)
	}
	if extendable(have, cfg) {
		have.Epochs = cfg.Epochs
	}
	if diff := configDiff(have, cfg); len(diff) > 0 {
		return fmt.Errorf("study: %s holds a run with other settings than this study's (%s): choose another study folder, or remove it to train it again",
			cfg.Out, strings.Join(diff, "; "))
	}
	return nil
}

// extendable reports whether a run started with have may be carried on to want's longer length:
// only under a constant learning rate, where training on is the same as having planned more
// epochs from the start (a cosine or step schedule would have decayed differently).
func extendable(have, want train.Config) bool {
	return have.Schedule == "constant" && want.Schedule == "constant" && have.Epochs < want.Epochs
}

// configDiff lists the settings that differ between the run's and the study's, as
// "name: run's value, study's value".
func configDiff(have, want train.Config) []string {
	if abs, err := filepath.Abs(have.Data); err == nil {
		have.Data = abs
	}
	toMap := func(c train.Config) map[string]any {
		c.Out, c.Backend = "", ""
		b, _ := json.Marshal(c)
		var m map[string]any
		json.Unmarshal(b, &m)
		return m
	}
	h, w := toMap(have), toMap(want)
	var keys []string
	for k := range w {
		keys = append(keys, k)
	}
	for k := range h {
		if _, ok := w[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var diff []string
	for _, k := range keys {
		if !reflect.DeepEqual(h[k], w[k]) {
			diff = append(diff, fmt.Sprintf("%s: %v in the run, %v in the study", k, show(h[k]), show(w[k])))
		}
	}
	return diff
}

func show(v any) string {
	if v == nil {
		return "unset"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// readRow reads the run folder of a case's run with cfg; started reports whether it holds a run.
func readRow(c Case, cfg train.Config) (row Row, started bool) {
	epochs, dir := cfg.Epochs, cfg.Out
	row = Row{Case: c.N, Seed: cfg.Seed, Loss: c.Loss, PCA: c.PCA, Epochs: epochs, Status: "unfinished", SeedMSE: c.SeedMSE, LR: cfg.LR, Dir: dir,
		BestMSE: math.NaN(), BestNME: math.NaN(), PCK01: math.NaN(), FinalNME: math.NaN()}
	if _, err := os.Stat(filepath.Join(dir, "config.json")); err != nil {
		return row, false
	}
	log, _ := train.ReadLog(dir)
	for _, e := range log {
		if e.Epoch > epochs {
			break
		}
		row.Trained = e.Epoch
		row.TrainS = e.Elapsed
		if !e.Validated() {
			continue
		}
		row.FinalNME = e.ValNME
		if !(e.ValMSE >= row.BestMSE) {
			row.BestMSE, row.BestMSEEpoch = e.ValMSE, e.Epoch
		}
		if !(e.ValNME >= row.BestNME) {
			row.BestNME, row.BestNMEEpoch, row.PCK01 = e.ValNME, e.Epoch, e.ValPCK01
		}
	}
	if row.Trained >= epochs {
		row.Status = "finished"
	}
	if b, err := os.ReadFile(filepath.Join(dir, divergedFile)); err == nil && row.Status != "finished" {
		row.Status = "diverged: " + strings.TrimSpace(string(b))
	}
	return row, true
}

// Summarize reads the runs of every case and seed in the study folder dir that were trained with
// the settings base, and writes the table (TableFile), the JSON (JSONFile) and the chart
// (ChartFile, when a run has a finished epoch; width×height pixels, 0 meaning 1200×500). Run
// folders with other settings are left out.
func Summarize(dir string, base train.Config, runSeeds []int64, width, height int) (*Report, error) {
	if width <= 0 || height <= 0 {
		width, height = 1200, 500
	}
	runSeeds = seeds(runSeeds, base)
	base.Seed = runSeeds[0]
	scale, err := GradScale(dir, base, false)
	if err != nil {
		return nil, err
	}
	rep := &Report{Dir: dir, Settings: base, Seeds: runSeeds, GradScale: scale}
	rep.Settings.Loss, rep.Settings.Out, rep.Settings.PCA = "", "", false
	var curves []Curve
	var case1 map[int64]float64 // case 1's last-epoch val NME by seed
	for _, c := range Cases {
		if c.GradMatched && scale == 0 {
			continue
		}
		sum := Summary{Case: c.N, Describe: c.Describe()}
		var finals, mses, lastMSEs, failures, medians []float64
		bySeed := map[int64]float64{}
		for _, seed := range runSeeds {
			cfg := c.Config(base, dir, seed, scale)
			row, started := readRow(c, cfg)
			if !started || compatible(c, cfg) != nil {
				continue
			}
			rep.Rows = append(rep.Rows, row)
			if row.Status == "finished" {
				finals, mses = append(finals, row.FinalNME), append(mses, row.BestMSE)
				bySeed[seed] = row.FinalNME
				if ev, err := readEval(cfg.Out); err == nil {
					lastMSEs, failures, medians = append(lastMSEs, ev.MSE), append(failures, ev.FailureRate), append(medians, ev.MedianNME)
					for i, v := range ev.PerPoint {
						sum.PerPoint[i] += v
					}
					sum.PointRuns++
				}
			}
			if log, _ := train.ReadLog(cfg.Out); len(log) > 0 && seed == runSeeds[0] {
				curves = append(curves, Curve{Label: fmt.Sprintf("%d: %s", c.N, c.Describe()), Log: log})
			}
		}
		for i := range sum.PerPoint {
			if sum.PointRuns > 0 {
				sum.PerPoint[i] /= float64(sum.PointRuns)
			}
		}
		if len(finals) > 0 {
			sum.Runs = len(finals)
			sum.FinalNME, sum.FinalSD = meanSD(finals)
			sum.BestMSE, sum.BestMSESD = meanSD(mses)
			if sum.PointRuns > 0 {
				sum.LastMSE, sum.LastMSESD = meanSD(lastMSEs)
				sum.Failure, sum.FailureSD = meanSD(failures)
				sum.Median, _ = meanSD(medians)
			}
			if c.N == 1 {
				case1 = bySeed
			} else if case1 != nil {
				sum.Paired = pair(bySeed, case1)
			}
			rep.Summary = append(rep.Summary, sum)
		}
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, TableFile), []byte(rep.Markdown())); err != nil {
		return rep, err
	}
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return rep, err
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, JSONFile), append(b, '\n')); err != nil {
		return rep, err
	}
	if len(curves) > 0 {
		if err := PlotStudy(filepath.Join(dir, ChartFile), curves, width, height); err != nil {
			return rep, err
		}
		if err := PlotStudyTime(filepath.Join(dir, TimeChartFile), curves, width, height); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// meanSD returns the mean and the sample standard deviation (0 for one value) of v.
func meanSD(v []float64) (mean, sd float64) {
	for _, x := range v {
		mean += x
	}
	mean /= float64(len(v))
	if len(v) < 2 {
		return mean, 0
	}
	for _, x := range v {
		sd += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(sd / float64(len(v)-1))
}

// MarshalJSON writes a row; the figures of a case without a finished epoch are null.
func (r Row) MarshalJSON() ([]byte, error) {
	type plain Row
	if r.Trained > 0 {
		return json.Marshal(plain(r))
	}
	p := plain(r)
	p.BestMSE, p.BestNME, p.PCK01, p.FinalNME = 0, 0, 0, 0
	b, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	for _, k := range []string{"best_val_mse", "best_val_nme", "pck_0_1", "final_val_nme"} {
		m[k] = nil
	}
	return json.Marshal(m)
}

// Markdown renders the report as the study.md table with a note on the settings.
func (rep *Report) Markdown() string {
	s := rep.Settings
	var b strings.Builder
	fmt.Fprintf(&b, "# Loss study\n\n")
	fmt.Fprintf(&b, "The seed's seven cases trained with everything else equal: ResNet-%d, width %d, %d px input, "+
		"%s normalisation; %s, learning rate %g", s.Depth, s.Width, s.Size, s.Norm, s.Optimizer, s.LR)
	if s.Optimizer == "sgd" {
		fmt.Fprintf(&b, ", momentum %g", s.Momentum)
	}
	fmt.Fprintf(&b, ", %s schedule, weight decay %g, batch %d, seeds %v; flip augmentation", s.Schedule, s.Decay, s.Batch, rep.Seeds)
	if s.Stage == model.Crop {
		fmt.Fprintf(&b, "; face crops (margin %g, box scale ±%g, shift ±%g, rotation ±%g°)", s.Margin, s.Scale, s.Shift, s.Rotate)
	}
	if s.Head != "" && s.Head != "pool" {
		fmt.Fprintf(&b, "; %s head, %d stages", s.Head, s.Stages)
	}
	if s.Init != "" && s.FreshHead {
		fmt.Fprintf(&b, "; backbone from %s (head initialised from the seed)", s.Init)
	} else if s.Init != "" {
		fmt.Fprintf(&b, "; initial weights %s", s.Init)
	}
	if len(s.Freeze) > 0 {
		fmt.Fprintf(&b, "; frozen: %s", strings.Join(s.Freeze, ", "))
	}
	if s.CacheFrozen {
		b.WriteString(" (their outputs computed once per crop and mirror; case 7's PCA colour runs through them)")
	}
	fmt.Fprintf(&b, ". Data: %s (train split for training, val split for the figures). %d epochs per case, %d for case 2.\n\n", s.Data, s.Epochs, 2*s.Epochs)
	if len(rep.Summary) > 0 {
		fmt.Fprintf(&b, "Over the seeds (mean ± sample standard deviation of the finished runs):\n\n")
		b.WriteString("| case | setup | runs | last-epoch val NME | best val MSE | last val MSE | failure | median NME |\n|---|---|---|---|---|---|---|---|\n")
		for _, m := range rep.Summary {
			last, fail, med := "–", "–", "–"
			if m.PointRuns > 0 {
				last = fmt.Sprintf("%.5f ± %.5f", m.LastMSE, m.LastMSESD)
				fail = fmt.Sprintf("%.1f ± %.1f %%", 100*m.Failure, 100*m.FailureSD)
				med = fmt.Sprintf("%.4f", m.Median)
			}
			fmt.Fprintf(&b, "| %d | %s | %d | %.4f ± %.4f | %.5f ± %.5f | %s | %s | %s |\n", m.Case, m.Describe, m.Runs, m.FinalNME, m.FinalSD, m.BestMSE, m.BestMSESD, last, fail, med)
		}
		b.WriteString("\nLast val MSE (the seed's metric), failure (photos with NME > 0.1) and the median photo's NME are the last checkpoints' " +
			"(" + evalFile + " in each run), averaged over the seeds.\n")
		var paired strings.Builder
		for _, m := range rep.Summary {
			if p := m.Paired; p != nil {
				verdict := "within the seed spread"
				if p.Seeds > 1 && math.Abs(p.Mean) > p.CI95 {
					verdict = map[bool]string{true: "better", false: "worse"}[p.Mean < 0]
				}
				fmt.Fprintf(&paired, "| %d | %s | %d | %+.4f ± %.4f | %d of %d | %s |\n", m.Case, m.Describe, p.Seeds, p.Mean, p.CI95, p.Better, p.Seeds, verdict)
			}
		}
		if paired.Len() > 0 {
			b.WriteString("\nEach case against case 1, seed by seed (last-epoch val NME of the case minus case 1's at the same seed; " +
				"mean ± the 95 % interval of Student's t over the seeds; a case is called better or worse only when the interval excludes 0):\n\n" +
				"| case | setup | seeds | difference | seeds better | verdict |\n|---|---|---|---|---|---|\n")
			b.WriteString(paired.String())
		}
		b.WriteString("\nPer point (last checkpoints on the validation photos, mean error over the true eye distance, averaged over the seeds):\n\n| case |")
		for _, n := range landmark.Names {
			fmt.Fprintf(&b, " %s |", strings.ReplaceAll(n, "_", " "))
		}
		b.WriteString("\n|---|" + strings.Repeat("---|", landmark.N) + "\n")
		for _, m := range rep.Summary {
			if m.PointRuns == 0 {
				continue
			}
			fmt.Fprintf(&b, "| %d |", m.Case)
			for _, v := range m.PerPoint {
				fmt.Fprintf(&b, " %.3f |", v)
			}
			b.WriteString("\n")
		}
		if rep.GradScale > 0 {
			fmt.Fprintf(&b, "\nCase 8's learning rate is the study's times %.3f, case %d's initial gradient norm over plain MSE's (%s).\n", rep.GradScale, gradReference, gradScaleFile)
		}
		b.WriteString("\nEvery run:\n\n")
	}
	b.WriteString("| case | seed | loss | epochs | best val MSE | best val NME | last val NME | PCK@0.1 | best epoch | train time | seed's test MSE |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rep.Rows {
		epochs := fmt.Sprint(r.Trained)
		if r.Status != "finished" {
			epochs = fmt.Sprintf("%d of %d (%s)", r.Trained, r.Epochs, strings.SplitN(r.Status, ":", 2)[0])
		}
		loss := r.Loss
		if r.PCA {
			loss += " + PCA colour"
		}
		seedMSE := "–"
		if r.SeedMSE > 0 {
			seedMSE = fmt.Sprintf("%.5f", r.SeedMSE)
		}
		if r.Trained == 0 {
			fmt.Fprintf(&b, "| %d | %d | %s | %s | – | – | – | – | – | – | %s |\n", r.Case, r.Seed, loss, epochs, seedMSE)
			continue
		}
		fmt.Fprintf(&b, "| %d | %d | %s | %s | %.5f | %.4f | %.4f | %.1f %% | %d | %s | %s |\n", r.Case, r.Seed, loss, epochs,
			r.BestMSE, r.BestNME, r.FinalNME, 100*r.PCK01, r.BestNMEEpoch, seconds(r.TrainS), seedMSE)
	}
	b.WriteString("\nBest val MSE (the seed's metric, on normalised clipped coordinates) and best val NME are each the " +
		"lowest over the epochs; PCK@0.1 and best epoch are those of the best-NME epoch (the run's best.safetensors). " +
		"The seed's test MSE is its ResNet-50, fine-tuned from ImageNet weights at 224 px on 6,996 photos: for orientation, " +
		"not a like-for-like comparison. Curves: " + ChartFile + " (per epoch) and " + TimeChartFile + " (per minute trained).\n")
	return b.String()
}

// seconds formats a duration in seconds to the second, e.g. "1h2m3s".
func seconds(s float64) string {
	return time.Duration(s * float64(time.Second)).Round(time.Second).String()
}
