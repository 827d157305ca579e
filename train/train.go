package train

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/catmark/catmark/cache"
	"github.com/catmark/catmark/engine"
	"github.com/catmark/catmark/internal/atomicfile"
	"github.com/catmark/catmark/landmark"
	"github.com/catmark/catmark/loader"
	"github.com/catmark/catmark/loss"
	"github.com/catmark/catmark/metrics"
	"github.com/catmark/catmark/model"
	"github.com/catmark/catmark/optim"
	"github.com/catmark/catmark/weights"
)

// EpochLog is one line of metrics.jsonl: the state after a finished epoch. After an epoch that
// was not validated (Config.ValEvery) the validation figures are NaN and the line has no val_*
// keys.
type EpochLog struct {
	Epoch     int     `json:"epoch"`
	Step      int     `json:"step"`
	LR        float64 `json:"lr"`
	TrainLoss float64 `json:"train_loss"`
	ValLoss   float64 `json:"val_loss"`
	ValMSE    float64 `json:"val_mse"`
	ValNME    float64 `json:"val_nme"`
	ValPCK01  float64 `json:"val_pck_0_1"`
	Elapsed   float64 `json:"elapsed_s"`
	ImagesPS  float64 `json:"images_per_s"`
	Best      bool    `json:"best"`
	Size      int     `json:"size,omitempty"` // the training input side, when not the run's (Config.SmallSize)
	// Centers is a centers run's validation (nil otherwise, and after an epoch not validated).
	Centers *CentersReport `json:"centers,omitempty"`
}

// Validated reports whether the epoch was validated.
func (e EpochLog) Validated() bool { return !math.IsNaN(e.ValNME) || e.Centers != nil }

// epochJSON is EpochLog as metrics.jsonl writes it: validation figures absent when not measured.
type epochJSON struct {
	Epoch     int            `json:"epoch"`
	Step      int            `json:"step"`
	LR        float64        `json:"lr"`
	TrainLoss float64        `json:"train_loss"`
	ValLoss   *float64       `json:"val_loss,omitempty"`
	ValMSE    *float64       `json:"val_mse,omitempty"`
	ValNME    *float64       `json:"val_nme,omitempty"`
	ValPCK01  *float64       `json:"val_pck_0_1,omitempty"`
	Elapsed   float64        `json:"elapsed_s"`
	ImagesPS  float64        `json:"images_per_s"`
	Best      bool           `json:"best"`
	Size      int            `json:"size,omitempty"`
	Centers   *CentersReport `json:"centers,omitempty"`
}

func (e EpochLog) MarshalJSON() ([]byte, error) {
	j := epochJSON{Epoch: e.Epoch, Step: e.Step, LR: e.LR, TrainLoss: e.TrainLoss, Elapsed: e.Elapsed,
		ImagesPS: e.ImagesPS, Best: e.Best, Size: e.Size, Centers: e.Centers}
	if !math.IsNaN(e.ValNME) {
		j.ValLoss, j.ValMSE, j.ValNME, j.ValPCK01 = &e.ValLoss, &e.ValMSE, &e.ValNME, &e.ValPCK01
	}
	return json.Marshal(j)
}

func (e *EpochLog) UnmarshalJSON(b []byte) error {
	var j epochJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	val := func(p *float64) float64 {
		if p == nil {
			return math.NaN()
		}
		return *p
	}
	*e = EpochLog{Epoch: j.Epoch, Step: j.Step, LR: j.LR, TrainLoss: j.TrainLoss, ValLoss: val(j.ValLoss),
		ValMSE: val(j.ValMSE), ValNME: val(j.ValNME), ValPCK01: val(j.ValPCK01), Elapsed: j.Elapsed,
		ImagesPS: j.ImagesPS, Best: j.Best, Size: j.Size, Centers: j.Centers}
	return nil
}

// Result summarises a finished run.
type Result struct {
	Epochs  int           `json:"epochs"`
	Best    EpochLog      `json:"best"`
	Last    EpochLog      `json:"last"`
	Elapsed time.Duration `json:"elapsed"`
}

