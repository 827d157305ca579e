package server

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Reasons for refusing a photo request, the reason label of catmark_refusals_total. Each
// belongs to one status code.
const (
	reasonBadContentType    = "bad_content_type"         // 400: unparsable Content-Type, multipart without boundary
	reasonBadBody           = "bad_body"                 // 400: unreadable body, malformed multipart
	reasonNoPhoto           = "no_photo"                 // 400: empty body, multipart form without a photo field
	reasonNotImage          = "not_image"                // 400: neither JPEG nor PNG nor another known image format
	reasonCorrupt           = "corrupt_image"            // 400: JPEG or PNG that does not decode
	reasonTruncated         = "truncated_image"          // 400: JPEG or PNG cut short
	reasonBodyTooLarge      = "body_too_large"           // 413: body over Options.MaxBodyBytes
	reasonUnsupportedType   = "unsupported_content_type" // 415: Content-Type that cannot carry a photo
	reasonUnsupportedFormat = "unsupported_format"       // 415: GIF, WebP, BMP, TIFF, HEIF/AVIF
	reasonImageTooLarge     = "image_too_large"          // 422: sides, pixels, decoding memory or JPEG scans over the limits
	reasonImageTooSmall     = "image_too_small"          // 422: a side under Options.MinSide
	reasonBodiesInFlight    = "bodies_in_flight"         // 503: Options.MaxBodyBytesInFlight reached
	reasonQueueFull         = "queue_full"               // 503: Options.QueueSize photos already wait
	reasonQueueTimeout      = "queue_timeout"            // 503: no worker within Options.QueueTimeout
	reasonRequestTimeout    = "request_timeout"          // 503: the request took longer than Options.RequestTimeout
	reasonShuttingDown      = "shutting_down"            // 503: the server is closed
	reasonClientGone        = "client_gone"              // 499: the client closed the request
	reasonDetectorFailed    = "detector_failed"          // 500: the detector returned an error or panicked
)

// metrics are a Server's Prometheus metrics, on a registry of its own (several servers in one
// process do not collide), with the Go runtime's and the process's collectors beside them.
type metrics struct {
	reg      *prometheus.Registry
	handler  http.Handler             // GET /metrics
	requests *prometheus.CounterVec   // route, code
	latency  *prometheus.HistogramVec // route
	refusals *prometheus.CounterVec   // code, reason
	inFlight prometheus.Gauge         // requests being handled
	batch    prometheus.Histogram     // photos per detector call
	model    prometheus.Histogram     // seconds per detector call
}

// latencyBuckets are the bucket bounds of the request and model time histograms, in seconds: from
// 1 ms to the default request timeout.
var latencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// batchBuckets are the bucket bounds of the batch size histogram up to maxBatch photos.
func batchBuckets(maxBatch int) []float64 {
	var b []float64
	for _, n := range []int{1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64} {
		if n < maxBatch {
			b = append(b, float64(n))
		}
	}
	return append(b, float64(maxBatch))
}

func newMetrics(s *Server) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	maxBatch := 1
	if s.batch != nil {
		maxBatch = s.opt.MaxBatch
	}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "catmark_http_requests_total",
		Help: "HTTP requests answered, by route (/v1/landmarks, /healthz, /readyz, /metrics, / or other) and status code.",
	}, []string{"route", "code"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "catmark_http_request_duration_seconds",
		Help:    "Time from receiving a request's header to writing its answer, by route.",
		Buckets: latencyBuckets,
	}, []string{"route"})
	m.refusals = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "catmark_refusals_total",
		Help: "Photo requests answered with an error, by status code and reason (body_too_large, corrupt_image, queue_full, …).",
	}, []string{"code", "reason"})
	m.inFlight = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "catmark_http_requests_in_flight",
		Help: "Requests being handled now.",
	})
	m.batch = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "catmark_batch_size",
		Help:    "Photos per detector call.",
		Buckets: batchBuckets(maxBatch),
	})
	m.model = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "catmark_model_duration_seconds",
		Help:    "Time of one detector call (one photo, or a batch of catmark_batch_size photos).",
		Buckets: latencyBuckets,
	})
	m.reg.MustRegister(m.requests, m.latency, m.refusals, m.inFlight, m.batch, m.model,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "catmark_queue_depth",
			Help: "Photos waiting for a worker.",
		}, func() float64 { return float64(len(s.jobs)) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "catmark_queue_capacity",
			Help: "Photos that may wait for a worker (Options.QueueSize); more get 503.",
		}, func() float64 { return float64(cap(s.jobs)) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "catmark_workers",
			Help: "Workers running, each decoding and detecting one photo or batch at a time.",
		}, func() float64 { return float64(s.running.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "catmark_body_in_flight_bytes",
			Help: "Request body bytes held in memory by all requests together.",
		}, func() float64 { return float64(s.body.inUse()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "catmark_body_in_flight_limit_bytes",
			Help: "Limit of catmark_body_in_flight_bytes (Options.MaxBodyBytesInFlight); requests over it get 503.",
		}, func() float64 { return float64(s.opt.MaxBodyBytesInFlight) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "catmark_ready",
			Help: "1 when the server can take a photo now (GET /readyz answers 200), else 0.",
		}, func() float64 {
			if s.notReady() != "" {
				return 0
			}
			return 1
		}),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:      slogErrorLog{s},
		ErrorHandling: promhttp.ContinueOnError,
	})
	return m
}

// slogErrorLog sends the errors of gathering metrics to the server's log.
type slogErrorLog struct{ s *Server }

func (l slogErrorLog) Println(v ...any) {
	l.s.log.Warn("gathering metrics", "error", strings.TrimSpace(fmt.Sprintln(v...)))
}

// observe counts one answered request: its route, status, refusal reason ("" for none) and
// time.
func (m *metrics) observe(route string, status int, reason string, d time.Duration) {
	code := strconv.Itoa(status)
	m.requests.WithLabelValues(route, code).Inc()
	m.latency.WithLabelValues(route).Observe(d.Seconds())
	if reason != "" {
		m.refusals.WithLabelValues(code, reason).Inc()
	}
}

// observeBatch records one detector call on n photos that took d.
func (m *metrics) observeBatch(n int, d time.Duration) {
	m.batch.Observe(float64(n))
	m.model.Observe(d.Seconds())
}

// routes are the paths the server answers; any other is the route "other" in the metrics.
var routes = []string{"/v1/landmarks", "/healthz", "/readyz", "/metrics", "/"}

// routeLabel is the route label of a request for path: the path itself when the server answers
// it, else "other" (so that unknown paths cannot grow the metrics without bound).
func routeLabel(path string) string {
	if slices.Contains(routes, path) {
		return path
	}
	return "other"
}
