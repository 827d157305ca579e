// Package server serves a cat-face landmark detector over HTTP, with a web page to try it.
//
// Routes:
//
//	POST /v1/landmarks  one photo in, one catmark.Record (JSON) out
//	GET  /healthz       liveness: {"status":"ok", …} and the detector's Info, where it has one;
//	                    200 whenever the process answers
//	GET  /readyz        readiness: 200 {"status":"ready", …} when the server can take a photo
//	                    now; 503 {"status":"not ready","reason":"…"} when it is closed or
//	                    shutting down, has no detector or worker, its queue is full or the
//	                    request bodies in memory reach Options.MaxBodyBytesInFlight
//	GET  /metrics       Prometheus metrics (text exposition format), all named catmark_…
//	                    beside the Go runtime's go_… and the process's process_…
//	GET  /              a small web page: drop a photo, see the nine points drawn on it
//
// Every answer carries an X-Request-ID header: the client's own when it sent a sane one (1 to
// MaxRequestIDLen visible ASCII characters), else a new random one. The request's log line
// carries it as request_id, and RequestID reads it from the request's context.
//
// The metrics count requests by route and status code (catmark_http_requests_total), time them
// by route (catmark_http_request_duration_seconds), count refused photos by status code and
// reason (catmark_refusals_total), follow the queue (catmark_queue_depth, catmark_queue_capacity),
// the workers (catmark_workers), the request bodies in memory (catmark_body_in_flight_bytes) and
// readiness (catmark_ready), and measure every detector call: its photos (catmark_batch_size) and
// its time (catmark_model_duration_seconds). Each Server has a registry of its own. The refusal
// reasons, by status code:
//
//	400  bad_content_type, bad_body, no_photo, not_image, corrupt_image, truncated_image
//	413  body_too_large
//	415  unsupported_content_type, unsupported_format
//	422  image_too_large, image_too_small
//	499  client_gone (the client left before its answer)
//	500  detector_failed
//	503  bodies_in_flight, queue_full, queue_timeout, request_timeout, shutting_down
//
// The photo is the raw request body (Content-Type image/jpeg, image/png, any other image/*,
// application/octet-stream, or none) or the file field "photo" (also "file" or "image") of a
// multipart/form-data body. JPEG and PNG are accepted; the bytes decide the format, not the
// Content-Type. The name reported in Record.Path is the multipart file name, else the query
// parameter "name", else the filename of a Content-Disposition header, else "upload".
//
// Every error is JSON, {"error": "…"}, with these statuses:
//
//	400  empty body, not an image, corrupt or truncated JPEG/PNG, multipart form without a photo
//	404  unknown path
//	405  wrong method (the Allow header lists the right one)
//	413  body larger than Options.MaxBodyBytes
//	415  Content-Type that cannot carry a photo (text/plain, application/json, …) or an image
//	     format other than JPEG and PNG (GIF, WebP, BMP, TIFF)
//	422  image larger than Options.MaxSide pixels a side or Options.MaxPixels in all, smaller
//	     than Options.MinSide a side, whose decoding would take more than
//	     Options.MaxDecodedBytes, or a JPEG of more scans than imgproc.DefaultLimits allows;
//	     all checked from the header, before any pixel is decoded
//	500  the detector failed (the reason goes to the log, not to the client)
//	503  the request bodies in memory already reach Options.MaxBodyBytesInFlight, the queue is
//	     full, no worker was free within Options.QueueTimeout, the request took longer than
//	     Options.RequestTimeout, or the server is closed (with Retry-After)
//
// Photos wait in a bounded queue for one of Options.Workers workers; a worker decodes the photo
// and runs the detector, so at most Workers photos are decoded at a time (MaxBatch times that
// when batching, the photos of a batch together within MaxDecodedBytes). Decoding and detection stop when the request ends (timeout or client gone).
// A photo is turned as its EXIF orientation says (imgproc.ReadOrientation) before detection,
// so that the points, width and height are those of the photo as browsers show it (the web page
// draws them on it); Options.IgnoreOrientation keeps the stored pixel grid instead.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/catmark/catmark"
	"github.com/catmark/catmark/imgproc"
)

