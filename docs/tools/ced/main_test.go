package main

import (
	"math"
	"testing"
)

func TestSummaries(t *testing.T) {
	tests := []struct {
		name                   string
		e                      []float64
		auc, median, failShare float64
	}{
		{"all exact", []float64{0, 0, 0}, 1, 0, 0},
		{"all beyond the limit", []float64{0.1, 0.2, 3}, 0, 0.2, 2.0 / 3},
		{"half way", []float64{0.05}, 0.5, 0.05, 0},
		{"mixed, even count", []float64{0.02, 0.08, 0.12, 0.04}, (0.08 + 0.02 + 0 + 0.06) / 0.1 / 4, 0.06, 0.25},
	}
	for _, tt := range tests {
		if got := auc(tt.e, failAt); math.Abs(got-tt.auc) > 1e-12 {
			t.Errorf("%s: auc = %v, want %v", tt.name, got, tt.auc)
		}
		if got := median(tt.e); math.Abs(got-tt.median) > 1e-12 {
			t.Errorf("%s: median = %v, want %v", tt.name, got, tt.median)
		}
		if got := failure(tt.e); math.Abs(got-tt.failShare) > 1e-12 {
			t.Errorf("%s: failure = %v, want %v", tt.name, got, tt.failShare)
		}
	}
}

// TestAUCIsTheStepIntegral checks auc against a fine numerical integral of the cumulative error
// distribution from 0 to the limit.
func TestAUCIsTheStepIntegral(t *testing.T) {
	e := []float64{0.013, 0.047, 0.061, 0.099, 0.1, 0.25}
	const steps = 100000
	sum := 0.0
	for i := 0; i < steps; i++ {
		x := (float64(i) + 0.5) / steps * failAt
		n := 0
		for _, v := range e {
			if v <= x {
				n++
			}
		}
		sum += float64(n) / float64(len(e))
	}
	if want, got := sum/steps, auc(e, failAt); math.Abs(got-want) > 1e-4 {
		t.Errorf("auc = %v, numerical integral %v", got, want)
	}
}
