package server

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"hash/crc32"
	"image"
	"image/color/palette"
	"image/gif"
	"image/jpeg"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/catmark/catmark"
	"github.com/catmark/catmark/landmark"
)

func newServer(t *testing.T, det Detector, opt Options) *Server {
	t.Helper()
	if opt.Logger == nil {
		opt.Logger = quietLogger()
	}
	s := New(det, opt)
	t.Cleanup(func() { s.Close() })
	return s
}

// do sends one request to h and returns the status and body.
func do(t *testing.T, h http.Handler, req *http.Request) (int, []byte, http.Header) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.Bytes(), rec.Header()
}

func post(body []byte, contentType string) *http.Request {
	req := httptest.NewRequest(http.MethodPost, "/v1/landmarks", bytes.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return req
}

// multipartBody builds a multipart form with one file field, plus a text field before it.
func multipartBody(t *testing.T, field, filename string, data []byte) ([]byte, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if err := mw.WriteField("comment", "a cat"); err != nil {
		t.Fatal(err)
	}
	if field != "" {
		fw, err := mw.CreateFormFile(field, filename)
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(data)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), mw.FormDataContentType()
}

func decodeResult(t *testing.T, body []byte) catmark.Record {
	t.Helper()
	var r catmark.Record
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("answer is not a catmark.Record: %v: %s", err, body)
	}
	return r
}

func errorMessage(t *testing.T, body []byte) string {
	t.Helper()
	var e map[string]any
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error answer is not JSON: %v: %s", err, body)
	}
	msg, ok := e["error"].(string)
	if !ok || len(e) != 1 {
		t.Fatalf(`error answer is not {"error": "…"}: %s`, body)
	}
	return msg
}

// The points that the template detector gives a 200×100 photo, worked out by hand from
// faceTemplate (twentieths of 200 and of 100).
var want200x100 = []landmark.Named{
	{Name: "left_eye", X: 70, Y: 45},
	{Name: "right_eye", X: 130, Y: 45},
	{Name: "mouth", X: 100, Y: 65},
	{Name: "left_ear_outer_base", X: 40, Y: 35},
	{Name: "left_ear_tip", X: 50, Y: 10},
	{Name: "left_ear_inner_base", X: 80, Y: 30},
	{Name: "right_ear_inner_base", X: 120, Y: 30},
	{Name: "right_ear_tip", X: 150, Y: 10},
	{Name: "right_ear_outer_base", X: 160, Y: 35},
}

func TestLandmarksPNG(t *testing.T) {
	s := newServer(t, templateDetector{}, Options{})
	png200 := makePNG(t, 200, 100)
	mp, mpType := multipartBody(t, "photo", "kitty.png", png200)
	mpFile, mpFileType := multipartBody(t, "file", "dir/other.png", png200)
	mpImage, mpImageType := multipartBody(t, "image", "third.png", png200)
	named := post(png200, "image/png")
	named.URL.RawQuery = "name=mycat.png"
	disp := post(png200, "application/octet-stream")
	disp.Header.Set("Content-Disposition", `attachment; filename="from-header.png"`)

	for _, tc := range []struct {
		name     string
		req      *http.Request
		wantPath string
	}{
		{"raw image/png", post(png200, "image/png"), "upload"},
		{"raw octet-stream", post(png200, "application/octet-stream"), "upload"},
		{"raw without Content-Type", post(png200, ""), "upload"},
		{"raw with wrong image type", post(png200, "image/jpeg"), "upload"},
		{"raw named by query", named, "mycat.png"},
		{"raw named by Content-Disposition", disp, "from-header.png"},
		{"multipart photo", post(mp, mpType), "kitty.png"},
		{"multipart file", post(mpFile, mpFileType), "other.png"},
		{"multipart image", post(mpImage, mpImageType), "third.png"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body, hdr := do(t, s, tc.req)
			if code != http.StatusOK {
				t.Fatalf("status %d, want 200: %s", code, body)
			}
			if ct := hdr.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q, want application/json", ct)
			}
			r := decodeResult(t, body)
			if r.Path != tc.wantPath || r.Width != 200 || r.Height != 100 {
				t.Errorf("path, size = %q, %d×%d; want %q, 200×100", r.Path, r.Width, r.Height, tc.wantPath)
			}
			if len(r.Points) != len(want200x100) {
				t.Fatalf("%d points, want 9", len(r.Points))
			}
			for i, p := range r.Points {
				if p != want200x100[i] {
					t.Errorf("point %d = %+v, want %+v", i, p, want200x100[i])
				}
			}
		})
	}
}