// Detector finds the cats' faces on one decoded photo, best first: at least one, each with its
// nine points in the photo's pixel coordinates and its presence (NaN when the detector cannot
// say), as catmark.Detector's DetectAll gives them. Detect may be called from several goroutines
// at once (up to Options.Workers).
type Detector interface {
	Detect(ctx context.Context, img image.Image) ([]catmark.Face, error)
}

// BatchDetector is a Detector that can also process several photos in one call, which a model
// usually does faster per photo than one at a time. The server finds it by type assertion and
// then gathers concurrent requests into batches (see Options.MaxBatch and Options.BatchWindow).
// DetectBatch returns each image's faces, in order.
//
// Batching was measured to pay with a fake model whose batch of n photos burns 0.8 ms + n·1.6 ms
// of CPU (PyTorch's ResNet-18 inference here, scaled down 10×: its cost per photo shrinks with
// the batch), one worker, 20 clients, on the 2 shared cores of the development machine
// (BenchmarkBatching): 230–260 req/s one photo per call against 285–345 req/s in batches of
// 8 (median latency 75–80 ms against 60–70 ms). Under heavy contention from other processes
// the gain shrank and once reversed. A lone request waits at most Options.BatchWindow longer.
type BatchDetector interface {
	Detector
	DetectBatch(ctx context.Context, imgs []image.Image) ([][]catmark.Face, error)
}

// Informer is implemented by a detector that describes itself (model name, input size, …);
// GET /healthz reports the map under "model".
type Informer interface {
	Info() map[string]string
}

// Options configures a Server. Zero fields take the defaults given.
type Options struct {
	MaxBodyBytes int64 // largest request body; default 20 MiB
	// MaxBodyBytesInFlight bounds the request body bytes held in memory by all requests
	// together, from reading to answering; a request that would go over it gets 503. A body
	// with a Content-Length reserves it before reading; one without grows its share as it
	// reads. Default 256 MiB.
	MaxBodyBytesInFlight int64
	MaxSide              int   // largest width or height in pixels; default 8000
	MaxPixels            int64 // largest width×height; default 40,000,000
	MinSide              int   // smallest width and height in pixels; default 16 (catmark.MinSide)
	// MaxDecodedBytes bounds the memory of decoding one photo, estimated from its header
	// (see imgproc.Limits); default 256 MiB.
	MaxDecodedBytes int64

	Workers     int           // photos decoded and detected at once; default GOMAXPROCS
	QueueSize   int           // photos waiting for a worker beyond which requests get 503; default 64
	MaxBatch    int           // largest batch for a BatchDetector; default 8 (1 turns batching off)
	BatchWindow time.Duration // how long a worker waits to fill a batch; default 2ms

	QueueTimeout   time.Duration // longest wait for a worker before 503; default 10s
	RequestTimeout time.Duration // longest time for a whole request (queue, decode, detect); default 30s

	Logger *slog.Logger // request log; default slog.Default()

	// IgnoreOrientation keeps each photo's stored pixel grid, ignoring its EXIF orientation:
	// points are then in the stored pixels, not in the photo as browsers show it.
	IgnoreOrientation bool
}

