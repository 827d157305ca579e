package main

import (
	"math"
	"testing"
)

func TestAUC(t *testing.T) {
	for _, tt := range []struct {
		name     string
		pos, neg []float64
		want     float64
	}{
		{"separated", []float64{0.9, 0.8}, []float64{0.1, 0.2, 0.3}, 1},
		{"reversed", []float64{0.1}, []float64{0.5, 0.6}, 0},
		{"ties count half", []float64{0.5}, []float64{0.5}, 0.5},
		{"mixed", []float64{0.9, 0.2}, []float64{0.5, 0.1}, 0.75},
	} {
		if got := auc(tt.pos, tt.neg); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("%s: auc = %v, want %v", tt.name, got, tt.want)
		}
	}
	if got := median([]float64{3, 1, 2, 10}); got != 2.5 {
		t.Errorf("median = %v, want 2.5", got)
	}
	if got := below([]float64{0.05, 0.5, 0.7, 0.2}, 0.5); got != 0.5 {
		t.Errorf("below = %v, want 0.5", got)
	}
}