// The face presence is in the JSON when the detector gives one, and absent when it cannot say.
func TestLandmarksFace(t *testing.T) {
	face := 0.25
	for _, tc := range []struct {
		name string
		face *float64
		want string
	}{
		{"with presence", &face, `"face":0.25`},
		{"without", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t, fixedDetector{p: templatePoints(200, 100), face: tc.face}, Options{})
			code, body, _ := do(t, s, post(makePNG(t, 200, 100), "image/png"))
			if code != http.StatusOK {
				t.Fatalf("status %d: %s", code, body)
			}
			has := strings.Contains(string(body), `"face"`)
			if tc.want == "" && has || tc.want != "" && !strings.Contains(string(body), tc.want) {
				t.Errorf("body %s; want face %q", body, tc.want)
			}
			if r := decodeResult(t, body); (r.Presence == nil) != (tc.face == nil) || r.Presence != nil && *r.Presence != *tc.face {
				t.Errorf("decoded face %v, want %v", r.Presence, tc.face)
			}
		})
	}
}

func TestLandmarksCatJPEG(t *testing.T) {
	path, data := catPhoto(t)
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	s := newServer(t, templateDetector{}, Options{})
	mp, mpType := multipartBody(t, "photo", filepath.Base(path), data)
	for _, req := range []*http.Request{post(data, "image/jpeg"), post(mp, mpType)} {
		code, body, _ := do(t, s, req)
		if code != http.StatusOK {
			t.Fatalf("status %d, want 200: %s", code, body)
		}
		r := decodeResult(t, body)
		if r.Width != cfg.Width || r.Height != cfg.Height {
			t.Errorf("size %d×%d, want %d×%d", r.Width, r.Height, cfg.Width, cfg.Height)
		}
		for i, p := range r.Points {
			wx, wy := float64(cfg.Width)*faceTemplate[i][0]/20, float64(cfg.Height)*faceTemplate[i][1]/20
			if p.Name != landmark.Names[i] || p.X != wx || p.Y != wy {
				t.Errorf("point %d = %+v, want %s (%g, %g)", i, p, landmark.Names[i], wx, wy)
			}
		}
	}
}

// pngHeader is a PNG with only a signature and an IHDR chunk claiming w×h RGB pixels: enough for
// DecodeConfig, while decoding its pixels would fail.
func pngHeader(w, h uint32) []byte {
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 2 // 8 bits, RGB
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	binary.Write(&b, binary.BigEndian, uint32(len(ihdr)))
	chunk := append([]byte("IHDR"), ihdr...)
	b.Write(chunk)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(chunk))
	return b.Bytes()
}