func (o Options) withDefaults() Options {
	def := imgproc.DefaultLimits
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = def.MaxBytes
	}
	if o.MaxBodyBytesInFlight <= 0 {
		o.MaxBodyBytesInFlight = 256 << 20
	}
	if o.MaxSide <= 0 {
		o.MaxSide = def.MaxSide
	}
	if o.MaxPixels <= 0 {
		o.MaxPixels = def.MaxPixels
	}
	if o.MinSide <= 0 {
		o.MinSide = 16
	}
	if o.MaxDecodedBytes <= 0 {
		o.MaxDecodedBytes = def.MaxDecodedBytes
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 64
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 8
	}
	if o.BatchWindow <= 0 {
		o.BatchWindow = 2 * time.Millisecond
	}
	if o.QueueTimeout <= 0 {
		o.QueueTimeout = 10 * time.Second
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// limits are the decoding limits of o (defaults filled in).
func (o Options) limits() imgproc.Limits {
	l := imgproc.DefaultLimits
	l.MaxBytes, l.MaxSide, l.MaxPixels, l.MinSide, l.MaxDecodedBytes = o.MaxBodyBytes, o.MaxSide, o.MaxPixels, o.MinSide, o.MaxDecodedBytes
	l.IgnoreOrientation = o.IgnoreOrientation
	return l
}

// Server is the HTTP handler of the landmark service. Make one with New; it starts its workers at
// once, and Close stops them.
type Server struct {
	det   Detector
	batch BatchDetector // det as a BatchDetector, nil when it is not one or MaxBatch is 1
	opt   Options
	lim   imgproc.Limits
	log   *slog.Logger
	body  *bodyBudget

	jobs      chan *job
	done      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
	running   atomic.Int32 // workers running
	draining  atomic.Bool  // shutting down: /readyz answers 503
	metrics   *metrics
}

// New returns a Server that finds landmarks with det. Batching is used when det implements
// BatchDetector and opt.MaxBatch is not 1.
func New(det Detector, opt Options) *Server {
	opt = opt.withDefaults()
	s := &Server{
		det:  det,
		opt:  opt,
		lim:  opt.limits(),
		log:  opt.Logger,
		body: &bodyBudget{limit: opt.MaxBodyBytesInFlight},
		jobs: make(chan *job, opt.QueueSize),
		done: make(chan struct{}),
	}
	if bd, ok := det.(BatchDetector); ok && opt.MaxBatch > 1 {
		s.batch = bd
	}
	s.metrics = newMetrics(s)
	s.running.Store(int32(opt.Workers))
	s.wg.Add(opt.Workers)
	for range opt.Workers {
		go s.worker()
	}
	return s
}

// Options returns the options in effect, defaults filled in.
func (s *Server) Options() Options { return s.opt }

// Close stops the workers; requests still queued and those that arrive later get 503, and so does
// GET /readyz. It waits
// for the photos being processed to finish. Close is safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.beginShutdown()
		close(s.done)
	})
	s.wg.Wait()
	return nil
}

// ServeHTTP routes a request; see the package documentation for the routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	id := requestID(r)
	w.Header().Set(RequestIDHeader, id)
	r = r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id))
	s.metrics.inFlight.Inc()
	defer s.metrics.inFlight.Dec()
	rec := &statusWriter{ResponseWriter: w}
	switch r.URL.Path {
	case "/v1/landmarks":
		if r.Method != http.MethodPost {
			methodNotAllowed(rec, r, "POST")
			break
		}
		s.landmarks(rec, r)
	case "/healthz":
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			methodNotAllowed(rec, r, "GET, HEAD")
			break
		}
		s.health(rec)
	case "/readyz":
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			methodNotAllowed(rec, r, "GET, HEAD")
			break
		}
		s.ready(rec)
	case "/metrics":
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			methodNotAllowed(rec, r, "GET, HEAD")
			break
		}
		s.metrics.handler.ServeHTTP(rec, r)
	case "/":
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			methodNotAllowed(rec, r, "GET, HEAD")
			break
		}
		servePage(rec)
	default:
		writeError(rec, http.StatusNotFound, fmt.Sprintf("no such path %q; the API is POST /v1/landmarks, GET /healthz, GET /readyz, GET /metrics and the page at /", r.URL.Path))
	}
	if rec.status == 0 { // nothing written: net/http answers 200
		rec.status = http.StatusOK
	}
	s.metrics.observe(routeLabel(r.URL.Path), rec.status, rec.reason, time.Since(start))
	level := slog.LevelInfo
	if rec.status >= 500 {
		level = slog.LevelWarn
	}
	attrs := []slog.Attr{
		slog.String("request_id", id), slog.String("method", r.Method), slog.String("path", r.URL.Path),
		slog.Int("status", rec.status), slog.Duration("duration", time.Since(start)),
		slog.Int64("bytes_in", r.ContentLength), slog.String("remote", r.RemoteAddr),
	}
	if rec.errMsg != "" {
		attrs = append(attrs, slog.String("error", rec.errMsg))
	}
	if rec.cause != nil {
		attrs = append(attrs, slog.String("cause", rec.cause.Error()))
	}
	s.log.LogAttrs(r.Context(), level, "request", attrs...)
}