// ErrDiverged is returned when the loss becomes NaN or infinite; the last good checkpoint stays.
var ErrDiverged = errors.New("train: loss diverged")

// Run trains a new run in cfg.Out (which must not hold one already; see Resume).
func Run(ctx context.Context, cfg Config, log io.Writer) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(cfg.Out, "config.json")); err == nil {
		return nil, fmt.Errorf("train: %s already holds a run; resume it with --resume %s or choose another --out", cfg.Out, cfg.Out)
	}
	return run(ctx, cfg, false, log)
}

// ResumeOptions adjust Resume.
type ResumeOptions struct {
	// Quiet turns off the progress bar and the per-epoch lines.
	Quiet bool
	// Epochs and Budget, when not zero, replace the run's own: how a user extends a run. The
	// learning-rate schedule then follows the new length from where the run stands, and
	// config.json records it.
	Epochs int
	Budget Duration
	// Restart starts the run over from its config.json when it has results (best.safetensors or
	// lines in metrics.jsonl) but no last.safetensors to continue from; they are replaced.
	// Without it such a folder is refused, since starting over would overwrite them.
	Restart bool
}

// Resume continues the run in dir from its last checkpoint. A run folder with no checkpoint and
// no results yet (killed during its first epoch) starts from the beginning.
func Resume(ctx context.Context, dir string, opt ResumeOptions, log io.Writer) (*Result, error) {
	cfg, err := ReadConfig(dir)
	if err != nil {
		return nil, err
	}
	cfg.Quiet = opt.Quiet
	changed := false
	if opt.Epochs != 0 && opt.Epochs != cfg.Epochs {
		cfg.Epochs, changed = opt.Epochs, true
	}
	if opt.Budget != 0 && opt.Budget != cfg.Budget {
		cfg.Budget, changed = opt.Budget, true
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	last := filepath.Join(dir, lastFile)
	if _, err := os.Stat(last); errors.Is(err, os.ErrNotExist) {
		var results []string
		if _, err := os.Stat(filepath.Join(dir, bestFile)); err == nil {
			results = append(results, bestFile)
		}
		if entries, _ := ReadLog(dir); len(entries) > 0 {
			results = append(results, fmt.Sprintf("%d epochs in metrics.jsonl", len(entries)))
		}
		if len(results) > 0 && !opt.Restart {
			return nil, fmt.Errorf("train: cannot resume %s: it has no %s to continue from, but holds %s, which starting over would overwrite; restore %s, or start over with --restart", dir, lastFile, strings.Join(results, " and "), lastFile)
		}
		if len(results) > 0 {
			os.Remove(filepath.Join(dir, bestFile))
			if err := trimLog(dir, 0); err != nil {
				return nil, err
			}
			fmt.Fprintf(log, "restarting %s from the beginning (its %s was missing)\n", dir, lastFile)
		}
	} else if err != nil {
		return nil, fmt.Errorf("train: resume: %w", err)
	}
	if changed {
		if err := writeConfig(cfg); err != nil {
			return nil, err
		}
	}
	return run(ctx, cfg, true, log)
}

// Checkpoint files of a run folder.
const (
	lastFile = "last.safetensors" // the model and optimiser after the last finished epoch
	bestFile = "best.safetensors" // the model with the best validation NME so far
)

// State is the part of a run that a checkpoint's metadata carries.
type State struct {
	Epoch   int     `json:"epoch"` // finished epochs
	Elapsed float64 `json:"elapsed_s"`
	BestNME float64 `json:"best_nme,omitempty"` // 0 until an epoch is validated
	// BestScore is a centers run's best CentersReport.Score, 0 until an epoch is validated.
	BestScore float64 `json:"best_score,omitempty"`
}

// trainer is a run in progress: what setup made, and the state the epochs advance.
type trainer struct {
	cfg      Config
	log      io.Writer
	b        engine.Backend
	net      *model.Model
	opt      optim.Optimizer
	lossFn   *loss.Loss
	batches  *batcher
	centers  *centersData // a centers run's batches (batches and lossFn are nil)
	trainIdx []int
	valIdx   []int
	sched    optim.Schedule
	steps    int // steps per epoch
	total    int // steps of the whole run
	grad     []float32
	feats    *features // the frozen layers' outputs (Config.CacheFrozen), or nil
	st       State
	started  time.Time // when training started, less the time trained before a resume
	step     int
}

func run(ctx context.Context, cfg Config, resume bool, log io.Writer) (*Result, error) {
	t, err := setup(cfg, resume, log)
	if err != nil {
		return nil, err
	}
	res := &Result{}
	for epoch := t.st.Epoch + 1; epoch <= cfg.Epochs; epoch++ {
		if t.outOfTime() {
			break
		}
		if err := ctx.Err(); err != nil {
			return res, err
		}
		ep, err := t.epoch(ctx, epoch)
		if err != nil {
			return res, err
		}
		if ep.n == 0 {
			break
		}
		if err := t.endEpoch(epoch, ep, t.validates(epoch), res); err != nil {
			return res, err
		}
	}
	res.Elapsed = time.Since(t.started)
	if res.Best.Epoch == 0 {
		res.Best = bestFromLog(cfg.Out)
	}
	return res, nil
}

// setup opens the data, builds the model and optimiser, makes the run folder (a new run) or
// loads the last checkpoint (a resumed one), and plans the learning-rate schedule.
func setup(cfg Config, resume bool, log io.Writer) (*trainer, error) {
	t := &trainer{cfg: cfg, log: log}
	var err error
	if t.b, err = engine.Open(cfg.Backend); err != nil {
		return nil, err
	}
	data, err := openData(cfg, log)
	if err != nil {
		return nil, err
	}
	if cfg.Stage != model.Centers {
		if t.lossFn, err = loss.Parse(cfg.Loss); err != nil {
			return nil, err
		}
	}
	if t.trainIdx, err = data.Split(cfg.Split); err != nil {
		return nil, err
	}
	if t.valIdx, err = data.Split("val"); err != nil {
		return nil, err
	}
	if len(t.trainIdx) == 0 {
		return nil, fmt.Errorf("train: the %q split of %s is empty", cfg.Split, cfg.Data)
	}
	if t.net, err = newNet(t.b, cfg); err != nil {
		return nil, err
	}
	if t.opt, err = optim.New(cfg.Optimizer, cfg.Momentum, cfg.Decay); err != nil {
		return nil, err
	}
	if !resume {
		// The run folder is made once everything above has worked, so a bad flag leaves nothing.
		if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
			return nil, err
		}
		if err := writeConfig(cfg); err != nil {
			return nil, err
		}
	}
	last := filepath.Join(cfg.Out, lastFile)
	if _, err := os.Stat(last); resume && err == nil {
		meta, err := weights.Load(last, t.b, t.net.Params(), t.opt)
		if err != nil {
			return nil, fmt.Errorf("train: resume: %w", err)
		}
		if err := json.Unmarshal([]byte(meta["train_state"]), &t.st); err != nil {
			return nil, fmt.Errorf("train: resume: %s has no readable train_state: %v", last, err)
		}
		if err := trimLog(cfg.Out, t.st.Epoch); err != nil {
			return nil, err
		}
		fmt.Fprintf(log, "resuming %s after epoch %d (%.0fs trained)\n", cfg.Out, t.st.Epoch, t.st.Elapsed)
	} else if cfg.Init != "" {
		if err := loadInit(t.net, cfg); err != nil {
			return nil, err
		}
	}
	if cfg.Stage == model.Centers {
		t.centers = newCentersData(data, cfg, t.trainIdx)
	} else {
		t.batches = newBatcher(data, cfg)
	}
	if cfg.CacheFrozen {
		if err := t.setupFeatures(data); err != nil {
			return nil, err
		}
	}
	t.steps = max(len(t.trainIdx)/cfg.Batch, 1)
	t.total = t.steps * cfg.Epochs
	if t.sched, err = schedule(cfg, t.total); err != nil {
		return nil, err
	}
	t.grad = make([]float32, cfg.Batch*t.net.Outputs())
	if t.centers != nil {
		t.grad = make([]float32, cfg.Batch*t.net.Outputs()*t.centers.g*t.centers.g)
	}
	t.started = time.Now().Add(-time.Duration(t.st.Elapsed * float64(time.Second)))
	t.step = t.opt.Steps()
	return t, nil
}