func makeGIF(t *testing.T) []byte {
	var buf bytes.Buffer
	if err := gif.Encode(&buf, image.NewPaletted(image.Rect(0, 0, 8, 8), palette.Plan9), nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestLandmarksErrors(t *testing.T) {
	_, cat := catPhoto(t)
	png64 := makePNG(t, 64, 48)
	noPhoto, noPhotoType := multipartBody(t, "", "", nil)
	wrongField, wrongFieldType := multipartBody(t, "picture", "cat.png", png64)
	chunked := post(bytes.Repeat([]byte{0xff, 0xd8, 0xff}, 2000), "image/jpeg")
	chunked.ContentLength = -1 // the limit must hold without a Content-Length too
	bigMultipart, bigMultipartType := multipartBody(t, "photo", "big.jpg", bytes.Repeat([]byte{1}, 5000))
	// A JPEG of full length whose scan data is overwritten: its header is fine, its pixels are not.
	corruptScan := bytes.Clone(cat)
	sos := bytes.Index(cat, []byte{0xff, 0xda})
	for k := sos + 20; k < sos+2000; k++ {
		corruptScan[k] = 0xff
	}
	// A JPEG whose frame header (SOF0) claims 7 colour components: its header is broken.
	corruptHeader := bytes.Clone(cat)
	corruptHeader[bytes.Index(cat, []byte{0xff, 0xc0})+9] = 7

	for _, tc := range []struct {
		name    string
		opt     Options
		req     *http.Request
		status  int
		mention []string // words the error message must contain
	}{
		{"empty body", Options{}, post(nil, "image/jpeg"), 400, []string{"empty"}},
		{"text as image/jpeg", Options{}, post([]byte("hello, I am not a cat"), "image/jpeg"), 400, []string{"not a JPEG or PNG", "text/plain"}},
		{"corrupt JPEG pixels", Options{}, post(corruptScan, "image/jpeg"), 400, []string{"corrupt JPEG", "0xff00"}},
		{"corrupt JPEG header", Options{}, post(corruptHeader, "image/jpeg"), 400, []string{"corrupt JPEG", "SOF"}},
		{"JPEG magic and text", Options{}, post([]byte("\xff\xd8\xff\xe0 and then some text"), "image/jpeg"), 400, []string{"JPEG"}},
		{"truncated JPEG", Options{}, post(cat[:len(cat)/2], "image/jpeg"), 400, []string{"truncated JPEG"}},
		{"truncated PNG", Options{}, post(png64[:len(png64)-40], "image/png"), 400, []string{"truncated PNG"}},
		{"PNG header only", Options{}, post(pngHeader(20, 20), "image/png"), 400, []string{"PNG"}},
		{"zero-sized PNG", Options{}, post(pngHeader(0, 10), "image/png"), 400, []string{"PNG"}},
		{"multipart without a photo", Options{}, post(noPhoto, noPhotoType), 400, []string{`"photo"`, `"comment"`}},
		{"multipart with another field name", Options{}, post(wrongField, wrongFieldType), 400, []string{`"photo"`, `"picture"`}},
		{"multipart without boundary", Options{}, post(png64, "multipart/form-data"), 400, []string{"boundary"}},
		{"malformed multipart", Options{}, post([]byte("this is not multipart"), "multipart/form-data; boundary=xyz"), 400, []string{"multipart"}},
		{"bad Content-Type", Options{}, post(png64, "image/png; ===="), 400, []string{"Content-Type"}},
		{"text/plain", Options{}, post([]byte("hello"), "text/plain"), 415, []string{"text/plain", "JPEG or PNG"}},
		{"application/json", Options{}, post([]byte(`{"image": "…"}`), "application/json"), 415, []string{"application/json"}},
		{"GIF", Options{}, post(makeGIF(t), "image/gif"), 415, []string{"GIF"}},
		{"GIF as octet-stream", Options{}, post(makeGIF(t), "application/octet-stream"), 415, []string{"GIF"}},
		{"WebP", Options{}, post([]byte("RIFF\x10\x00\x00\x00WEBPVP8 "), "image/webp"), 415, []string{"WebP"}},
		{"body over the limit (Content-Length)", Options{MaxBodyBytes: 4 << 10}, post(cat, "image/jpeg"), 413, []string{"4 KiB"}},
		{"body over the limit (chunked)", Options{MaxBodyBytes: 1000}, chunked, 413, []string{"1000 bytes"}},
		{"multipart over the limit", Options{MaxBodyBytes: 4 << 10}, func() *http.Request {
			r := post(bigMultipart, bigMultipartType)
			r.ContentLength = -1
			return r
		}(), 413, []string{"4 KiB"}},
		{"wider than MaxSide", Options{MaxSide: 100}, post(cat, "image/jpeg"), 422, []string{"too large", "100 pixels a side"}},
		{"more than MaxPixels", Options{MaxPixels: 3000}, post(png64, "image/png"), 422, []string{"64×48", "0.003 megapixels"}},
		// 50,000² pixels would take 7.5 GB to decode: the header check must refuse it first.
		{"huge PNG header", Options{}, post(pngHeader(50000, 50000), "image/png"), 422, []string{"50000×50000"}},
		{"GET on the API", Options{}, httptest.NewRequest(http.MethodGet, "/v1/landmarks", nil), 405, []string{"GET", "POST"}},
		{"POST on healthz", Options{}, httptest.NewRequest(http.MethodPost, "/healthz", nil), 405, []string{"POST"}},
		{"DELETE on the page", Options{}, httptest.NewRequest(http.MethodDelete, "/", nil), 405, []string{"DELETE"}},
		{"unknown path", Options{}, httptest.NewRequest(http.MethodGet, "/v2/landmarks", nil), 404, []string{"/v2/landmarks"}},
		{"unknown file", Options{}, httptest.NewRequest(http.MethodGet, "/index.html", nil), 404, []string{"/index.html"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t, templateDetector{}, tc.opt)
			code, body, hdr := do(t, s, tc.req)
			if code != tc.status {
				t.Fatalf("status %d, want %d: %s", code, tc.status, body)
			}
			msg := errorMessage(t, body)
			for _, m := range tc.mention {
				if !strings.Contains(msg, m) {
					t.Errorf("error %q does not mention %q", msg, m)
				}
			}
			if code == 405 && hdr.Get("Allow") == "" {
				t.Error("405 without an Allow header")
			}
		})
	}
}

func TestDetectorFailure(t *testing.T) {
	png64 := makePNG(t, 64, 48)
	for _, tc := range []struct {
		name string
		det  Detector
	}{
		{"error", funcDetector(func(context.Context, image.Image) ([]catmark.Face, error) {
			return nil, errInternal
		})},
		{"no face", funcDetector(func(context.Context, image.Image) ([]catmark.Face, error) {
			return nil, nil
		})},
		{"panic", funcDetector(func(context.Context, image.Image) ([]catmark.Face, error) {
			panic(errInternal)
		})},
		{"batch of the wrong length", &batchTemplate{wrongCount: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logBuf syncBuffer
			s := newServer(t, tc.det, Options{Workers: 1, Logger: slog.New(slog.NewTextHandler(&logBuf, nil)), BatchWindow: 50 * time.Millisecond})
			// Two requests at once, so that the batch detector gets a batch of two.
			var wg sync.WaitGroup
			for range 2 {
				wg.Go(func() {
					code, body, _ := do(t, s, post(png64, "image/png"))
					if code != http.StatusInternalServerError {
						t.Errorf("status %d, want 500: %s", code, body)
						return
					}
					msg := errorMessage(t, body)
					if strings.Contains(msg, "tensor") || strings.Contains(msg, "DetectBatch") {
						t.Errorf("error %q shows the detector's internals", msg)
					}
				})
			}
			wg.Wait()
			if !strings.Contains(logBuf.String(), "status=500") || !strings.Contains(logBuf.String(), "cause=") {
				t.Errorf("the log does not record the failure's cause:\n%s", logBuf.String())
			}
		})
	}
}

func TestQueueFull(t *testing.T) {
	det := newBlocking()
	s := newServer(t, det, Options{Workers: 1, QueueSize: 1})
	png64 := makePNG(t, 64, 48)
	codes := make(chan int, 2)
	send := func() {
		code, body, _ := do(t, s, post(png64, "image/png"))
		if code != 200 {
			t.Logf("answer: %s", body)
		}
		codes <- code
	}
	go send()
	<-det.started // the only worker is busy
	go send()
	waitFor(t, func() bool { return len(s.jobs) == 1 }) // the queue's one place is taken
	code, body, hdr := do(t, s, post(png64, "image/png"))
	if code != http.StatusServiceUnavailable {
		t.Fatalf("status %d with a full queue, want 503: %s", code, body)
	}
	if msg := errorMessage(t, body); !strings.Contains(msg, "busy") {
		t.Errorf("error %q does not say the server is busy", msg)
	}
	if hdr.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	close(det.release)
	for range 2 {
		if c := <-codes; c != http.StatusOK {
			t.Errorf("a request that got a place: status %d, want 200", c)
		}
	}
}

func TestQueueTimeout(t *testing.T) {
	det := newBlocking()
	s := newServer(t, det, Options{Workers: 1, QueueTimeout: 50 * time.Millisecond})
	png64 := makePNG(t, 64, 48)
	first := make(chan int, 1)
	go func() {
		code, _, _ := do(t, s, post(png64, "image/png"))
		first <- code
	}()
	<-det.started
	t0 := time.Now()
	code, body, _ := do(t, s, post(png64, "image/png"))
	if code != http.StatusServiceUnavailable {
		t.Fatalf("status %d after waiting for a worker, want 503: %s", code, body)
	}
	if msg := errorMessage(t, body); !strings.Contains(msg, "no worker was free within 50ms") {
		t.Errorf("error %q does not give the queue timeout", msg)
	}
	if d := time.Since(t0); d < 50*time.Millisecond {
		t.Errorf("answered after %v, before the 50ms queue timeout", d)
	}
	close(det.release)
	if c := <-first; c != http.StatusOK {
		t.Errorf("the request holding the worker: status %d, want 200", c)
	}
	// The abandoned photo must not reach the detector once the worker is free.
	select {
	case <-det.started:
		t.Error("the detector ran on a photo whose request had given up")
	case <-time.After(50 * time.Millisecond):
	}
}

func TestRequestTimeout(t *testing.T) {
	png64 := makePNG(t, 64, 48)
	for _, tc := range []struct {
		name string
		det  Detector
	}{
		{"detector honours ctx", newBlocking()},
		{"detector ignores ctx", templateDetector{cost: 300 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t, tc.det, Options{RequestTimeout: 60 * time.Millisecond})
			t0 := time.Now()
			code, body, _ := do(t, s, post(png64, "image/png"))
			if code != http.StatusServiceUnavailable {
				t.Fatalf("status %d, want 503: %s", code, body)
			}
			if msg := errorMessage(t, body); !strings.Contains(msg, "longer than the 60ms limit") {
				t.Errorf("error %q does not give the request timeout", msg)
			}
			if d := time.Since(t0); d > 250*time.Millisecond {
				t.Errorf("answered after %v; the limit was 60ms", d)
			}
		})
	}
}

