package server

import (
	"context"
	"crypto/rand"
	"net/http"
)

// RequestIDHeader is the header that names a request. The server keeps a client's ID when it is
// 1 to MaxRequestIDLen visible ASCII characters (no spaces or control characters), else it makes
// one up; either way the answer carries it in this header and the request's log line as
// request_id.
const RequestIDHeader = "X-Request-ID"

// MaxRequestIDLen is the longest X-Request-ID the server keeps, in bytes.
const MaxRequestIDLen = 128

type requestIDKey struct{}

// RequestID returns the ID of the request whose context ctx is (or derives from), as the server
// gave it in the X-Request-ID header; "" outside a request the server handles. A Detector may log
// it, for example: Detect is called with the request's context, DetectBatch is not.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// requestID is the request's X-Request-ID when it is sane, else a new random one (26 characters
// of base32, 128 bits).
func requestID(r *http.Request) string {
	if id := r.Header.Get(RequestIDHeader); saneRequestID(id) {
		return id
	}
	return rand.Text()
}

// saneRequestID reports whether id may be echoed in a header and written to the log as it is:
// 1 to MaxRequestIDLen bytes, each a visible ASCII character.
func saneRequestID(id string) bool {
	if id == "" || len(id) > MaxRequestIDLen {
		return false
	}
	for i := range len(id) {
		if c := id[i]; c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}
