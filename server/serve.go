package server

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Serve listens on addr (host:port) and serves h until ctx is cancelled, then shuts down
// gracefully: it stops accepting connections and waits for the requests in flight, up to the
// longest a request may take. The caller cancels ctx on SIGINT/SIGTERM
// (signal.NotifyContext). Serve returns nil after a clean shutdown.
//
// When h is a *Server its options set the timeouts, its logger reports the address and its
// GET /readyz answers 503 from the start of the shutdown; otherwise the defaults of Options
// apply.
func Serve(ctx context.Context, addr string, h http.Handler) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return ServeListener(ctx, ln, h)
}

// ServeListener is Serve on a listener the caller opened (for example on port 0, to learn the
// port from ln.Addr()). It closes ln.
func ServeListener(ctx context.Context, ln net.Listener, h http.Handler) error {
	opt := Options{}
	if s, ok := h.(*Server); ok {
		opt = s.opt
	}
	opt = opt.withDefaults()
	// A request reads its body, waits for a worker and runs the detector within RequestTimeout
	// (QueueTimeout is part of it); the write timeout leaves a margin for sending the answer.
	handling := opt.RequestTimeout
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       handling,
		WriteTimeout:      handling + 10*time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(opt.Logger.Handler(), slog.LevelWarn),
	}
	opt.Logger.Info("listening", "addr", ln.Addr().String())

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	if s, ok := h.(*Server); ok {
		s.beginShutdown() // GET /readyz answers 503 while the requests in flight finish
	}
	opt.Logger.Info("shutting down", "addr", ln.Addr().String())
	sctx, cancel := context.WithTimeout(context.Background(), handling+5*time.Second)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}