// outOfTime reports whether the run's time budget is spent.
func (t *trainer) outOfTime() bool {
	budget := time.Duration(t.cfg.Budget)
	return budget > 0 && time.Since(t.started) >= budget
}

// progress is the share of the run done: the larger of the share of steps done and the share of
// the time budget spent.
func (t *trainer) progress() float64 {
	p := float64(t.step) / float64(t.total)
	if budget := time.Duration(t.cfg.Budget); budget > 0 {
		p = max(p, time.Since(t.started).Seconds()/budget.Seconds())
	}
	return min(p, 1)
}

// lr is the learning rate of the next step. The schedule follows progress, so a budget-bound run
// still anneals to its end.
func (t *trainer) lr() float64 {
	return t.sched.LR(min(int(t.progress()*float64(t.total)), t.total))
}

// small reports whether the next epoch trains at Config.SmallSize: while progress is under
// SmallShare.
func (t *trainer) small() bool {
	return t.cfg.SmallSize > 0 && t.progress() < t.cfg.SmallShare
}

// epochStats is what one epoch's training steps measured.
type epochStats struct {
	sum    float64 // loss summed over images
	n      int     // images trained on
	lr     float64 // the last step's learning rate
	images float64 // images per second
	small  bool    // trained at Config.SmallSize
}

