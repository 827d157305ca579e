package server

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"maps"
	"math"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/catmark/catmark"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape GETs /metrics from h and parses the answer, which must be Prometheus's text format.
func scrape(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	code, body, hdr := do(t, h, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: status %d: %s", code, body)
	}
	if ct := hdr.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("GET /metrics: Content-Type %q, want the text format", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("GET /metrics: %v\n%s", err, body)
	}
	return fams
}

// sample finds the metric of family name whose labels are exactly labels (a counter, gauge or
// histogram); nil when there is none.
func sample(fams map[string]*dto.MetricFamily, name string, labels map[string]string) *dto.Metric {
	f := fams[name]
	if f == nil {
		return nil
	}
	for _, m := range f.GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		if maps.Equal(got, labels) {
			return m
		}
	}
	return nil
}

// value is the value of a counter or gauge, 0 when the series is absent (a labelled counter
// that never moved is not exported).
func value(fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	m := sample(fams, name, labels)
	switch {
	case m == nil:
		return 0
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	return 0
}

// histogram is a histogram's count and sum; zero when the series is absent.
func histogram(fams map[string]*dto.MetricFamily, name string, labels map[string]string) (count uint64, sum float64, h *dto.Histogram) {
	m := sample(fams, name, labels)
	if m == nil || m.Histogram == nil {
		return 0, 0, nil
	}
	return m.Histogram.GetSampleCount(), m.Histogram.GetSampleSum(), m.Histogram
}

// After good and bad requests, the counters and histograms of /metrics moved by as much.
func TestMetrics(t *testing.T) {
	cost := 20 * time.Millisecond
	s := newServer(t, templateDetector{cost: cost}, Options{Workers: 1, QueueSize: 5, MaxBodyBytes: 64 << 10})
	png := makePNG(t, 48, 40)
	for range 3 {
		if code, body, _ := do(t, s, post(png, "image/png")); code != 200 {
			t.Fatalf("good photo: status %d: %s", code, body)
		}
	}
	bad := []struct {
		req    *http.Request
		status int
	}{
		{post([]byte("not a photo"), "image/jpeg"), 400},
		{post([]byte("not a photo either"), "image/png"), 400},
		{post(nil, "image/png"), 400},
		{post(bytes.Repeat([]byte{0xff, 0xd8, 0xff}, 30000), "image/jpeg"), 413},
		{post(makeGIF(t), "image/gif"), 415},
		{post(pngHeader(9000, 100), "image/png"), 422},
		{httptest.NewRequest(http.MethodGet, "/v1/landmarks", nil), 405},
		{httptest.NewRequest(http.MethodGet, "/wp-admin/", nil), 404},
		{httptest.NewRequest(http.MethodGet, "/healthz", nil), 200},
	}
	for _, b := range bad {
		if code, body, _ := do(t, s, b.req); code != b.status {
			t.Fatalf("%s %s: status %d, want %d: %s", b.req.Method, b.req.URL.Path, code, b.status, body)
		}
	}

	fams := scrape(t, s)
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"catmark_http_requests_total", map[string]string{"route": "/v1/landmarks", "code": "200"}, 3},
		{"catmark_http_requests_total", map[string]string{"route": "/v1/landmarks", "code": "400"}, 3},
		{"catmark_http_requests_total", map[string]string{"route": "/v1/landmarks", "code": "413"}, 1},
		{"catmark_http_requests_total", map[string]string{"route": "/v1/landmarks", "code": "415"}, 1},
		{"catmark_http_requests_total", map[string]string{"route": "/v1/landmarks", "code": "422"}, 1},
		{"catmark_http_requests_total", map[string]string{"route": "/v1/landmarks", "code": "405"}, 1},
		{"catmark_http_requests_total", map[string]string{"route": "other", "code": "404"}, 1},
		{"catmark_http_requests_total", map[string]string{"route": "/healthz", "code": "200"}, 1},
		{"catmark_http_requests_total", map[string]string{"route": "/metrics", "code": "200"}, 0}, // counted once answered
		{"catmark_refusals_total", map[string]string{"code": "400", "reason": "not_image"}, 2},
		{"catmark_refusals_total", map[string]string{"code": "400", "reason": "no_photo"}, 1},
		{"catmark_refusals_total", map[string]string{"code": "413", "reason": "body_too_large"}, 1},
		{"catmark_refusals_total", map[string]string{"code": "415", "reason": "unsupported_format"}, 1},
		{"catmark_refusals_total", map[string]string{"code": "422", "reason": "image_too_large"}, 1},
		{"catmark_queue_depth", nil, 0},
		{"catmark_queue_capacity", nil, 5},
		{"catmark_workers", nil, 1},
		{"catmark_body_in_flight_bytes", nil, 0},
		{"catmark_body_in_flight_limit_bytes", nil, 256 << 20},
		{"catmark_ready", nil, 1},
		{"catmark_http_requests_in_flight", nil, 1}, // the scrape itself
	} {
		if got := value(fams, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %g, want %g", c.name, c.labels, got, c.want)
		}
	}
	// Refusals are only counted for the photo API's errors: 405 and 404 have no reason.
	var refusals float64
	for _, m := range fams["catmark_refusals_total"].GetMetric() {
		refusals += m.GetCounter().GetValue()
	}
	if refusals != 6 {
		t.Errorf("catmark_refusals_total sums to %g over all reasons, want 6", refusals)
	}

	if n, sum, _ := histogram(fams, "catmark_http_request_duration_seconds", map[string]string{"route": "/v1/landmarks"}); n != 10 || sum < 3*cost.Seconds() {
		t.Errorf("catmark_http_request_duration_seconds{route=/v1/landmarks}: %d requests taking %gs, want 10 taking at least %gs", n, sum, 3*cost.Seconds())
	}
	if n, _, _ := histogram(fams, "catmark_http_request_duration_seconds", map[string]string{"route": "other"}); n != 1 {
		t.Errorf("catmark_http_request_duration_seconds{route=other}: %d requests, want 1", n)
	}
	// Three good photos, one detector call each; the bad ones never reach the detector.
	if n, sum, _ := histogram(fams, "catmark_batch_size", nil); n != 3 || sum != 3 {
		t.Errorf("catmark_batch_size: %d calls of %g photos in all, want 3 calls of 3", n, sum)
	}
	if n, sum, _ := histogram(fams, "catmark_model_duration_seconds", nil); n != 3 || sum < 3*cost.Seconds() || sum > 3*(cost.Seconds()+1) {
		t.Errorf("catmark_model_duration_seconds: %d calls taking %gs, want 3 taking about %gs", n, sum, 3*cost.Seconds())
	}
	for _, name := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes"} {
		if fams[name] == nil {
			t.Errorf("no %s: the Go collector is missing", name)
		}
	}
	if runtime.GOOS == "linux" && fams["process_resident_memory_bytes"] == nil {
		t.Error("no process_resident_memory_bytes: the process collector is missing")
	}

	// The first scrape is counted once answered.
	fams = scrape(t, s)
	if got := value(fams, "catmark_http_requests_total", map[string]string{"route": "/metrics", "code": "200"}); got != 1 {
		t.Errorf("after one scrape, catmark_http_requests_total{route=/metrics,code=200} = %g, want 1", got)
	}
	if code, _, _ := do(t, s, httptest.NewRequest(http.MethodPost, "/metrics", nil)); code != http.StatusMethodNotAllowed {
		t.Errorf("POST /metrics: status %d, want 405", code)
	}
}

