package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/catmark/catmark"
	"github.com/catmark/catmark/landmark"
)

// loadReport is the outcome of loadTest. Latencies are of successful requests, from sending the
// request to reading the whole answer.
type loadReport struct {
	Clients    int
	Requests   int // requests sent
	Errors     int // requests that failed: transport error, status other than 200, or a bad catmark.Record
	Duration   time.Duration
	Throughput float64 // successful requests per second of Duration
	P50, P90   time.Duration
	P99, Max   time.Duration
	Statuses   map[int]int // answers by HTTP status; transport errors are not counted here
	FirstError string      // the first failure, for the report
}

// String summarises the report on one line.
func (r loadReport) String() string {
	s := fmt.Sprintf("%d requests, %d clients, %d errors in %v: %.1f req/s, latency p50 %v p90 %v p99 %v max %v",
		r.Requests, r.Clients, r.Errors, r.Duration.Round(time.Millisecond), r.Throughput,
		r.P50.Round(10*time.Microsecond), r.P90.Round(10*time.Microsecond), r.P99.Round(10*time.Microsecond), r.Max.Round(10*time.Microsecond))
	if r.FirstError != "" {
		s += "; first error: " + r.FirstError
	}
	return s
}

// loadTest sends requests POSTs of body to url (the landmarks endpoint, e.g.
// http://127.0.0.1:8080/v1/landmarks) from clients concurrent clients, each sending its next
// request as soon as its last one is answered, and measures throughput and latency. A request
// succeeds when it gets 200 and a catmark.Record with nine points. The error is non-nil when any request
// failed or ctx ended; the report is filled in either way.
func loadTest(ctx context.Context, url string, clients, requests int, body []byte) (loadReport, error) {
	if clients <= 0 || requests <= 0 {
		return loadReport{}, fmt.Errorf("loadtest: need at least one client and one request (got %d clients, %d requests)", clients, requests)
	}
	contentType := http.DetectContentType(body)
	if !strings.HasPrefix(contentType, "image/") {
		contentType = "application/octet-stream"
	}
	tr := &http.Transport{
		MaxIdleConns:        clients,
		MaxIdleConnsPerHost: clients,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}

	var (
		next      atomic.Int64
		mu        sync.Mutex
		latencies = make([]time.Duration, 0, requests)
		rep       = loadReport{Clients: clients, Statuses: map[int]int{}}
		wg        sync.WaitGroup
	)
	fail := func(msg string) {
		mu.Lock()
		rep.Errors++
		if rep.FirstError == "" {
			rep.FirstError = msg
		}
		mu.Unlock()
	}
	start := time.Now()
	for range clients {
		wg.Go(func() {
			for ctx.Err() == nil && next.Add(1) <= int64(requests) {
				t0 := time.Now()
				status, err := loadRequest(ctx, client, url, contentType, body)
				d := time.Since(t0)
				mu.Lock()
				rep.Requests++
				if status != 0 {
					rep.Statuses[status]++
				}
				if err == nil {
					latencies = append(latencies, d)
				}
				mu.Unlock()
				if err != nil {
					fail(err.Error())
				}
			}
		})
	}
	wg.Wait()
	rep.Duration = time.Since(start)
	slices.Sort(latencies)
	if n := len(latencies); n > 0 {
		rep.Throughput = float64(n) / rep.Duration.Seconds()
		rep.P50, rep.P90, rep.P99 = quantile(latencies, 0.50), quantile(latencies, 0.90), quantile(latencies, 0.99)
		rep.Max = latencies[n-1]
	}
	if err := ctx.Err(); err != nil {
		return rep, fmt.Errorf("loadtest: stopped after %d of %d requests: %w", rep.Requests, requests, err)
	}
	if rep.Errors > 0 {
		return rep, fmt.Errorf("loadtest: %d of %d requests failed; first: %s", rep.Errors, rep.Requests, rep.FirstError)
	}
	return rep, nil
}

// loadRequest sends one request and checks its answer; it returns the status (0 when there was
// no answer).
func loadRequest(ctx context.Context, client *http.Client, url, contentType string, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, fmt.Errorf("reading the answer: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(b))
	}
	var res catmark.Record
	if err := json.Unmarshal(b, &res); err != nil {
		return resp.StatusCode, fmt.Errorf("answer is not a catmark.Record: %v", err)
	}
	if len(res.Points) != landmark.N {
		return resp.StatusCode, fmt.Errorf("answer has %d points, want %d", len(res.Points), landmark.N)
	}
	return resp.StatusCode, nil
}

// quantile is the q-quantile of sorted durations (nearest rank).
func quantile(sorted []time.Duration, q float64) time.Duration {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}