// epoch trains one epoch (or until the time budget ends), step by step.
func (t *trainer) epoch(ctx context.Context, epoch int) (epochStats, error) {
	var ep epochStats
	var bar *progressbar.ProgressBar
	if !t.cfg.Quiet {
		bar = progressbar.NewOptions(t.steps, progressbar.OptionSetWriter(os.Stderr),
			progressbar.OptionSetDescription(fmt.Sprintf("epoch %d/%d", epoch, t.cfg.Epochs)),
			progressbar.OptionShowIts(), progressbar.OptionSetItsString("step"),
			progressbar.OptionSetPredictTime(true), progressbar.OptionClearOnFinish(),
			progressbar.OptionThrottle(200*time.Millisecond))
		defer bar.Finish()
	}
	start := time.Now()
	ep.small = t.small()
	if t.centers != nil {
		err := t.centersEpoch(ctx, epoch, &ep, bar)
		ep.images = float64(ep.n) / time.Since(start).Seconds()
		return ep, err
	}
	batches := t.batches.Train(t.trainIdx, epoch, ep.small)
	step := Step
	if t.feats != nil {
		batches, step = t.feats.epoch(epoch), t.feats.step
	}
	for batch := range batches {
		if t.outOfTime() {
			batch.Release()
			break
		}
		ep.lr = t.lr()
		l := step(t.net, batch.X, batch.Y, batch.N, t.lossFn, t.grad[:batch.N*t.net.Outputs()])
		batch.Release()
		if math.IsNaN(l) || math.IsInf(l, 0) {
			return ep, fmt.Errorf("%w at epoch %d, step %d (loss %v, learning rate %g): the last good checkpoint %s is intact; lower --lr or check the data", ErrDiverged, epoch, t.step, l, ep.lr, filepath.Join(t.cfg.Out, lastFile))
		}
		t.opt.Step(t.b, t.net.Params(), ep.lr)
		t.step++
		ep.sum += l * float64(batch.N)
		ep.n += batch.N
		if bar != nil {
			bar.Describe(fmt.Sprintf("epoch %d/%d loss %.5f %.0f img/s", epoch, t.cfg.Epochs, ep.sum/float64(ep.n), float64(ep.n)/time.Since(start).Seconds()))
			bar.Add(1)
		}
		if err := ctx.Err(); err != nil {
			return ep, err
		}
	}
	ep.images = float64(ep.n) / time.Since(start).Seconds()
	return ep, nil
}

// validates reports whether the epoch just trained is validated: every ValEvery-th epoch and
// the run's last, by epochs or by time budget.
func (t *trainer) validates(epoch int) bool {
	return t.cfg.ValEvery <= 1 || epoch%t.cfg.ValEvery == 0 || epoch == t.cfg.Epochs || t.outOfTime()
}