func TestClosedServer(t *testing.T) {
	s := newServer(t, templateDetector{}, Options{})
	s.Close()
	code, body, _ := do(t, s, post(makePNG(t, 16, 16), "image/png"))
	if code != http.StatusServiceUnavailable {
		t.Fatalf("status %d after Close, want 503: %s", code, body)
	}
	if msg := errorMessage(t, body); !strings.Contains(msg, "shutting down") {
		t.Errorf("error %q does not say the server is shutting down", msg)
	}
}

// A photo queued when the server closes gets 503 at once, while the one being processed finishes.
func TestCloseWithQueue(t *testing.T) {
	det := newBlocking()
	s := newServer(t, det, Options{Workers: 1})
	png64 := makePNG(t, 64, 48)
	running := make(chan int, 1)
	go func() {
		code, _, _ := do(t, s, post(png64, "image/png"))
		running <- code
	}()
	<-det.started
	queued := make(chan int, 1)
	go func() {
		code, _, _ := do(t, s, post(png64, "image/png"))
		queued <- code
	}()
	waitFor(t, func() bool { return len(s.jobs) == 1 })
	closed := make(chan struct{})
	go func() { s.Close(); close(closed) }()
	select {
	case code := <-queued:
		if code != http.StatusServiceUnavailable {
			t.Errorf("queued photo after Close: status %d, want 503", code)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("queued photo not answered within 2 s of Close")
	}
	close(det.release)
	if code := <-running; code != http.StatusOK {
		t.Errorf("photo being processed at Close: status %d, want 200", code)
	}
	<-closed
}

func TestBatching(t *testing.T) {
	det := &batchTemplate{}
	s := newServer(t, det, Options{Workers: 1, MaxBatch: 4, BatchWindow: 200 * time.Millisecond})
	const n = 9
	type answer struct {
		code int
		body []byte
	}
	answers := make([]answer, n)
	var wg sync.WaitGroup
	for i := range n {
		data := makePNG(t, 40+i, 30+2*i) // a size of its own, so each answer shows whose it is
		if i == 4 {
			data = data[:len(data)-30] // truncated: fails to decode inside its batch
		}
		wg.Go(func() {
			code, body, _ := do(t, s, post(data, "image/png"))
			answers[i] = answer{code, body}
		})
	}
	wg.Wait()
	for i, a := range answers {
		if i == 4 {
			if a.code != http.StatusBadRequest {
				t.Errorf("truncated photo in a batch: status %d, want 400: %s", a.code, a.body)
			}
			continue
		}
		if a.code != http.StatusOK {
			t.Errorf("photo %d: status %d, want 200: %s", i, a.code, a.body)
			continue
		}
		r := decodeResult(t, a.body)
		w, h := 40+i, 30+2*i
		if r.Width != w || r.Height != h {
			t.Errorf("photo %d: size %d×%d, want %d×%d", i, r.Width, r.Height, w, h)
		}
		for k, p := range r.Points {
			if p.X != float64(w)*faceTemplate[k][0]/20 || p.Y != float64(h)*faceTemplate[k][1]/20 {
				t.Errorf("photo %d point %d = (%g, %g): not this photo's points", i, k, p.X, p.Y)
			}
		}
	}
	sizes := det.batchSizes()
	total, largest := 0, 0
	for _, b := range sizes {
		total += b
		largest = max(largest, b)
	}
	if total != n-1 || largest > 4 || largest < 2 {
		t.Errorf("batch sizes %v: want %d photos in all, batches of 2 to 4", sizes, n-1)
	}
}

func TestHealth(t *testing.T) {
	for _, tc := range []struct {
		name      string
		det       Detector
		wantModel string
	}{
		{"plain detector", templateDetector{}, ""},
		{"detector with Info", fixedDetector{}, "fixed-test-points"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t, tc.det, Options{Workers: 3})
			code, body, _ := do(t, s, httptest.NewRequest(http.MethodGet, "/healthz", nil))
			if code != 200 {
				t.Fatalf("status %d: %s", code, body)
			}
			var h struct {
				Status  string
				Workers int
				Model   map[string]string
			}
			if err := json.Unmarshal(body, &h); err != nil {
				t.Fatal(err)
			}
			if h.Status != "ok" || h.Workers != 3 || h.Model["name"] != tc.wantModel {
				t.Errorf("healthz = %s; want status ok, 3 workers, model name %q", body, tc.wantModel)
			}
		})
	}
}

