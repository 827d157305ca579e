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
	"github.com/catmark/catmark/model"
	"github.com/catmark/catmark/train"
)

// Case is one of the seed's seven training setups. Every case uses flip augmentation.
type Case struct {
	N    int    // 1…7
	Loss string // the loss, as loss.Parse names it
	PCA  bool   // PCA colour augmentation
	// EpochFactor multiplies the study's epochs: 2 for case 2, which trains twice as long.
	EpochFactor int
	// SeedMSE is the seed's best test MSE for the case (ResNet-50 from ImageNet weights, 224 px,
	// 6,996 training photos, 200 or 400 epochs): for orientation, not for direct comparison.
	SeedMSE float64
}

// Cases are the seed's seven cases (SPEC.md, section "Losses").
var Cases = []Case{
	{1, "mse", false, 1, 0.02472},
	{2, "mse", false, 2, 0.01930},
	{3, "mse+ddmse:1", false, 1, 0.01942},
	{4, "mse+ddmse:1-8", false, 1, 0.01516},
	{5, "mse+ddmse:1-8+triangle", false, 1, 0.01715},
	{6, "mse+ddmse:1-8+area", false, 1, 0.00415},
	{7, "mse+ddmse:1-8+area", true, 1, 0.00379},
}

// CaseByNumber returns case n (1…7).
func CaseByNumber(n int) (Case, error) {
	for _, c := range Cases {
		if c.N == n {
			return c, nil
		}
	}
	return Case{}, fmt.Errorf("study: no case %d (the seed's cases are 1…%d)", n, len(Cases))
}

// Describe names the case's loss and augmentation, e.g. "mse+ddmse:1-8+area, PCA colour".
func (c Case) Describe() string {
	if c.PCA {
		return c.Loss + ", PCA colour"
	}
	return c.Loss
}

// Dir returns the case's run folder inside the study folder.
func (c Case) Dir(study string) string { return filepath.Join(study, fmt.Sprintf("case%d", c.N)) }

// Config returns the case's training settings: base with the case's loss, PCA augmentation and
// epochs (base.Epochs × EpochFactor), flip on, quiet, in its folder of the study folder.
func (c Case) Config(base train.Config, study string) train.Config {
	cfg := base
	cfg.Loss, cfg.PCA, cfg.Flip = c.Loss, c.PCA, true
	cfg.Epochs = base.Epochs * c.EpochFactor
	cfg.Out = c.Dir(study)
	cfg.Quiet = true
	return cfg
}

// Scale is a preset size of study: the model, its input and the base number of epochs.
type Scale struct {
	Name                              string
	Depth, Width, Size, Batch, Epochs int
	Freeze                            []string // parts frozen (the seed's fine-tuning); needs initial weights
	About                             string
}

