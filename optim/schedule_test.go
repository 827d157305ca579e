package optim

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

func TestSchedules(t *testing.T) {
	cos := Cosine{Base: 1, Min: 0.1, Warmup: 10, Total: 110}
	cases := []struct {
		name string
		s    Schedule
		step int
		want float64
	}{
		{"constant", Constant(1e-3), 0, 1e-3},
		{"constant", Constant(1e-3), 1_000_000, 1e-3},
		{"step", StepDecay{Base: 0.1, Every: 30, Gamma: 0.1}, 0, 0.1},
		{"step", StepDecay{Base: 0.1, Every: 30, Gamma: 0.1}, 29, 0.1},
		{"step", StepDecay{Base: 0.1, Every: 30, Gamma: 0.1}, 30, 0.01},
		{"step", StepDecay{Base: 0.1, Every: 30, Gamma: 0.1}, 95, 1e-4},
		{"step", StepDecay{Base: 0.1, Every: 30, Gamma: 0.5}, 60, 0.025},
		{"warmup first", cos, 0, 0.1},    // 1·1/10
		{"warmup mid", cos, 4, 0.5},      // 1·5/10
		{"warmup last", cos, 9, 1},       // 1·10/10
		{"cosine start", cos, 10, 1},     // t = 0: Base
		{"cosine middle", cos, 60, 0.55}, // t = 1/2: Min + (Base−Min)/2
		{"cosine quarter", cos, 35, 0.1 + 0.9*(1+math.Sqrt2/2)/2},
		{"cosine end", cos, 110, 0.1},
		{"cosine after", cos, 500, 0.1},
		{"cosine no warmup", Cosine{Base: 2, Total: 4}, 0, 2},
		{"cosine no warmup", Cosine{Base: 2, Total: 4}, 2, 1},
		{"cosine no warmup", Cosine{Base: 2, Total: 4}, 4, 0},
	}
	for _, c := range cases {
		if got := c.s.LR(c.step); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("%s: %#v.LR(%d) = %v, want %v", c.name, c.s, c.step, got, c.want)
		}
	}
}

// TestCosineIsMonotone checks the shape: rising through warm-up, then never rising again.
func TestCosineIsMonotone(t *testing.T) {
	c := Cosine{Base: 3e-3, Min: 1e-5, Warmup: 7, Total: 300}
	prev := 0.0
	for s := 0; s <= 310; s++ {
		lr := c.LR(s)
		if s < 7 && lr <= prev || s > 7 && lr > prev || lr < c.Min || lr > c.Base {
			t.Fatalf("LR(%d) = %v after LR(%d) = %v", s, lr, s-1, prev)
		}
		prev = lr
	}
}

func TestParseSchedule(t *testing.T) {
	cases := []struct {
		in   string
		want Schedule
	}{
		{"constant", Constant(0.01)},
		{"step:every=30", StepDecay{Base: 0.01, Every: 30, Gamma: 0.1}},
		{"step:every=5,gamma=0.5", StepDecay{Base: 0.01, Every: 5, Gamma: 0.5}},
		{"cosine", Cosine{Base: 0.01, Total: 1000}},
		{"cosine:warmup=200", Cosine{Base: 0.01, Warmup: 200, Total: 1000}},
		{"cosine:warmup=3%", Cosine{Base: 0.01, Warmup: 30, Total: 1000}},
		{"cosine:warmup=0.05,min=1e-5", Cosine{Base: 0.01, Min: 1e-5, Warmup: 50, Total: 1000}},
	}
	for _, c := range cases {
		got, err := ParseSchedule(c.in, 0.01, 1000)
		if err != nil || got != c.want {
			t.Errorf("ParseSchedule(%q) = %#v, %v; want %#v", c.in, got, err, c.want)
		}
	}
	bad := []struct{ in, want string }{
		{"linear", `unknown schedule "linear"`},
		{"step", "every"},
		{"step:every=0", "every"},
		{"step:every=10,gamma=-1", "gamma"},
		{"cosine:warmup=150%", "warmup"},
		{"cosine:warmup", "KEY=VALUE"},
		{"cosine:min=-1", "min"},
		{"constant:every=3", `unknown option "every"`},
		{"cosine:gamma=0.1", `unknown option "gamma"`},
	}
	for _, c := range bad {
		_, err := ParseSchedule(c.in, 0.01, 1000)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseSchedule(%q) error = %v, want one mentioning %q", c.in, err, c.want)
		}
	}
}

func ExampleCosine() {
	s := Cosine{Base: 1e-3, Min: 0, Warmup: 2, Total: 6}
	for step := range 7 {
		fmt.Printf("%d %.6f\n", step, s.LR(step))
	}
	// Output:
	// 0 0.000500
	// 1 0.001000
	// 2 0.001000
	// 3 0.000854
	// 4 0.000500
	// 5 0.000146
	// 6 0.000000
}
