package main

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/catmark/catmark"
	"github.com/catmark/catmark/internal/fixture"
	"github.com/catmark/catmark/internal/hostile"
	"github.com/catmark/catmark/server"
)

// newTestServer serves det as catmark serve does (MaxBatch 1, catmark.MinSide, two workers).
func newTestServer(t *testing.T, det *catmark.Detector) *httptest.Server {
	t.Helper()
	_, twoStage := det.Refine()
	srv := server.New(detector{det, modelInfo("", twoStage)},
		server.Options{MinSide: catmark.MinSide, Workers: 2, MaxBatch: 1, Logger: slog.New(slog.DiscardHandler)})
	ts := httptest.NewServer(srv)
	t.Cleanup(func() { ts.Close(); srv.Close() })
	return ts
}

// Beside two scan bombs in flight, a cat photo is answered 200 within 10 s; the bombs get 422
// naming their scans, and a 1×1 photo gets 422 naming the minimum size.
func TestServeScanBombsAndTinyPhoto(t *testing.T) {
	photo, err := os.ReadFile(fixture.Path(t, 0))
	if err != nil {
		t.Fatal(err)
	}
	det, err := catmark.Load("")
	if err != nil {
		t.Fatal(err)
	}
	ts := newTestServer(t, det)
	bomb := hostile.ProgressiveJPEG(7999, 5000, 2000) // about 60 s of decoding each without the limits
	type answer struct {
		code int
		body string
		took time.Duration
	}
	send := func(data []byte) answer {
		start := time.Now()
		resp, err := http.Post(ts.URL+"/v1/landmarks", "image/jpeg", bytes.NewReader(data))
		if err != nil {
			return answer{code: -1, body: err.Error()}
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		return answer{resp.StatusCode, b.String(), time.Since(start)}
	}
	var wg sync.WaitGroup
	bombs := make([]answer, 2)
	for i := range bombs {
		wg.Go(func() { bombs[i] = send(bomb) })
	}
	time.Sleep(50 * time.Millisecond)
	real := send(photo)
	wg.Wait()
	if real.code != 200 || real.took > 10*time.Second {
		t.Errorf("real photo beside two scan bombs: %d in %v, want 200 within 10 s: %s", real.code, real.took, real.body)
	}
	for _, a := range bombs {
		if a.code != 422 || !strings.Contains(a.body, "2001 scans") {
			t.Errorf("scan bomb: %d %s, want 422 naming its 2001 scans", a.code, a.body)
		}
	}
	var one bytes.Buffer
	png.Encode(&one, image.NewRGBA(image.Rect(0, 0, 1, 1)))
	if a := send(one.Bytes()); a.code != 422 || !strings.Contains(a.body, "16×16") {
		t.Errorf("1×1 photo: %d %s, want 422 naming 16×16", a.code, a.body)
	}
}

// serve takes no arguments besides its flags.
func TestServeRejectsStrayArguments(t *testing.T) {
	err := runServe([]string{"--addr", "127.0.0.1:0", "cat.jpg"})
	if err == nil || !strings.Contains(err.Error(), "cat.jpg") {
		t.Fatalf("runServe with a stray argument = %v, want an error naming it", err)
	}
}

// /healthz names the model by its file or folder name, never by the path that leads to it.
func TestModelInfo(t *testing.T) {
	for model, want := range map[string]string{
		"":                                    "shipped",
		"/home/someone/runs/best.safetensors": "best.safetensors",
		"runs/refine/":                        "refine",
	} {
		info := modelInfo(model, true)
		if info["model"] != want || info["stages"] != "2" {
			t.Errorf("modelInfo(%q) = %v, want model %q, 2 stages", model, info, want)
		}
		for k, v := range info {
			if strings.Contains(v, "/") {
				t.Errorf("modelInfo(%q)[%s] = %q shows a path", model, k, v)
			}
		}
	}
}

// "serving" is logged only once the address is bound, with the address bound.
func TestServeLogsAfterBind(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	srv := server.New(detector{}, server.Options{Logger: slog.New(slog.DiscardHandler)})
	defer srv.Close()
	var log bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&log, nil))
	if err := listenAndServe(context.Background(), busy.Addr().String(), srv, logger); err == nil {
		t.Fatal("serving on an address in use succeeded")
	}
	if strings.Contains(log.String(), "serving") {
		t.Errorf("a failed bind logged %q", log.String())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := listenAndServe(ctx, "127.0.0.1:0", srv, logger); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "catmark serving") || strings.Contains(log.String(), ":0/") {
		t.Errorf("log %q: want catmark serving with the port bound", log.String())
	}
}
