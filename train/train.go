package train

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/catmark/catmark/landmark"
	"github.com/catmark/catmark/model"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/catmark/catmark/cache"
	"github.com/catmark/catmark/engine"
	"github.com/catmark/catmark/internal/atomicfile"
	"github.com/catmark/catmark/loss"
	"github.com/catmark/catmark/metrics"
	"github.com/catmark/catmark/optim"
	"github.com/catmark/catmark/weights"
)

// EpochLog is one line of metrics.jsonl: the state after a finished epoch.
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

// Resume continues the run in dir from its last checkpoint (or starts it if none was written);
// quiet turns off the progress bar and the per-epoch lines.
func Resume(ctx context.Context, dir string, quiet bool, log io.Writer) (*Result, error) {
	cfg, err := ReadConfig(dir)
	if err != nil {
		return nil, err
	}
	cfg.Quiet = quiet
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return run(ctx, cfg, true, log)
}

// State is the part of a run that a checkpoint's metadata carries.
type State struct {
	Epoch   int     `json:"epoch"` // finished epochs
	Elapsed float64 `json:"elapsed_s"`
	BestNME float64 `json:"best_nme"`
}

func run(ctx context.Context, cfg Config, resume bool, log io.Writer) (*Result, error) {
	b, err := engine.Open(cfg.Backend)
	if err != nil {
		return nil, err
	}
	data, err := openData(cfg, log)
	if err != nil {
		return nil, err
	}
	lossFn, err := loss.Parse(cfg.Loss)
	if err != nil {
		return nil, err
	}
	trainIdx, err := data.Split(cfg.Split)
	if err != nil {
		return nil, err
	}
	valIdx, err := data.Split("val")
	if err != nil {
		return nil, err
	}
	if len(trainIdx) == 0 {
		return nil, fmt.Errorf("train: the %q split of %s is empty", cfg.Split, cfg.Data)
	}
	net, err := model.New(b, model.Spec{Depth: cfg.Depth, Width: cfg.Width, Size: cfg.Size, Stage: cfg.Stage, Norm: cfg.Norm, Margin: cfg.Margin, Presence: cfg.Negatives > 0}, cfg.Seed)
	if err != nil {
		return nil, err
	}
	if len(cfg.Freeze) > 0 {
		if err := net.Net.Freeze(cfg.Freeze...); err != nil {
			return nil, err
		}
	}
	opt, err := optim.New(cfg.Optimizer, cfg.Momentum, cfg.Decay)
	if err != nil {
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
	st := State{BestNME: math.Inf(1)}
	last := filepath.Join(cfg.Out, "last.safetensors")
	if _, err := os.Stat(last); resume && err == nil {
		meta, err := weights.Load(last, b, net.Params(), opt)
		if err != nil {
			return nil, fmt.Errorf("train: resume: %w", err)
		}
		if err := json.Unmarshal([]byte(meta["train_state"]), &st); err != nil {
			return nil, fmt.Errorf("train: resume: %s has no readable train_state: %v", last, err)
		}
		if err := trimLog(cfg.Out, st.Epoch); err != nil {
			return nil, err
		}
		fmt.Fprintf(log, "resuming %s after epoch %d (%.0fs trained)\n", cfg.Out, st.Epoch, st.Elapsed)
	} else if cfg.Init != "" {
		if err := LoadInit(net, cfg.Init); err != nil {
			return nil, err
		}
	}

	batches := newBatcher(data, cfg)
	stepsPerEpoch := len(trainIdx) / cfg.Batch
	if stepsPerEpoch == 0 {
		stepsPerEpoch = 1
	}
	totalSteps := stepsPerEpoch * cfg.Epochs
	sched, err := schedule(cfg, totalSteps)
	if err != nil {
		return nil, err
	}
	budget := time.Duration(cfg.Budget)
	// The schedule follows progress: the larger of the share of steps done and the share of
	// the time budget spent, so a budget-bound run still anneals to its end.
	progressStep := func(step int, elapsed float64) int {
		s := step
		if budget > 0 {
			if t := int(elapsed / budget.Seconds() * float64(totalSteps)); t > s {
				s = t
			}
		}
		return min(s, totalSteps)
	}

	res := &Result{}
	grad := make([]float32, cfg.Batch*net.Outputs())
	started := time.Now().Add(-time.Duration(st.Elapsed * float64(time.Second)))
	step := opt.Steps()
	for epoch := st.Epoch + 1; epoch <= cfg.Epochs; epoch++ {
		elapsed := time.Since(started).Seconds()
		if budget > 0 && elapsed >= budget.Seconds() {
			break
		}
		if err := ctx.Err(); err != nil {
			return res, err
		}
		var bar *progressbar.ProgressBar
		if !cfg.Quiet {
			bar = progressbar.NewOptions(stepsPerEpoch, progressbar.OptionSetWriter(os.Stderr),
				progressbar.OptionSetDescription(fmt.Sprintf("epoch %d/%d", epoch, cfg.Epochs)),
				progressbar.OptionShowIts(), progressbar.OptionSetItsString("step"),
				progressbar.OptionSetPredictTime(true), progressbar.OptionClearOnFinish(),
				progressbar.OptionThrottle(200*time.Millisecond))
		}
		epochStart := time.Now()
		var sum float64
		var n, images int
		var lr float64
		for batch := range batches.Epoch(trainIdx, epoch, true) {
			if budget > 0 && time.Since(started) >= budget {
				batch.Release()
				break
			}
			lr = sched.LR(progressStep(step, time.Since(started).Seconds()))
			l := Step(net, batch.X, batch.Y, batch.N, lossFn, grad[:batch.N*net.Outputs()])
			batch.Release()
			if math.IsNaN(l) || math.IsInf(l, 0) {
				return res, fmt.Errorf("%w at epoch %d, step %d (loss %v, learning rate %g): the last good checkpoint %s is intact; lower --lr or check the data", ErrDiverged, epoch, step, l, lr, last)
			}
			opt.Step(b, net.Params(), lr)
			step++
			sum += l * float64(batch.N)
			n += batch.N
			images += batch.N
			if bar != nil {
				bar.Describe(fmt.Sprintf("epoch %d/%d loss %.5f %.0f img/s", epoch, cfg.Epochs, sum/float64(n), float64(images)/time.Since(epochStart).Seconds()))
				bar.Add(1)
			}
			if err := ctx.Err(); err != nil {
				return res, err
			}
		}
		if bar != nil {
			bar.Finish()
		}
		if n == 0 {
			break
		}
		ips := float64(images) / time.Since(epochStart).Seconds()
		rep, valLoss := Validate(net, batches, valIdx, lossFn)
		st.Epoch = epoch
		st.Elapsed = time.Since(started).Seconds()
		entry := EpochLog{Epoch: epoch, Step: step, LR: lr, TrainLoss: sum / float64(n), ValLoss: valLoss,
			ValMSE: rep.MSE, ValNME: rep.NME, ValPCK01: rep.PCK01, Elapsed: st.Elapsed, ImagesPS: ips}
		if rep.N > 0 && rep.NME < st.BestNME {
			st.BestNME = rep.NME
			entry.Best = true
		}
		meta, err := checkpointMeta(net, cfg, st)
		if err != nil {
			return res, err
		}
		// Best, then the log line, then last: a crash between them repeats this epoch, and
		// resuming drops log lines after last's epoch.
		if entry.Best {
			if err := weights.Save(filepath.Join(cfg.Out, "best.safetensors"), b, net.Params(), nil, meta); err != nil {
				return res, err
			}
			res.Best = entry
		}
		if err := appendLog(cfg.Out, entry); err != nil {
			return res, err
		}
		if err := weights.Save(last, b, net.Params(), opt, meta); err != nil {
			return res, err
		}
		res.Last, res.Epochs = entry, epoch
		if !cfg.Quiet {
			fmt.Fprintf(log, "epoch %3d  loss %.5f  val loss %.5f  MSE %.5f  NME %.4f  PCK@0.1 %.3f  %.0f img/s  %s%s\n",
				epoch, entry.TrainLoss, valLoss, rep.MSE, rep.NME, rep.PCK01, ips,
				time.Duration(st.Elapsed*float64(time.Second)).Round(time.Second), map[bool]string{true: "  best"}[entry.Best])
		}
	}
	res.Elapsed = time.Since(started)
	if res.Best.Epoch == 0 {
		res.Best = bestFromLog(cfg.Out)
	}
	return res, nil
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
		if e.ValNME < best.ValNME {
			best = e
		}
	}
	return best
}

// Validate predicts every photo of idx without augmentation and measures the predictions
// against the truth in original pixels; valLoss is the training loss on the same batches.
func Validate(net *model.Model, batches *batcher, idx []int, lossFn *loss.Loss) (metrics.Report, float64) {
	var samples []metrics.Sample
	var sum float64
	var n int
	for batch := range batches.Epoch(idx, 0, false) {
		out := net.Predict(batch.X, batch.N)
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
