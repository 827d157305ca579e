package server

import (
	"context"
	"encoding/json"
	"image"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/catmark/catmark"
	"github.com/catmark/catmark/internal/atomicfile"
)

func TestServeGracefulShutdown(t *testing.T) {
	s := newServer(t, templateDetector{cost: 300 * time.Millisecond}, Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- ServeListener(ctx, ln, s) }()

	resp, err := http.Get(url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("healthz: %s", resp.Status)
	}

	// A slow request in flight when the shutdown begins must still be answered.
	answered := make(chan int, 1)
	go func() {
		resp, err := http.Post(url+"/v1/landmarks", "image/png", strings.NewReader(string(makePNG(t, 32, 32))))
		if err != nil {
			t.Errorf("request in flight during shutdown: %v", err)
			answered <- 0
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		answered <- resp.StatusCode
	}()
	time.Sleep(100 * time.Millisecond) // the request is now in the detector
	cancel()
	if code := <-answered; code != http.StatusOK {
		t.Errorf("request in flight during shutdown: status %d, want 200", code)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("ServeListener after shutdown: %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ServeListener did not return after ctx was cancelled")
	}
	if _, err := http.Get(url + "/healthz"); err == nil {
		t.Error("the server still answers after shutdown")
	}
}

func TestServeBadAddress(t *testing.T) {
	err := Serve(context.Background(), "127.0.0.1:-1", http.NotFoundHandler())
	if err == nil {
		t.Fatal("Serve on port -1 succeeded")
	}
}

func TestLoadTest(t *testing.T) {
	png := makePNG(t, 48, 40)
	ok := httptest.NewServer(newServer(t, templateDetector{}, Options{Workers: 2}))
	defer ok.Close()
	rep, err := loadTest(context.Background(), ok.URL+"/v1/landmarks", 4, 40, png)
	if err != nil {
		t.Fatalf("loadTest against a working server: %v", err)
	}
	if rep.Requests != 40 || rep.Errors != 0 || rep.Statuses[200] != 40 || rep.Clients != 4 {
		t.Errorf("report %+v: want 40 requests from 4 clients, all 200", rep)
	}
	if !(rep.P50 > 0 && rep.P50 <= rep.P90 && rep.P90 <= rep.P99 && rep.P99 <= rep.Max && rep.Throughput > 0) {
		t.Errorf("report %+v: latencies out of order or no throughput", rep)
	}

	failing := httptest.NewServer(newServer(t, funcDetector(func(context.Context, image.Image) ([]catmark.Face, error) {
		return nil, errInternal
	}), Options{}))
	defer failing.Close()
	rep, err = loadTest(context.Background(), failing.URL+"/v1/landmarks", 3, 10, png)
	if err == nil || !strings.Contains(err.Error(), "10 of 10 requests failed") {
		t.Errorf("loadTest against a failing server: error %v, want 10 of 10 failed", err)
	}
	if rep.Errors != 10 || rep.Statuses[500] != 10 || !strings.Contains(rep.FirstError, "500") {
		t.Errorf("report %+v: want 10 errors, all 500", rep)
	}

	if _, err := loadTest(context.Background(), ok.URL, 0, 10, png); err == nil {
		t.Error("loadTest with 0 clients succeeded")
	}
}

// writeLoadJSON writes the figures a script reads, latencies in milliseconds, errors included.
func TestWriteLoadJSON(t *testing.T) {
	path := filepath.Join(t.TempDir(), "load.json")
	rep := loadReport{Clients: 20, Requests: 100, Errors: 3, Duration: 2500 * time.Millisecond, Throughput: 38.8,
		P50: 120 * time.Millisecond, P90: 300 * time.Millisecond, P99: 1500 * time.Microsecond * 1000, Max: 2 * time.Second, FirstError: "500 Internal Server Error"}
	if err := writeLoadJSON(path, rep); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var got loadJSON
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	want := loadJSON{Clients: 20, Requests: 100, Errors: 3, Seconds: 2.5, Throughput: 38.8, P50: 120, P90: 300, P99: 1500, Max: 2000, FirstError: "500 Internal Server Error"}
	if got != want {
		t.Errorf("wrote %s, want %+v", b, want)
	}
}

func TestQuantile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 200; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	// Nearest rank: the q-quantile of 1…200 ms is ⌈200·q⌉ ms.
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 100 * time.Millisecond}, {0.99, 198 * time.Millisecond}, {0.001, 1 * time.Millisecond}, {1, 200 * time.Millisecond}} {
		if got := quantile(d, tc.q); got != tc.want {
			t.Errorf("quantile(1…200 ms, %g) = %v, want %v", tc.q, got, tc.want)
		}
	}
}

// loadCost is the emulated model's cost per photo in the load benchmark: $CATMARK_LOAD_COST
// (a Go duration), default 2ms of CPU.
func loadCost(b *testing.B) time.Duration {
	cost := 2 * time.Millisecond
	if v := os.Getenv("CATMARK_LOAD_COST"); v != "" {
		var err error
		if cost, err = time.ParseDuration(v); err != nil {
			b.Fatalf("CATMARK_LOAD_COST=%q: %v", v, err)
		}
	}
	return cost
}

