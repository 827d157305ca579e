package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"image"
	"os"
	"os/signal"
	"syscall"

	"github.com/catmark/catmark/landmark"
	"github.com/catmark/catmark/server"
)

func ExampleNewResult() {
	p := landmark.Points{{X: 112, Y: 102}, {X: 153, Y: 104}, {X: 127, Y: 127},
		{X: 95, Y: 77}, {X: 88, Y: 50}, {X: 106, Y: 60}, {X: 180, Y: 65}, {X: 200, Y: 61}, {X: 189, Y: 85}}
	face := 0.97
	b, _ := json.Marshal(server.NewResult("00000001_000.jpg", 240, 320, server.Detection{Points: p, Face: &face}))
	fmt.Println(string(b))
	// Output:
	// {"path":"00000001_000.jpg","width":240,"height":320,"points":[{"name":"left_eye","x":112,"y":102},{"name":"right_eye","x":153,"y":104},{"name":"mouth","x":127,"y":127},{"name":"left_ear_outer_base","x":95,"y":77},{"name":"left_ear_tip","x":88,"y":50},{"name":"left_ear_inner_base","x":106,"y":60},{"name":"right_ear_inner_base","x":180,"y":65},{"name":"right_ear_tip","x":200,"y":61},{"name":"right_ear_outer_base","x":189,"y":85}],"face":0.97}
}

// centre is a toy detector: all nine points in the middle of the photo.
type centre struct{}

func (centre) Detect(_ context.Context, img image.Image) (server.Detection, error) {
	b := img.Bounds()
	var p landmark.Points
	for i := range p {
		p[i] = landmark.Point{X: float64(b.Dx()) / 2, Y: float64(b.Dy()) / 2}
	}
	return server.Detection{Points: p}, nil
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
