package pipeline

import (
	"fmt"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/metrics"
)

// Stats are a finished pipeline's metrics (namespace Namespace), summed over its steps.
type Stats struct {
	Photos, Faces, Failures int64
	// PhotoMicros is the distribution of the photos' times in microseconds.
	PhotoMicros metrics.DistributionValue
}

// Summarize reads a finished pipeline's Stats from its metrics (committed where the runner
// reports them, else attempted).
func Summarize(r metrics.Results) Stats {
	var s Stats
	q := r.Query(func(m metrics.SingleResult) bool { return m.Namespace() == Namespace })
	for _, c := range q.Counters() {
		switch c.Name() {
		case PhotosCounter:
			s.Photos += c.Result()
		case FacesCounter:
			s.Faces += c.Result()
		case FailuresCounter:
			s.Failures += c.Result()
		}
	}
	for _, d := range q.Distributions() {
		if d.Name() != PhotoMicros {
			continue
		}
		v := d.Result()
		if s.PhotoMicros.Count == 0 {
			s.PhotoMicros = v
			continue
		}
		s.PhotoMicros.Count += v.Count
		s.PhotoMicros.Sum += v.Sum
		s.PhotoMicros.Min = min(s.PhotoMicros.Min, v.Min)
		s.PhotoMicros.Max = max(s.PhotoMicros.Max, v.Max)
	}
	return s
}

// String is the one-line summary catmark-beam prints: "1320 photos, 1402 faces, 0 failed; a
// photo 190ms (12ms to 2.1s)".
func (s Stats) String() string {
	line := fmt.Sprintf("%d photos, %d faces, %d failed", s.Photos, s.Faces, s.Failures)
	if d := s.PhotoMicros; d.Count > 0 {
		us := func(v int64) time.Duration { return (time.Duration(v) * time.Microsecond).Round(time.Millisecond) }
		line += fmt.Sprintf("; a photo %v (%v to %v)", us(d.Sum/d.Count), us(d.Min), us(d.Max))
	}
	return line
}