// endEpoch validates (if validate), then writes best.safetensors (if best), the log line and
// last.safetensors, in that order: a crash between them repeats this epoch, and resuming drops
// log lines after last's epoch.
func (t *trainer) endEpoch(epoch int, ep epochStats, validate bool, res *Result) error {
	nan := math.NaN()
	rep, valLoss := metrics.Report{MSE: nan, NME: nan, PCK01: nan}, nan
	var cen *CentersReport
	switch {
	case validate && t.centers != nil:
		r := ValidateCenters(t.net, t.centers, t.valIdx)
		cen = &r
	case validate && t.feats != nil:
		rep, valLoss = validateBatches(t.feats.valBatches(), func(b *loader.Batch) []model.Output { return t.feats.predict(t.net, b) }, t.batches, t.lossFn)
	case validate:
		rep, valLoss = Validate(t.net, t.batches, t.valIdx, t.lossFn)
	}
	t.st.Epoch = epoch
	t.st.Elapsed = time.Since(t.started).Seconds()
	entry := EpochLog{Epoch: epoch, Step: t.step, LR: ep.lr, TrainLoss: ep.sum / float64(ep.n), ValLoss: valLoss,
		ValMSE: rep.MSE, ValNME: rep.NME, ValPCK01: rep.PCK01, Elapsed: t.st.Elapsed, ImagesPS: ep.images, Centers: cen}
	if ep.small {
		entry.Size = t.cfg.SmallSize
	}
	if validate && rep.N > 0 && (t.st.BestNME == 0 || rep.NME < t.st.BestNME) {
		t.st.BestNME = rep.NME
		entry.Best = true
	}
	if cen != nil && cen.Faces > 0 && (t.st.BestScore == 0 || cen.Score() < t.st.BestScore) {
		t.st.BestScore = cen.Score()
		entry.Best = true
	}
	meta, err := checkpointMeta(t.net, t.cfg, t.st)
	if err != nil {
		return err
	}
	if entry.Best {
		if err := weights.Save(filepath.Join(t.cfg.Out, bestFile), t.b, t.net.Params(), nil, meta); err != nil {
			return err
		}
		res.Best = entry
	}
	if err := appendLog(t.cfg.Out, entry); err != nil {
		return err
	}
	if err := weights.Save(filepath.Join(t.cfg.Out, lastFile), t.b, t.net.Params(), t.opt, meta); err != nil {
		return err
	}
	res.Last, res.Epochs = entry, epoch
	if t.cfg.Quiet {
		return nil
	}
	elapsed := time.Duration(t.st.Elapsed * float64(time.Second)).Round(time.Second)
	if cen != nil {
		fmt.Fprintf(t.log, "epoch %3d  loss %.5f  recall %.3f  angle error %.1f°  turned 45°: recall %.3f  angle error %.1f°  %.0f img/s  %s%s\n",
			epoch, entry.TrainLoss, cen.Recall, cen.AngleErr, cen.Recall45, cen.AngleErr45, ep.images, elapsed, map[bool]string{true: "  best"}[entry.Best])
		return nil
	}
	if !validate {
		fmt.Fprintf(t.log, "epoch %3d  loss %.5f  (not validated)  %.0f img/s  %s\n", epoch, entry.TrainLoss, ep.images, elapsed)
		return nil
	}
	fmt.Fprintf(t.log, "epoch %3d  loss %.5f  val loss %.5f  MSE %.5f  NME %.4f  PCK@0.1 %.3f  %.0f img/s  %s%s\n",
		epoch, entry.TrainLoss, valLoss, rep.MSE, rep.NME, rep.PCK01, ep.images, elapsed, map[bool]string{true: "  best"}[entry.Best])
	return nil
}

func schedule(cfg Config, total int) (optim.Schedule, error) {
	switch cfg.Schedule {
	case "cosine":
		return optim.ParseSchedule("cosine:warmup="+strconv.FormatFloat(cfg.Warmup, 'g', -1, 64), cfg.LR, total)
	case "step":
		every := max(total/3, 1)
		return optim.ParseSchedule("step:every="+strconv.Itoa(every), cfg.LR, total)
	}
	return optim.ParseSchedule("constant", cfg.LR, total)
}

