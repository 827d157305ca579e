package server

import (
	"fmt"
	"net/http"
)

// notReady says why the server cannot take a photo now; "" when it can. It checks, in order:
// the server is not closed or shutting down, it has a detector, a worker runs, the queue has
// room and the request bodies in memory are under their limit.
func (s *Server) notReady() string {
	select {
	case <-s.done:
		return "the server is closed"
	default:
	}
	if s.draining.Load() {
		return "the server is shutting down"
	}
	if s.det == nil {
		return "no detector: the model is not loaded"
	}
	if s.running.Load() == 0 {
		return "no worker is running"
	}
	if n := len(s.jobs); n >= cap(s.jobs) {
		return fmt.Sprintf("the queue is full: %d photos wait for %d workers", n, s.opt.Workers)
	}
	if used := s.body.inUse(); used >= s.opt.MaxBodyBytesInFlight {
		return fmt.Sprintf("the request bodies in memory take the limit of %s", sizeString(s.opt.MaxBodyBytesInFlight))
	}
	return ""
}

// ready handles GET /readyz: 200 when the server can take a photo now, else 503 with the reason.
func (s *Server) ready(w *statusWriter) {
	if why := s.notReady(); why != "" {
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusServiceUnavailable, struct {
			Status string `json:"status"`
			Reason string `json:"reason"`
		}{"not ready", why})
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Status    string `json:"status"`
		Workers   int32  `json:"workers"`
		Queued    int    `json:"queued"`
		QueueSize int    `json:"queue_size"`
	}{"ready", s.running.Load(), len(s.jobs), cap(s.jobs)})
}

// beginShutdown marks the server as shutting down: /readyz answers 503 from now on, while the
// requests in flight and new ones are still served until Close.
func (s *Server) beginShutdown() { s.draining.Store(true) }
