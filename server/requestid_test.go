package server

import (
	"context"
	"image"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/catmark/catmark"
)

func TestSaneRequestID(t *testing.T) {
	for _, tc := range []struct {
		id   string
		sane bool
	}{
		{"abc-123", true},
		{"4bf92f3577b34da6a3ce929d0e0e4736", true},
		{"req:7/b+c=d_e.f~g", true},
		{strings.Repeat("x", MaxRequestIDLen), true},
		{"", false},
		{strings.Repeat("x", MaxRequestIDLen+1), false},
		{"two words", false},
		{"tab\there", false},
		{"line\nbreak", false},
		{"nul\x00", false},
		{"esc\x1b[31mred", false},
		{"del\x7f", false},
		{"café", false},
	} {
		if got := saneRequestID(tc.id); got != tc.sane {
			t.Errorf("saneRequestID(%q) = %v, want %v", tc.id, got, tc.sane)
		}
	}
}

// Every answer carries X-Request-ID: the client's when sane, a new one otherwise, also on errors.
func TestRequestIDHeader(t *testing.T) {
	s := newServer(t, templateDetector{}, Options{MaxBodyBytes: 1000})
	png := makePNG(t, 32, 32)
	withID := func(req *http.Request, id string) *http.Request {
		req.Header.Set(RequestIDHeader, id) // Header.Set keeps control characters as they are
		return req
	}
	closed := newServer(t, templateDetector{}, Options{})
	closed.Close()
	for _, tc := range []struct {
		name   string
		h      http.Handler
		req    *http.Request
		status int
		keep   string // the ID the answer must carry; "" for a new one
	}{
		{"photo, no ID", s, post(png, "image/png"), 200, ""},
		{"photo, sane ID", s, withID(post(png, "image/png"), "client-42"), 200, "client-42"},
		{"400, sane ID", s, withID(post([]byte("text"), "image/png"), "trace/9f8e"), 400, "trace/9f8e"},
		{"413, sane ID", s, withID(post(make([]byte, 2000), "image/png"), "big-1"), 413, "big-1"},
		{"404, no ID", s, httptest.NewRequest(http.MethodGet, "/nowhere", nil), 404, ""},
		{"405, sane ID", s, withID(httptest.NewRequest(http.MethodPut, "/healthz", nil), "put-1"), 405, "put-1"},
		{"503, sane ID", closed, withID(post(png, "image/png"), "late-1"), 503, "late-1"},
		{"healthz", s, withID(httptest.NewRequest(http.MethodGet, "/healthz", nil), "probe-1"), 200, "probe-1"},
		{"metrics", s, httptest.NewRequest(http.MethodGet, "/metrics", nil), 200, ""},
		{"page", s, httptest.NewRequest(http.MethodGet, "/", nil), 200, ""},
		{"too long", s, withID(post(png, "image/png"), strings.Repeat("a", MaxRequestIDLen+1)), 200, ""},
		{"control characters", s, withID(post(png, "image/png"), "x\r\nSet-Cookie: a=b"), 200, ""},
		{"escape sequence", s, withID(post(png, "image/png"), "\x1b[2J"), 200, ""},
		{"spaces", s, withID(post(png, "image/png"), "my id"), 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sent := tc.req.Header.Get(RequestIDHeader)
			code, body, hdr := do(t, tc.h, tc.req)
			if code != tc.status {
				t.Fatalf("status %d, want %d: %s", code, tc.status, body)
			}
			got := hdr.Values(RequestIDHeader)
			if len(got) != 1 {
				t.Fatalf("X-Request-ID %q, want one value", got)
			}
			switch {
			case tc.keep != "" && got[0] != tc.keep:
				t.Errorf("X-Request-ID %q, want the client's %q", got[0], tc.keep)
			case tc.keep == "" && (got[0] == sent || len(got[0]) != 26 || !saneRequestID(got[0])):
				t.Errorf("X-Request-ID %q (sent %q), want a new one of 26 characters", got[0], sent)
			}
		})
	}
	_, _, h1 := do(t, s, post(png, "image/png"))
	_, _, h2 := do(t, s, post(png, "image/png"))
	if a, b := h1.Get(RequestIDHeader), h2.Get(RequestIDHeader); a == b {
		t.Errorf("two requests got the same new ID %q", a)
	}
}

// The request's log line carries its ID, and the detector sees it in the context.
func TestRequestIDLogged(t *testing.T) {
	var logBuf syncBuffer
	seen := make(chan string, 4)
	det := funcDetector(func(ctx context.Context, img image.Image) ([]catmark.Face, error) {
		seen <- RequestID(ctx)
		return templateDetector{}.Detect(ctx, img)
	})
	s := newServer(t, det, Options{Logger: slog.New(slog.NewTextHandler(&logBuf, nil))})
	png := makePNG(t, 32, 32)

	req := post(png, "image/png")
	req.Header.Set(RequestIDHeader, "cat-7f3a")
	if code, body, _ := do(t, s, req); code != 200 {
		t.Fatalf("status %d: %s", code, body)
	}
	if got := <-seen; got != "cat-7f3a" {
		t.Errorf("the detector saw request ID %q, want cat-7f3a", got)
	}
	_, _, hdr := do(t, s, post([]byte("not a photo"), "image/png"))
	generated := hdr.Get(RequestIDHeader)
	hostile := post([]byte("not a photo"), "image/png")
	hostile.Header.Set(RequestIDHeader, "evil\nlevel=ERROR msg=forged")
	_, _, hdr = do(t, s, hostile)
	replaced := hdr.Get(RequestIDHeader)

	lines := strings.Split(strings.TrimSpace(logBuf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d log lines, want 3:\n%s", len(lines), logBuf.String())
	}
	for i, id := range []string{"cat-7f3a", generated, replaced} {
		if !strings.Contains(lines[i], "request_id="+id+" ") {
			t.Errorf("log line %d does not carry request_id=%s:\n%s", i+1, id, lines[i])
		}
	}
	if strings.Contains(logBuf.String(), "forged") {
		t.Errorf("a hostile request ID reached the log:\n%s", logBuf.String())
	}
	if RequestID(context.Background()) != "" {
		t.Error("RequestID outside a request is not empty")
	}
}