func (s *Server) health(w *statusWriter) {
	h := struct {
		Status   string            `json:"status"`
		Workers  int               `json:"workers"`
		Queued   int               `json:"queued"`
		MaxBatch int               `json:"max_batch"`
		Model    map[string]string `json:"model,omitempty"`
	}{Status: "ok", Workers: s.opt.Workers, Queued: len(s.jobs), MaxBatch: 1}
	if s.batch != nil {
		h.MaxBatch = s.opt.MaxBatch
	}
	if in, ok := s.det.(Informer); ok {
		h.Model = in.Info()
	}
	writeJSON(w, http.StatusOK, h)
}

// landmarks handles POST /v1/landmarks.
func (s *Server) landmarks(w *statusWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), s.opt.RequestTimeout)
	defer cancel()

	res := &reservation{budget: s.body}
	up, herr := s.readPhoto(w, r, res)
	if herr != nil {
		res.release()
		writeHTTPError(w, herr)
		return
	}
	j := &job{ctx: ctx, data: up.data, format: up.format, name: up.name, decoded: up.decoded, turn: up.turn, done: make(chan outcome, 1), res: res}
	defer j.leave()
	select {
	case <-s.done:
		writeHTTPError(w, unavailable(reasonShuttingDown, "the server is shutting down"))
		return
	default:
	}
	select {
	case s.jobs <- j:
	default:
		writeHTTPError(w, unavailable(reasonQueueFull, fmt.Sprintf("server busy: %d photos already wait for %d workers; try again shortly", cap(s.jobs), s.opt.Workers)))
		return
	}

	queueTimer := time.NewTimer(s.opt.QueueTimeout)
	defer queueTimer.Stop()
	var out outcome
	closed := s.done
	for waiting := true; waiting; {
		select {
		case out = <-j.done:
			waiting = false
		case <-queueTimer.C:
			if j.abandon() {
				writeHTTPError(w, unavailable(reasonQueueTimeout, fmt.Sprintf("server busy: no worker was free within %v; try again shortly", s.opt.QueueTimeout)))
				return
			}
			// A worker took the photo just now; wait for it.
		case <-ctx.Done():
			j.abandon()
			writeHTTPError(w, timeoutError(ctx, s.opt.RequestTimeout))
			return
		case <-closed:
			if j.abandon() { // closed after this photo was queued: no worker will come
				writeHTTPError(w, unavailable(reasonShuttingDown, "the server is shutting down"))
				return
			}
			closed = nil // a worker has it; wait for its answer
		}
	}
	if out.err != nil {
		writeHTTPError(w, out.err)
		return
	}
	writeJSON(w, http.StatusOK, catmark.NewRecord(up.name, up.w, up.h, out.found))
}

// timeoutError says why ctx ended: the request timeout, or the client going away.
func timeoutError(ctx context.Context, limit time.Duration) *httpError {
	if errors.Is(context.Cause(ctx), context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return unavailable(reasonRequestTimeout, fmt.Sprintf("the request took longer than the %v limit", limit))
	}
	return &httpError{status: 499, reason: reasonClientGone, msg: "client closed the request"}
}

// job is one photo waiting for, or held by, a worker.
type job struct {
	ctx    context.Context
	data   []byte
	format string // "jpeg" or "png"
	name   string
	// decoded is the memory decoding the photo takes, estimated from its header; a batch's
	// photos together stay within Options.MaxDecodedBytes.
	decoded int64
	done    chan outcome // buffered: the worker never blocks on it
	res     *reservation // the body bytes it holds; released by whichever of handler and worker is last

	turn imgproc.Orientation // the EXIF orientation decoding applies; Upright for none

	state    sync.Mutex
	taken    bool // a worker took it
	gone     bool // the handler gave up on it
	finished bool // a worker answered it
	left     bool // the handler returned
}

type outcome struct {
	found []catmark.Face
	err   *httpError
}

// take marks j as taken by a worker; false if the handler already gave up on it.
func (j *job) take() bool {
	j.state.Lock()
	defer j.state.Unlock()
	if j.gone || j.ctx.Err() != nil {
		j.gone = true
		return false
	}
	j.taken = true
	return true
}

// answer sends the worker's outcome; the body's bytes are released here when the handler has
// already returned.
func (j *job) answer(out outcome) {
	j.state.Lock()
	j.finished = true
	left := j.left
	j.state.Unlock()
	j.done <- out
	if left {
		j.res.release()
	}
}