// Every refusal is counted under its status code and reason.
func TestRefusalReasons(t *testing.T) {
	_, cat := catPhoto(t)
	png64 := makePNG(t, 64, 48)
	noPhoto, noPhotoType := multipartBody(t, "", "", nil)
	// A JPEG of full length whose frame header (SOF0) claims 7 colour components.
	corrupt := bytes.Clone(cat)
	corrupt[bytes.Index(cat, []byte{0xff, 0xc0})+9] = 7
	for _, tc := range []struct {
		name   string
		opt    Options
		det    Detector
		req    *http.Request
		code   string
		reason string
	}{
		{"empty body", Options{}, nil, post(nil, "image/png"), "400", "no_photo"},
		{"multipart without a photo", Options{}, nil, post(noPhoto, noPhotoType), "400", "no_photo"},
		{"bad Content-Type", Options{}, nil, post(png64, "image/png; ===="), "400", "bad_content_type"},
		{"malformed multipart", Options{}, nil, post([]byte("nope"), "multipart/form-data; boundary=xyz"), "400", "bad_body"},
		{"text", Options{}, nil, post([]byte("hello"), "image/jpeg"), "400", "not_image"},
		{"truncated PNG", Options{}, nil, post(png64[:len(png64)-40], "image/png"), "400", "truncated_image"},
		{"corrupt JPEG", Options{}, nil, post(corrupt, "image/jpeg"), "400", "corrupt_image"},
		{"body over the limit", Options{MaxBodyBytes: 4 << 10}, nil, post(cat, "image/jpeg"), "413", "body_too_large"},
		{"text/plain", Options{}, nil, post([]byte("hello"), "text/plain"), "415", "unsupported_content_type"},
		{"WebP", Options{}, nil, post([]byte("RIFF\x10\x00\x00\x00WEBPVP8 "), "image/webp"), "415", "unsupported_format"},
		{"too large", Options{MaxSide: 100}, nil, post(cat, "image/jpeg"), "422", "image_too_large"},
		{"too small", Options{MinSide: 100}, nil, post(png64, "image/png"), "422", "image_too_small"},
		{"bodies in flight", Options{MaxBodyBytesInFlight: 1000}, nil, post(cat, "image/jpeg"), "503", "bodies_in_flight"},
		{"request timeout", Options{RequestTimeout: 30 * time.Millisecond}, templateDetector{cost: 200 * time.Millisecond}, post(png64, "image/png"), "503", "request_timeout"},
		{"detector failed", Options{}, funcDetector(func(context.Context, image.Image) ([]catmark.Face, error) {
			return nil, errInternal
		}), post(png64, "image/png"), "500", "detector_failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			det := tc.det
			if det == nil {
				det = templateDetector{}
			}
			s := newServer(t, det, tc.opt)
			code, body, _ := do(t, s, tc.req)
			if fmt.Sprint(code) != tc.code {
				t.Fatalf("status %d, want %s: %s", code, tc.code, body)
			}
			fams := scrape(t, s)
			if got := value(fams, "catmark_refusals_total", map[string]string{"code": tc.code, "reason": tc.reason}); got != 1 {
				t.Errorf("catmark_refusals_total{code=%s,reason=%s} = %g, want 1", tc.code, tc.reason, got)
			}
			if n := len(fams["catmark_refusals_total"].GetMetric()); n != 1 {
				t.Errorf("catmark_refusals_total has %d series, want 1", n)
			}
		})
	}
}

