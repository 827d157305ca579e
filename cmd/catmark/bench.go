package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/catmark/catmark/engine"
	_ "github.com/catmark/catmark/engine/dnnl" // registers "dnnl" where cgo is on; empty otherwise
	"github.com/catmark/catmark/loss"
	"github.com/catmark/catmark/model"
	"github.com/catmark/catmark/optim"
	"github.com/catmark/catmark/train"
)

func init() {
	register("bench", "time training or inference steps of a ResNet (images/s, peak memory)", runBench)
}

// benchResult is what `catmark bench --json` prints; bench/pytorch_bench.py prints the same keys.
type benchResult struct {
	ImagesPerS float64   `json:"images_per_s"` // batch ÷ median step time after warm-up
	PeakRSSMiB float64   `json:"peak_rss_mib"` // the process's peak resident memory (VmHWM)
	Model      string    `json:"model"`
	Width      int       `json:"width"`
	Batch      int       `json:"batch"`
	Size       int       `json:"size"`
	Mode       string    `json:"mode"`
	Freeze     string    `json:"freeze"`
	Backend    string    `json:"backend"`
	Threads    int       `json:"threads"`
	Steps      int       `json:"steps"`
	StepMS     []float64 `json:"step_ms"`
	// CPUMSPerStep is the process's CPU time (user + system) per timed step: less disturbed
	// than wall time when other programs share the cores (with OMP_WAIT_POLICY=passive, so
	// that waiting threads sleep rather than spin).
	CPUMSPerStep float64 `json:"cpu_ms_per_step"`
}

// profiler is what a backend offers when it can time its operations (engine/dnnl does).
type profiler interface {
	ResetProfile()
	ProfileReport(steps int) string
}