func TestPage(t *testing.T) {
	s := newServer(t, templateDetector{}, Options{})
	code, body, hdr := do(t, s, httptest.NewRequest(http.MethodGet, "/", nil))
	if code != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") {
		t.Fatalf("GET / = %d %q, want 200 text/html", code, hdr.Get("Content-Type"))
	}
	html := string(body)
	for _, want := range []string{`<canvas`, `type="file"`, `data-state=`, `id="result-json"`, `/v1/landmarks`} {
		if !strings.Contains(html, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	// Nothing may load from elsewhere: no absolute URLs, no protocol-relative ones.
	if m := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}`).FindString(html); m != "" {
		t.Errorf("page refers to another origin: %s", m)
	}
	if csp := hdr.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("Content-Security-Policy %q does not forbid other origins", csp)
	}
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 5 s")
		}
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writes (a log sink).
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

var _ io.Writer = (*syncBuffer)(nil)

// A batch's photos together stay within MaxDecodedBytes: photos that would pass it start the
// next batch, and every photo is answered.
func TestBatchDecodingBudget(t *testing.T) {
	det := &batchTemplate{}
	// Each 100×100 PNG decodes to about 40 KB (4 bytes a pixel); the budget holds two of them.
	s := newServer(t, det, Options{Workers: 1, MaxBatch: 8, BatchWindow: 200 * time.Millisecond, MaxDecodedBytes: 90_000})
	const n = 8
	data := makePNG(t, 100, 100)
	codes := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { codes[i], _, _ = do(t, s, post(data, "image/png")) })
	}
	wg.Wait()
	for i, c := range codes {
		if c != http.StatusOK {
			t.Errorf("photo %d: status %d, want 200", i, c)
		}
	}
	total, largest := 0, 0
	for _, b := range det.batchSizes() {
		total += b
		largest = max(largest, b)
	}
	if total != n || largest != 2 {
		t.Errorf("batch sizes %v: want %d photos in all, batches of at most 2 and some of 2", det.batchSizes(), n)
	}
}
