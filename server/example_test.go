package server_test

import (
	"context"
	"fmt"
	"image"
	"math"
	"os"
	"os/signal"
	"syscall"

	"github.com/catmark/catmark"
	"github.com/catmark/catmark/landmark"
	"github.com/catmark/catmark/server"
)

// centre is a toy detector: all nine points in the middle of the photo.
type centre struct{}

func (centre) Detect(_ context.Context, img image.Image) ([]catmark.Face, error) {
	b := img.Bounds()
	var p landmark.Points
	for i := range p {
		p[i] = landmark.Point{X: float64(b.Dx()) / 2, Y: float64(b.Dy()) / 2}
	}
	return []catmark.Face{{Points: p, Presence: math.NaN()}}, nil
}

// Serving a detector until SIGINT or SIGTERM.
func ExampleServe() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s := server.New(centre{}, server.Options{Workers: 2})
	defer s.Close()
	if err := server.Serve(ctx, "127.0.0.1:8080", s); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
}