// leave marks j's handler as returned, releasing the body's bytes unless a worker still holds
// the photo (it releases them when it answers).
func (j *job) leave() {
	j.state.Lock()
	j.left = true
	release := !j.taken || j.finished
	j.state.Unlock()
	if release {
		j.res.release()
	}
}

// abandon marks j as given up by its handler; false if a worker already took it.
func (j *job) abandon() bool {
	j.state.Lock()
	defer j.state.Unlock()
	if j.taken {
		return false
	}
	j.gone = true
	return true
}

func (s *Server) worker() {
	defer s.wg.Done()
	defer s.running.Add(-1)
	var carry *job // taken by fill but over its batch's decoding budget: the next batch's first
	for {
		j := carry
		carry = nil
		if j == nil {
			select {
			case <-s.done:
				s.drain()
				return
			case j = <-s.jobs:
				if !j.take() {
					continue
				}
			}
		}
		batch := []*job{j}
		if s.batch != nil {
			batch, carry = s.fill(batch)
		}
		s.process(batch)
	}
}

// fill adds queued jobs to batch until it holds MaxBatch, its photos' decoding would take more
// than MaxDecodedBytes, or BatchWindow has passed. A job taken that does not fit is returned
// as carry, to start the next batch.
func (s *Server) fill(batch []*job) (_ []*job, carry *job) {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	decoded := batch[0].decoded
	add := func(j *job) bool {
		if !j.take() {
			return true
		}
		if decoded+j.decoded > s.opt.MaxDecodedBytes {
			carry = j
			return false
		}
		decoded += j.decoded
		batch = append(batch, j)
		return true
	}
	for len(batch) < s.opt.MaxBatch {
		select { // take what is queued already without waiting
		case j := <-s.jobs:
			if !add(j) {
				return batch, carry
			}
			continue
		default:
		}
		if timer == nil {
			timer = time.NewTimer(s.opt.BatchWindow)
		}
		select {
		case j := <-s.jobs:
			if !add(j) {
				return batch, carry
			}
		case <-timer.C:
			return batch, carry
		case <-s.done:
			return batch, carry
		}
	}
	return batch, carry
}

// drain answers the jobs still queued once the server is closed.
func (s *Server) drain() {
	for {
		select {
		case j := <-s.jobs:
			if j.take() {
				j.answer(outcome{err: unavailable(reasonShuttingDown, "the server is shutting down")})
			}
		default:
			return
		}
	}
}

// process decodes the batch's photos and runs the detector on them, answering every job.
func (s *Server) process(batch []*job) {
	imgs := make([]image.Image, len(batch))
	errs := make([]*httpError, len(batch))
	if len(batch) == 1 {
		imgs[0], errs[0] = s.decode(batch[0])
	} else { // decode a batch on all cores: serially it costs as much as the model's share
		var wg sync.WaitGroup
		sem := make(chan struct{}, runtime.GOMAXPROCS(0))
		for i, j := range batch {
			sem <- struct{}{}
			wg.Go(func() {
				imgs[i], errs[i] = s.decode(j)
				<-sem
			})
		}
		wg.Wait()
	}
	live, liveImgs := batch[:0:0], imgs[:0:0]
	for i, j := range batch {
		if errs[i] != nil {
			j.answer(outcome{err: errs[i]})
			continue
		}
		live, liveImgs = append(live, j), append(liveImgs, imgs[i])
	}
	if len(live) == 0 {
		return
	}
	t0 := time.Now()
	found, err := s.detect(live, liveImgs)
	s.metrics.observeBatch(len(live), time.Since(t0))
	for i, j := range live {
		switch {
		case err != nil:
			j.answer(outcome{err: err})
		case len(found[i]) == 0:
			j.answer(outcome{err: detectorFailed(errors.New("the detector returned no face"))})
		default:
			j.answer(outcome{found: found[i]})
		}
	}
}