// runLoad measures 2,000 requests ($CATMARK_LOAD_REQUESTS) of a real cat photo from 20 clients
// against url, b.N times, and reports the last run's figures; with $CATMARK_LOAD_JSON set, it
// also writes them to that file (loadJSON), failed requests included, before failing on them.
func runLoad(b *testing.B, url string, photo []byte) {
	const clients = 20
	requests := 2000
	if v := os.Getenv("CATMARK_LOAD_REQUESTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < clients {
			b.Fatalf("CATMARK_LOAD_REQUESTS=%q: want a number of at least %d", v, clients)
		}
		requests = n
	}
	var rep loadReport
	for b.Loop() {
		var err error
		rep, err = loadTest(context.Background(), url, clients, requests, photo)
		if path := os.Getenv("CATMARK_LOAD_JSON"); path != "" {
			if werr := writeLoadJSON(path, rep); werr != nil {
				b.Fatal(werr)
			}
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(rep.Throughput, "req/s")
	b.ReportMetric(float64(rep.P50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(rep.P99.Microseconds())/1000, "p99-ms")
	b.ReportMetric(0, "ns/op") // one op is a whole load test; its time says nothing more
	b.Log(rep)
}

// loadJSON is the load test's report as $CATMARK_LOAD_JSON holds it, for scripts: latencies in
// milliseconds.
type loadJSON struct {
	Clients    int     `json:"clients"`
	Requests   int     `json:"requests"`
	Errors     int     `json:"errors"`
	Seconds    float64 `json:"seconds"`
	Throughput float64 `json:"requests_per_s"`
	P50        float64 `json:"p50_ms"`
	P90        float64 `json:"p90_ms"`
	P99        float64 `json:"p99_ms"`
	Max        float64 `json:"max_ms"`
	FirstError string  `json:"first_error,omitempty"`
}

// writeLoadJSON writes rep to path as one JSON object (loadJSON).
func writeLoadJSON(path string, rep loadReport) error {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b, err := json.Marshal(loadJSON{
		Clients: rep.Clients, Requests: rep.Requests, Errors: rep.Errors, Seconds: rep.Duration.Seconds(),
		Throughput: rep.Throughput, P50: ms(rep.P50), P90: ms(rep.P90), P99: ms(rep.P99), Max: ms(rep.Max),
		FirstError: rep.FirstError,
	})
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, append(b, '\n'))
}

// BenchmarkLoad starts the server on 127.0.0.1 with a fake detector that burns
// $CATMARK_LOAD_COST of CPU per photo (default 2ms), and sends it 2,000 requests of a real cat
// JPEG ($CATMARK_LOAD_PHOTO: a photo file of your choice) from 20 concurrent clients. To measure
// a real model instead, serve it ("catmark serve") and point the benchmark at it:
// CATMARK_LOAD_URL=http://127.0.0.1:8080/v1/landmarks. scripts/first-stage-check.sh runs it so,
// with $CATMARK_LOAD_JSON for the figures.
//
//	go test ./server/ -run '^$' -bench Load -benchtime 1x
func BenchmarkLoad(b *testing.B) {
	var photo []byte
	if path := os.Getenv("CATMARK_LOAD_PHOTO"); path != "" {
		var err error
		if photo, err = os.ReadFile(path); err != nil {
			b.Fatalf("CATMARK_LOAD_PHOTO: %v", err)
		}
	} else {
		_, photo = catPhoto(b)
	}
	url := os.Getenv("CATMARK_LOAD_URL")
	if url == "" {
		s := New(templateDetector{cost: loadCost(b), busy: true}, Options{Logger: quietLogger()})
		defer s.Close()
		ts := httptest.NewServer(s)
		defer ts.Close()
		url = ts.URL + "/v1/landmarks"
	}
	runLoad(b, url, photo)
}

// BenchmarkBatching compares one photo per detector call with batches, for a fake model whose
// batch of n photos burns fixed + n·perImage of CPU. The costs follow PyTorch's ResNet-18
// inference on this 2-core machine scaled down 10× (about 25 ms a photo alone, 16 ms a photo in
// batches of 8: fixed 0.8 ms, 1.6 ms a photo). One worker, as a model that uses every core for
// one batch would have.
func BenchmarkBatching(b *testing.B) {
	_, photo := catPhoto(b)
	for _, tc := range []struct {
		name     string
		maxBatch int
	}{{"single", 1}, {"batch8", 8}} {
		b.Run(tc.name, func(b *testing.B) {
			det := &batchTemplate{fixed: 800 * time.Microsecond, perImage: 1600 * time.Microsecond, busy: true}
			s := New(det, Options{Workers: 1, MaxBatch: tc.maxBatch, Logger: quietLogger()})
			defer s.Close()
			ts := httptest.NewServer(s)
			defer ts.Close()
			runLoad(b, ts.URL+"/v1/landmarks", photo)
			sizes := det.batchSizes()
			total := 0
			for _, n := range sizes {
				total += n
			}
			b.ReportMetric(float64(total)/float64(len(sizes)), "photos/batch")
		})
	}
}