func runBench(args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `usage: catmark bench [flags]

Times steps of a ResNet with a landmark head on random images and prints images per second
(batch divided by the median step time after warm-up) and the peak resident memory. A training
step is forward, an MSE loss gradient against random targets, backward and an SGD update
(momentum 0.9); an inference step is a forward pass. bench/compare.sh runs the same
configurations in PyTorch (bench/pytorch_bench.py) and tabulates both.

The oneDNN backend uses OMP_NUM_THREADS threads (default: all cores). CATMARK_PROFILE=1 or
--profile prints the time per operation and per layer shape to stderr.

flags:`)
		fs.PrintDefaults()
	}
	arch := fs.String("model", "resnet50", "resnet18, resnet34 or resnet50")
	batch := fs.Int("batch", 8, "images per step")
	size := fs.Int("size", 224, "input side in pixels")
	width := fs.Int("width", 64, "base width (64 as torchvision)")
	mode := fs.String("mode", "train", "train or infer")
	steps := fs.Int("steps", 10, "timed steps")
	warmup := fs.Int("warmup", 3, "untimed steps first")
	freeze := fs.String("freeze", "", "comma-separated layers to freeze (the seed: conv1,bn1,layer1,layer2)")
	backend := new(string)
	backendVar(fs, backend)
	asJSON := fs.Bool("json", false, "print one JSON object")
	profile := fs.Bool("profile", false, "print the time per operation to stderr (as CATMARK_PROFILE=1)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	depth, err := strconv.Atoi(strings.TrimPrefix(*arch, "resnet"))
	if err != nil || !strings.HasPrefix(*arch, "resnet") {
		return fmt.Errorf("--model %q: want resnet18, resnet34 or resnet50", *arch)
	}
	if *mode != "train" && *mode != "infer" {
		return fmt.Errorf("--mode %q: want train or infer", *mode)
	}
	if *batch < 1 || *size < 32 || *steps < 1 || *warmup < 0 {
		return fmt.Errorf("need --batch ≥ 1, --size ≥ 32, --steps ≥ 1 and --warmup ≥ 0")
	}
	if *profile {
		os.Setenv("CATMARK_PROFILE", "1")
	}
	// oneDNN runs on OpenMP threads started from the calling OS thread; keeping the benchmark on
	// one OS thread keeps one OpenMP team.
	runtime.LockOSThread()
	b, err := engine.Open(*backend)
	if err != nil {
		return err
	}
	// The network and the training step are training's own (train.Step: forward, MSE, backward),
	// so the benchmark measures what a run does.
	m, err := model.New(b, model.Spec{Depth: depth, Width: *width, Size: *size, Stage: model.Whole, Norm: "imagenet"}, 1)
	if err != nil {
		return err
	}
	var frozen []string
	if *freeze != "" {
		frozen = strings.Split(*freeze, ",")
		if err := m.Net.Freeze(frozen...); err != nil {
			return err
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, *batch*3**size**size)
	for i := range x {
		x[i] = rng.Float32()
	}
	target := make([]float32, *batch*m.Outputs())
	for i := range target {
		target[i] = rng.Float32()
	}
	mse, err := loss.Parse("mse")
	if err != nil {
		return err
	}
	grad := make([]float32, len(target))
	opt, err := optim.New("sgd", 0.9, 0)
	if err != nil {
		return err
	}
	var tFwd, tOpt time.Duration // tFwd: forward (and, training, backward)
	step := func() {
		t0 := time.Now()
		if *mode == "infer" {
			m.Forward(x, *batch)
			tFwd += time.Since(t0)
			return
		}
		train.Step(m, x, target, *batch, mse, grad)
		t1 := time.Now()
		opt.Step(b, m.Params(), 1e-3)
		tOpt += time.Since(t1)
		tFwd += t1.Sub(t0)
	}
	for range *warmup {
		step()
	}
	prof, _ := b.(profiler)
	if prof != nil && *profile {
		prof.ResetProfile()
	}
	tFwd, tOpt = 0, 0
	times := make([]float64, *steps)
	cpu0 := cpuTime()
	for i := range times {
		t0 := time.Now()
		step()
		times[i] = float64(time.Since(t0)) / float64(time.Millisecond)
	}
	cpu := cpuTime() - cpu0
	sorted := slices.Clone(times)
	slices.Sort(sorted)
	med := sorted[len(sorted)/2]
	if len(sorted)%2 == 0 {
		med = (sorted[len(sorted)/2-1] + sorted[len(sorted)/2]) / 2
	}
	res := benchResult{
		ImagesPerS: float64(*batch) / (med / 1000),
		PeakRSSMiB: peakRSSMiB(),
		Model:      *arch, Width: *width, Batch: *batch, Size: *size, Mode: *mode, Freeze: *freeze,
		Backend: b.Name(), Threads: benchThreads(b), Steps: *steps, StepMS: times,
		CPUMSPerStep: ms(cpu) / float64(*steps),
	}
	if *profile || os.Getenv("CATMARK_PROFILE") == "1" {
		n := float64(*steps)
		fmt.Fprintf(os.Stderr, "phases per step: forward and backward %.1f ms, optimiser %.1f ms\n",
			ms(tFwd)/n, ms(tOpt)/n)
		if prof != nil {
			fmt.Fprint(os.Stderr, prof.ProfileReport(*steps))
		}
	}
	if *asJSON {
		return json.NewEncoder(os.Stdout).Encode(res)
	}
	fmt.Printf("%s %s batch %d at %d px on %s (%d threads): %.2f images/s (median of %d steps, %.1f ms), peak RSS %.0f MiB\n",
		res.Model, res.Mode, res.Batch, res.Size, res.Backend, res.Threads, res.ImagesPerS, res.Steps, med, res.PeakRSSMiB)
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// benchThreads returns the number of threads the backend computes with, as far as it says.
func benchThreads(b engine.Backend) int {
	if t, ok := b.(interface{ Threads() int }); ok {
		return t.Threads()
	}
	if n, err := strconv.Atoi(os.Getenv("OMP_NUM_THREADS")); err == nil && b.Name() == "dnnl" {
		return n
	}
	return runtime.GOMAXPROCS(0)
}

// cpuTime returns the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// peakRSSMiB returns the process's peak resident set size (VmHWM in /proc/self/status) in MiB,
// or 0 where that file does not exist.
func peakRSSMiB() float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}