// The batch size histogram records the batches the detector saw, and the model time histogram
// one observation per batch.
func TestMetricsBatches(t *testing.T) {
	det := &batchTemplate{fixed: 5 * time.Millisecond, perImage: time.Millisecond}
	s := newServer(t, det, Options{Workers: 1, MaxBatch: 4, BatchWindow: 20 * time.Millisecond})
	png := makePNG(t, 32, 32)
	var wg sync.WaitGroup
	const photos = 10
	for range photos {
		wg.Go(func() {
			if code, body, _ := do(t, s, post(png, "image/png")); code != 200 {
				t.Errorf("status %d: %s", code, body)
			}
		})
	}
	wg.Wait()
	sizes := det.batchSizes()
	fams := scrape(t, s)
	n, sum, h := histogram(fams, "catmark_batch_size", nil)
	if n != uint64(len(sizes)) || sum != photos {
		t.Fatalf("catmark_batch_size: %d batches of %g photos in all, want the detector's %d batches (%v) of %d", n, sum, len(sizes), sizes, photos)
	}
	var bounds []float64
	for _, b := range h.GetBucket() {
		if math.IsInf(b.GetUpperBound(), 1) {
			continue
		}
		bounds = append(bounds, b.GetUpperBound())
		want := 0
		for _, size := range sizes {
			if float64(size) <= b.GetUpperBound() {
				want++
			}
		}
		if b.GetCumulativeCount() != uint64(want) {
			t.Errorf("catmark_batch_size bucket le=%g holds %d batches, want %d (sizes %v)", b.GetUpperBound(), b.GetCumulativeCount(), want, sizes)
		}
	}
	if !slices.Equal(bounds, []float64{1, 2, 3, 4}) {
		t.Errorf("catmark_batch_size buckets %v, want 1 to MaxBatch 4", bounds)
	}
	if n, _, _ := histogram(fams, "catmark_model_duration_seconds", nil); n != uint64(len(sizes)) {
		t.Errorf("catmark_model_duration_seconds: %d observations, want one per batch (%d)", n, len(sizes))
	}
}

// Two servers in one process keep separate metrics.
func TestMetricsPerServer(t *testing.T) {
	a := newServer(t, templateDetector{}, Options{})
	b := newServer(t, templateDetector{}, Options{})
	do(t, a, post(makePNG(t, 32, 32), "image/png"))
	ok := map[string]string{"route": "/v1/landmarks", "code": "200"}
	if got := value(scrape(t, a), "catmark_http_requests_total", ok); got != 1 {
		t.Errorf("server a: %g photos answered, want 1", got)
	}
	if got := value(scrape(t, b), "catmark_http_requests_total", ok); got != 0 {
		t.Errorf("server b: %g photos answered, want 0 (it got none)", got)
	}
}

func TestBatchBuckets(t *testing.T) {
	for _, tc := range []struct {
		max  int
		want []float64
	}{
		{1, []float64{1}},
		{8, []float64{1, 2, 3, 4, 6, 8}},
		{10, []float64{1, 2, 3, 4, 6, 8, 10}},
		{64, []float64{1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64}},
	} {
		if got := batchBuckets(tc.max); !slices.Equal(got, tc.want) {
			t.Errorf("batchBuckets(%d) = %v, want %v", tc.max, got, tc.want)
		}
	}
}