// newNet builds the run's network on b, freshly initialised from cfg.Seed, with cfg.Freeze's
// parts frozen and cfg.Spread's regulariser on its integral head.
func newNet(b engine.Backend, cfg Config) (*model.Model, error) {
	m, err := model.New(b, cfg.Spec(), cfg.Seed)
	if err != nil {
		return nil, err
	}
	if len(cfg.Freeze) > 0 {
		if err := m.Net.Freeze(cfg.Freeze...); err != nil {
			return nil, err
		}
	}
	if h := m.Net.IntegralHead(); h != nil && cfg.Spread > 0 {
		h.SpreadWeight, h.SpreadSigma = cfg.Spread, cfg.SpreadSigma
		if h.SpreadSigma == 0 {
			h.SpreadSigma = 1
		}
	}
	return m, nil
}

func openData(cfg Config, log io.Writer) (*cache.Cache, error) {
	if _, err := os.Stat(filepath.Join(cfg.Data, cache.ManifestFile)); err == nil {
		return cache.Open(cfg.Data)
	}
	return nil, fmt.Errorf("train: %s is not a prepared cache (run: catmark prepare --data %s --out CACHE)", cfg.Data, cfg.Data)
}

func appendLog(dir string, e EpochLog) error {
	f, err := os.OpenFile(filepath.Join(dir, "metrics.jsonl"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	b, _ := json.Marshal(e)
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// ReadLog reads a run's metrics.jsonl, skipping a torn last line.
func ReadLog(dir string) ([]EpochLog, error) {
	f, err := os.Open(filepath.Join(dir, "metrics.jsonl"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []EpochLog
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e EpochLog
		if json.Unmarshal(sc.Bytes(), &e) == nil {
			out = append(out, e)
		}
	}
	return out, sc.Err()
}

// trimLog drops log lines of epochs after the checkpoint's (written before a crash).
func trimLog(dir string, epoch int) error {
	entries, err := ReadLog(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	var buf []byte
	for _, e := range entries {
		if e.Epoch <= epoch {
			b, _ := json.Marshal(e)
			buf = append(append(buf, b...), '\n')
		}
	}
	return atomicfile.WriteFile(filepath.Join(dir, "metrics.jsonl"), buf)
}

func bestFromLog(dir string) EpochLog {
	entries, _ := ReadLog(dir)
	best := EpochLog{ValNME: math.Inf(1)}
	for _, e := range entries {
		if e.Centers != nil {
			if best.Centers == nil || e.Centers.Score() < best.Centers.Score() {
				best = e
			}
			continue
		}
		if e.ValNME < best.ValNME {
			best = e
		}
	}
	return best
}

// Validate predicts every photo of idx without augmentation and measures the predictions
// against the truth in original pixels; valLoss is the training loss on the same batches.
func Validate(net *model.Model, batches *batcher, idx []int, lossFn *loss.Loss) (metrics.Report, float64) {
	return validateBatches(batches.Epoch(idx, 0, false), func(b *loader.Batch) []model.Output { return net.Predict(b.X, b.N) }, batches, lossFn)
}

// validateBatches is Validate over the batches given, predicted by predict.
func validateBatches(seq iter.Seq[*loader.Batch], predict func(*loader.Batch) []model.Output, batches *batcher, lossFn *loss.Loss) (metrics.Report, float64) {
	var samples []metrics.Sample
	var sum float64
	var n int
	for batch := range seq {
		out := predict(batch)
		pred := make([]float32, 0, batch.N*landmark.Dim)
		for k, o := range out {
			for _, v := range o.Points.Flat() {
				pred = append(pred, float32(v))
			}
			samples = append(samples, batches.Sample(batch, k, o.Points))
		}
		sum += lossFn.Eval(pred, batch.Y, nil) * float64(batch.N)
		n += batch.N
		batch.Release()
	}
	if n == 0 {
		return metrics.Report{}, 0
	}
	return metrics.Compute(samples), sum / float64(n)
}
