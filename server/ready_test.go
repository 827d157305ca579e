package server

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// readyz GETs /readyz from h and returns its status and JSON answer.
func readyz(t *testing.T, h http.Handler) (int, map[string]any) {
	t.Helper()
	code, body, hdr := do(t, h, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	var v map[string]any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("GET /readyz: %d, not JSON: %v: %s", code, err, body)
	}
	if code == http.StatusServiceUnavailable && hdr.Get("Retry-After") == "" {
		t.Error("GET /readyz: 503 without Retry-After")
	}
	return code, v
}

// healthzCode is the status of GET /healthz.
func healthzCode(t *testing.T, h http.Handler) int {
	t.Helper()
	code, _, _ := do(t, h, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	return code
}

func TestReadyz(t *testing.T) {
	s := newServer(t, templateDetector{}, Options{Workers: 2, QueueSize: 3})
	code, v := readyz(t, s)
	if code != http.StatusOK || v["status"] != "ready" || v["workers"] != 2.0 || v["queue_size"] != 3.0 || v["queued"] != 0.0 {
		t.Errorf("fresh server: readyz %d %v, want 200, ready, 2 workers, queue 0 of 3", code, v)
	}
	if code, _, _ := do(t, s, httptest.NewRequest(http.MethodHead, "/readyz", nil)); code != http.StatusOK {
		t.Errorf("HEAD /readyz: %d, want 200", code)
	}
	if code, _, hdr := do(t, s, httptest.NewRequest(http.MethodPost, "/readyz", nil)); code != http.StatusMethodNotAllowed || hdr.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /readyz: %d (Allow %q), want 405 (GET, HEAD)", code, hdr.Get("Allow"))
	}
}

// With the queue full, readyz answers 503 and the photo refused counts as queue_full; once the
// queue empties it answers 200 again.
func TestReadyzQueueFull(t *testing.T) {
	det := newBlocking()
	s := newServer(t, det, Options{Workers: 1, QueueSize: 1})
	png := makePNG(t, 64, 48)
	codes := make(chan int, 2)
	send := func() {
		code, _, _ := do(t, s, post(png, "image/png"))
		codes <- code
	}
	go send()
	<-det.started // the only worker is busy
	if code, v := readyz(t, s); code != http.StatusOK {
		t.Errorf("worker busy, queue empty: readyz %d %v, want 200", code, v)
	}
	go send()
	waitFor(t, func() bool { return len(s.jobs) == 1 })
	code, v := readyz(t, s)
	if code != http.StatusServiceUnavailable || v["status"] != "not ready" || !strings.Contains(v["reason"].(string), "queue is full") {
		t.Errorf("queue full: readyz %d %v, want 503 saying the queue is full", code, v)
	}
	if c := healthzCode(t, s); c != http.StatusOK {
		t.Errorf("queue full: healthz %d, want 200 (the process answers)", c)
	}
	if c, _, _ := do(t, s, post(png, "image/png")); c != http.StatusServiceUnavailable {
		t.Errorf("queue full: photo status %d, want 503", c)
	}
	fams := scrape(t, s)
	if got := value(fams, "catmark_ready", nil); got != 0 {
		t.Errorf("queue full: catmark_ready %g, want 0", got)
	}
	if got := value(fams, "catmark_queue_depth", nil); got != 1 {
		t.Errorf("queue full: catmark_queue_depth %g, want 1", got)
	}
	if got := value(fams, "catmark_refusals_total", map[string]string{"code": "503", "reason": "queue_full"}); got != 1 {
		t.Errorf("catmark_refusals_total{code=503,reason=queue_full} = %g, want 1", got)
	}
	close(det.release)
	for range 2 {
		if c := <-codes; c != http.StatusOK {
			t.Errorf("a queued photo: status %d, want 200", c)
		}
	}
	if code, v := readyz(t, s); code != http.StatusOK {
		t.Errorf("queue empty again: readyz %d %v, want 200", code, v)
	}
}

// From the start of a shutdown readyz answers 503 while healthz still answers 200.
func TestReadyzShuttingDown(t *testing.T) {
	for _, tc := range []struct {
		name string
		stop func(*Server)
		want string
	}{
		{"shutdown begun", (*Server).beginShutdown, "shutting down"},
		{"closed", func(s *Server) { s.Close() }, "closed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t, templateDetector{}, Options{})
			tc.stop(s)
			code, v := readyz(t, s)
			if code != http.StatusServiceUnavailable || !strings.Contains(v["reason"].(string), tc.want) {
				t.Errorf("readyz %d %v, want 503 saying %q", code, v, tc.want)
			}
			if c := healthzCode(t, s); c != http.StatusOK {
				t.Errorf("healthz %d, want 200", c)
			}
		})
	}
	s := newServer(t, templateDetector{}, Options{Workers: 3})
	s.Close()
	if got := value(scrape(t, s), "catmark_workers", nil); got != 0 {
		t.Errorf("closed: catmark_workers %g, want 0", got)
	}
	if code, body, _ := do(t, s, post(makePNG(t, 16, 16), "image/png")); code != http.StatusServiceUnavailable {
		t.Errorf("closed: photo status %d, want 503: %s", code, body)
	}
	if got := value(scrape(t, s), "catmark_refusals_total", map[string]string{"code": "503", "reason": "shutting_down"}); got != 1 {
		t.Errorf("closed: catmark_refusals_total{code=503,reason=shutting_down} = %g, want 1", got)
	}
}

// ServeListener marks its Server as shutting down as soon as ctx ends, while it still finishes
// the requests in flight.
func TestReadyzDuringServeShutdown(t *testing.T) {
	det := newBlocking()
	s := newServer(t, det, Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- ServeListener(ctx, ln, s) }()
	answered := make(chan int, 1)
	go func() {
		resp, err := http.Post("http://"+ln.Addr().String()+"/v1/landmarks", "image/png", strings.NewReader(string(makePNG(t, 32, 32))))
		if err != nil {
			t.Errorf("request in flight: %v", err)
			answered <- 0
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		answered <- resp.StatusCode
	}()
	<-det.started
	if code, v := readyz(t, s); code != http.StatusOK {
		t.Fatalf("serving: readyz %d %v, want 200", code, v)
	}
	cancel()
	waitFor(t, func() bool { return s.draining.Load() })
	if code, v := readyz(t, s); code != http.StatusServiceUnavailable || !strings.Contains(v["reason"].(string), "shutting down") {
		t.Errorf("shutting down: readyz %d %v, want 503 saying so", code, v)
	}
	close(det.release)
	if code := <-answered; code != http.StatusOK {
		t.Errorf("request in flight during shutdown: status %d, want 200", code)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("ServeListener: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ServeListener did not return")
	}
}

// A server without a detector is alive but not ready.
func TestReadyzNoDetector(t *testing.T) {
	s := newServer(t, nil, Options{})
	code, v := readyz(t, s)
	if code != http.StatusServiceUnavailable || !strings.Contains(v["reason"].(string), "no detector") {
		t.Errorf("readyz %d %v, want 503 saying there is no detector", code, v)
	}
	if c := healthzCode(t, s); c != http.StatusOK {
		t.Errorf("healthz %d, want 200", c)
	}
}
