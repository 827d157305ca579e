package main

import (
	"context"
	"flag"
	"fmt"
	"image"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"syscall"

	"github.com/catmark/catmark"
	"github.com/catmark/catmark/landmark"
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

func (d detector) Detect(ctx context.Context, img image.Image) (server.Detection, error) {
	p, face, err := d.d.DetectFaceContext(ctx, img)
	if err != nil {
		return server.Detection{}, err
	}
	return detection(p, face), nil
}

// detection is the server's form of what a catmark.Detector found: the face presence is left out
// where the model has none (NaN).
func detection(p landmark.Points, face float64) server.Detection {
	d := server.Detection{Points: p}
	if !math.IsNaN(face) {
		d.Face = &face
	}
	return d
}

func (d detector) Info() map[string]string { return d.info }

func runServe(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address HOST:PORT")
	model := fs.String("model", "", "model folder or checkpoint (default: the shipped model)")
	maxBody := fs.Int64("max-body", 20<<20, "largest request body in bytes")
	maxSide := fs.Int("max-side", 8000, "largest image width or height in pixels")
	workers := fs.Int("workers", 0, "photos processed at once (0: one per core)")
	tune := addDetectorFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	det, err := catmark.Load(*model)
	if err != nil {
		return err
	}
	if err := tune.apply(det); err != nil {
		return err
	}
	info := map[string]string{"model": firstNonEmpty(*model, "shipped"), "stages": "1"}
	if det.Refine != nil {
		info["stages"] = "2"
	}
	srv := server.New(detector{det, info}, server.Options{MaxBodyBytes: *maxBody, MaxSide: *maxSide, Workers: *workers, MaxBatch: 1})
	defer srv.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	slog.Info("catmark serving", "url", fmt.Sprintf("http://%s/", *addr))
	return server.Serve(ctx, *addr, srv)
}