// detect runs the detector on imgs, one call per image or one batch call, turning a panic or an
// error into a 500 (or a 503 when the request's time ran out).
func (s *Server) detect(jobs []*job, imgs []image.Image) (pts [][]catmark.Face, herr *httpError) {
	defer func() {
		if p := recover(); p != nil {
			pts, herr = nil, detectorFailed(fmt.Errorf("detector panicked: %v", p))
		}
	}()
	if s.batch != nil && len(imgs) > 1 {
		ctx, cancel := batchContext(jobs)
		defer cancel()
		pts, err := s.batch.DetectBatch(ctx, imgs)
		if err != nil {
			return nil, detectError(ctx, err, s.opt.RequestTimeout)
		}
		if len(pts) != len(imgs) {
			return nil, detectorFailed(fmt.Errorf("DetectBatch returned %d results for %d images", len(pts), len(imgs)))
		}
		return pts, nil
	}
	pts = make([][]catmark.Face, len(imgs))
	for i, img := range imgs {
		p, err := s.det.Detect(jobs[i].ctx, img)
		if err != nil {
			return nil, detectError(jobs[i].ctx, err, s.opt.RequestTimeout)
		}
		pts[i] = p
	}
	return pts, nil
}

// batchContext is a context for a batch call: it ends at the latest deadline of the batch's
// requests, so that one impatient request does not cancel the others' work.
func batchContext(jobs []*job) (context.Context, context.CancelFunc) {
	var latest time.Time
	for _, j := range jobs {
		if d, ok := j.ctx.Deadline(); ok && d.After(latest) {
			latest = d
		}
	}
	if latest.IsZero() {
		return context.WithCancel(context.Background())
	}
	return context.WithDeadline(context.Background(), latest)
}

func detectError(ctx context.Context, err error, limit time.Duration) *httpError {
	if ctx.Err() != nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)) {
		return timeoutError(ctx, limit)
	}
	return detectorFailed(err)
}

func detectorFailed(cause error) *httpError {
	return &httpError{status: http.StatusInternalServerError, reason: reasonDetectorFailed, msg: "the landmark detector failed on this photo", cause: cause}
}

// httpError is an error response: its status, its reason (a reason… constant, for the metrics),
// the message the client sees, and an internal cause that only the log sees.
type httpError struct {
	status int
	reason string
	msg    string
	cause  error
}

func (e *httpError) Error() string { return e.msg }

func badRequest(reason, format string, a ...any) *httpError {
	return &httpError{status: http.StatusBadRequest, reason: reason, msg: fmt.Sprintf(format, a...)}
}

func unavailable(reason, msg string) *httpError {
	return &httpError{status: http.StatusServiceUnavailable, reason: reason, msg: msg}
}

// statusWriter remembers the status and error of a response for the request log and metrics.
type statusWriter struct {
	http.ResponseWriter
	status int
	errMsg string
	reason string // an httpError's reason
	cause  error
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil { // cannot happen for the types written here
		status, b = http.StatusInternalServerError, []byte(`{"error":"cannot encode the response"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

func writeError(w *statusWriter, status int, msg string) {
	w.errMsg = msg
	writeJSON(w, status, struct {
		Error string `json:"error"`
	}{msg})
}

func writeHTTPError(w *statusWriter, e *httpError) {
	w.cause, w.reason = e.cause, e.reason
	if e.status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeError(w, e.status, e.msg)
}

func methodNotAllowed(w *statusWriter, r *http.Request, allow string) {
	w.Header().Set("Allow", allow)
	writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s is not allowed on %s; use %s", r.Method, r.URL.Path, allow))
}

// bodyBudget counts the request body bytes held in memory by all requests together.
type bodyBudget struct {
	mu          sync.Mutex
	used, limit int64
}

// take reserves n bytes; false, reserving nothing, when that would pass the limit.
func (b *bodyBudget) take(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.limit {
		return false
	}
	b.used += n
	return true
}

func (b *bodyBudget) give(n int64) {
	b.mu.Lock()
	b.used -= n
	b.mu.Unlock()
}

// inUse returns the bytes reserved now.
func (b *bodyBudget) inUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// reservation is one request's share of a bodyBudget.
type reservation struct {
	budget *bodyBudget
	mu     sync.Mutex
	n      int64
}

// grow makes the reservation at least n bytes; false when the budget cannot give them.
func (r *reservation) grow(n int64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n <= r.n {
		return true
	}
	if !r.budget.take(n - r.n) {
		return false
	}
	r.n = n
	return true
}

// release gives the reservation back; it may be called more than once.
func (r *reservation) release() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.budget.give(r.n)
	r.n = 0
}
