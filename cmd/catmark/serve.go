package main

import (
	"context"
	"flag"
	"fmt"
	"image"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/catmark/catmark"
	"github.com/catmark/catmark/server"
)

func init() {
	register("serve", "serve landmarks over HTTP, with a web page at /", runServe)
}

// detector adapts a catmark.Detector to the server's interface.
type detector struct {
	d    *catmark.Detector
	info map[string]string
}

func (d detector) Detect(ctx context.Context, img image.Image) ([]catmark.Face, error) {
	all, err := d.DetectBatch(ctx, []image.Image{img})
	if err != nil {
		return nil, err
	}
	return all[0], nil
}

// DetectBatch runs the detector on the photos of concurrent requests together
// (catmark.Detector.DetectAllBatch): the server gathers them (server.Options.MaxBatch).
func (d detector) DetectBatch(ctx context.Context, imgs []image.Image) ([][]catmark.Face, error) {
	all, err := d.d.DetectAllBatch(ctx, imgs)
	if err != nil {
		return nil, err
	}
	out := make([][]catmark.Face, len(all))
	for i, r := range all {
		if r.Err != nil {
			return nil, r.Err
		}
		out[i] = r.Faces
	}
	return out, nil
}

func (d detector) Info() map[string]string { return d.info }

func runServe(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address HOST:PORT")
	model := fs.String("model", "", "model folder or checkpoint (default: the shipped model)")
	maxBody := fs.Int64("max-body", 20<<20, "largest request body in bytes")
	maxSide := fs.Int("max-side", 8000, "largest image width or height in pixels")
	workers := fs.Int("workers", 0, "detection workers (0: one per core); each runs a batch at a time")
	batch := fs.Int("batch", 8, "largest batch of concurrent requests' photos a worker detects together (1: one by one)")
	tune := addDetectorFlags(fs)
	oriented := addOrientationFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *batch < 1 || *batch > 64 {
		return fmt.Errorf("--batch %d out of range [1, 64]", *batch)
	}
	det, err := tune.load(*model)
	if err != nil {
		return err
	}
	_, twoStage := det.Refine()
	srv := server.New(detector{det, modelInfo(*model, twoStage)},
		server.Options{MaxBodyBytes: *maxBody, MaxSide: *maxSide, MinSide: catmark.MinSide, Workers: *workers, MaxBatch: *batch, IgnoreOrientation: !*oriented})
	defer srv.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return listenAndServe(ctx, *addr, srv, slog.Default())
}

// modelInfo is what /healthz says of the model: its file or folder name, never the path that
// leads to it ("shipped" for the embedded model), and its number of stages.
func modelInfo(model string, twoStage bool) map[string]string {
	info := map[string]string{"model": "shipped", "stages": "1"}
	if model != "" {
		info["model"] = filepath.Base(model)
	}
	if twoStage {
		info["stages"] = "2"
	}
	return info
}

// listenAndServe binds addr, then logs "catmark serving" with the address bound (so a failed
// bind logs nothing of the kind), and serves until ctx ends.
func listenAndServe(ctx context.Context, addr string, srv *server.Server, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	log.Info("catmark serving", "url", fmt.Sprintf("http://%s/", ln.Addr()))
	return server.ServeListener(ctx, ln, srv)
}