// Scales are the preset sizes, smallest first. Each study trains 8 × Epochs epochs in all (case 2
// twice as long).
var Scales = []Scale{
	{Name: "tiny", Depth: 18, Width: 8, Size: 64, Batch: 16, Epochs: 10, About: "a smoke test"},
	{Name: "small", Depth: 18, Width: 16, Size: 96, Batch: 32, Epochs: 30, About: "a first comparison"},
	{Name: "medium", Depth: 18, Width: 32, Size: 128, Batch: 32, Epochs: 60, About: "the CPU recipe's model"},
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
// no time budget) with ImageNet normalisation, on the cache data.
func Base(data string, s Scale) train.Config {
	cfg := train.Defaults()
	cfg.Data = data
	cfg.Stage = model.Whole
	cfg.Depth, cfg.Width, cfg.Size, cfg.Batch, cfg.Epochs = s.Depth, s.Width, s.Size, s.Batch, s.Epochs
	cfg.Freeze = s.Freeze
	cfg.Optimizer, cfg.LR, cfg.Momentum, cfg.Decay, cfg.Schedule = "sgd", 1e-3, 0.9, 0, "constant"
	cfg.Flip, cfg.PCA = true, false
	cfg.Scale, cfg.Shift, cfg.Rotate = 0, 0, 0
	cfg.Budget = 0
	return cfg
}

// Options controls Run.
type Options struct {
	Dir   string       // the study folder
	Base  train.Config // the shared settings (Base, perhaps changed); Loss, PCA and Out are the cases'
	Cases []int        // the cases to train; nil means all seven
	// Log gets one line when a case starts and one when it ends; nil means none.
	Log io.Writer
	// ChartWidth and ChartHeight are study.png's size in pixels; 0 means 1200×500.
	ChartWidth, ChartHeight int
}

// Row is one case's figures in the study's table.
type Row struct {
	Case    int    `json:"case"`
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
	Dir      string  `json:"dir"`
}

// Report is a study's summary: the shared settings and one row per case that has a run.
type Report struct {
	Dir      string       `json:"dir"`
	Settings train.Config `json:"settings"` // loss, pca, epochs and out are per case
	Rows     []Row        `json:"cases"`
}

// File names that Run and Summarize write in the study folder.
const (
	TableFile = "study.md"
	JSONFile  = "study.json"
	ChartFile = "study.png"
	// divergedFile marks a case whose loss diverged, with the error; a rerun does not retry it.
	divergedFile = "diverged.txt"
)

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
	// Check every case before training any.
	for _, c := range cases {
		cfg := c.Config(opt.Base, opt.Dir)
		if err := cfg.Validate(); err != nil {
			return nil, fmt.Errorf("study: case %d: %w", c.N, err)
		}
		if err := compatible(c, cfg); err != nil {
			return nil, err
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
	for _, c := range cases {
		cfg := c.Config(opt.Base, opt.Dir)
		row, started := readRow(c, cfg.Epochs, cfg.Out)
		if row.Status != "unfinished" {
			logf("case %d (%s): %s earlier; skipped\n", c.N, c.Describe(), row.Status)
			continue
		}
		if started {
			logf("case %d (%s): resuming after epoch %d of %d\n", c.N, c.Describe(), row.Trained, cfg.Epochs)
			_, err = train.Resume(ctx, cfg.Out, train.ResumeOptions{Quiet: true}, io.Discard)
		} else {
			logf("case %d (%s): training %d epochs\n", c.N, c.Describe(), cfg.Epochs)
			_, err = train.Run(ctx, cfg, io.Discard)
		}
		if errors.Is(err, train.ErrDiverged) {
			os.WriteFile(filepath.Join(cfg.Out, divergedFile), []byte(err.Error()+"\n"), 0o644)
			logf("case %d (%s): %v\n", c.N, c.Describe(), err)
			continue
		}
		if err != nil {
			runErr = fmt.Errorf("study: case %d: %w", c.N, err)
			break
		}
		row, _ = readRow(c, cfg.Epochs, cfg.Out)
		logf("case %d (%s): %s\n", c.N, c.Describe(), row.Line())
	}
	rep, err := Summarize(opt.Dir, opt.Base, opt.ChartWidth, opt.ChartHeight)
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
		return Cases, nil
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
	if diff := configDiff(have, cfg); len(diff) > 0 {
		return fmt.Errorf("study: %s holds a run with other settings than this study's (%s): choose another study folder, or remove it to train it again",
			cfg.Out, strings.Join(diff, "; "))
	}
	return nil
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

// readRow reads a case's run folder; started reports whether it holds a run.
func readRow(c Case, epochs int, dir string) (row Row, started bool) {
	row = Row{Case: c.N, Loss: c.Loss, PCA: c.PCA, Epochs: epochs, Status: "unfinished", SeedMSE: c.SeedMSE, Dir: dir,
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

// Summarize reads the runs of every case in the study folder dir that was trained with the
// settings base, and writes the table (TableFile), the JSON (JSONFile) and the chart (ChartFile,
// when a case has a finished epoch; width×height pixels, 0 meaning 1200×500). Case folders with
// other settings are left out.
func Summarize(dir string, base train.Config, width, height int) (*Report, error) {
	if width <= 0 || height <= 0 {
		width, height = 1200, 500
	}
	rep := &Report{Dir: dir, Settings: base}
	rep.Settings.Loss, rep.Settings.Out, rep.Settings.PCA = "", "", false
	var curves []Curve
	for _, c := range Cases {
		cfg := c.Config(base, dir)
		row, started := readRow(c, cfg.Epochs, cfg.Out)
		if !started || compatible(c, cfg) != nil {
			continue
		}
		rep.Rows = append(rep.Rows, row)
		if log, _ := train.ReadLog(cfg.Out); len(log) > 0 {
			curves = append(curves, Curve{Label: fmt.Sprintf("%d: %s", c.N, c.Describe()), Log: log})
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
	}
	return rep, nil
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
	fmt.Fprintf(&b, ", %s schedule, weight decay %g, batch %d, seed %d; flip augmentation", s.Schedule, s.Decay, s.Batch, s.Seed)
	if s.Init != "" {
		fmt.Fprintf(&b, "; initial weights %s", s.Init)
	}
	if len(s.Freeze) > 0 {
		fmt.Fprintf(&b, "; frozen: %s", strings.Join(s.Freeze, ", "))
	}
	fmt.Fprintf(&b, ". Data: %s (train split for training, val split for the figures). %d epochs per case, %d for case 2.\n\n", s.Data, s.Epochs, 2*s.Epochs)
	b.WriteString("| case | loss | epochs | best val MSE | best val NME | PCK@0.1 | best epoch | train time | seed's test MSE |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rep.Rows {
		epochs := fmt.Sprint(r.Trained)
		if r.Status != "finished" {
			epochs = fmt.Sprintf("%d of %d (%s)", r.Trained, r.Epochs, strings.SplitN(r.Status, ":", 2)[0])
		}
		loss := r.Loss
		if r.PCA {
			loss += " + PCA colour"
		}
		if r.Trained == 0 {
			fmt.Fprintf(&b, "| %d | %s | %s | – | – | – | – | – | %.5f |\n", r.Case, loss, epochs, r.SeedMSE)
			continue
		}
		fmt.Fprintf(&b, "| %d | %s | %s | %.5f | %.4f | %.1f %% | %d | %s | %.5f |\n", r.Case, loss, epochs,
			r.BestMSE, r.BestNME, 100*r.PCK01, r.BestNMEEpoch, seconds(r.TrainS), r.SeedMSE)
	}
	b.WriteString("\nBest val MSE (the seed's metric, on normalised clipped coordinates) and best val NME are each the " +
		"lowest over the epochs; PCK@0.1 and best epoch are those of the best-NME epoch (the run's best.safetensors). " +
		"The seed's test MSE is its ResNet-50, fine-tuned from ImageNet weights at 224 px on 6,996 photos: for orientation, " +
		"not a like-for-like comparison. Curves: " + ChartFile + ".\n")
	return b.String()
}

// seconds formats a duration in seconds to the second, e.g. "1h2m3s".
func seconds(s float64) string {
	return time.Duration(s * float64(time.Second)).Round(time.Second).String()
}
