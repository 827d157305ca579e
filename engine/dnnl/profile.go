//go:build cgo && !nodnnl

package dnnl

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// profiler accumulates the time spent per operation and per operation and shape.
type profiler struct {
	byOp    map[string]*stat
	byShape map[string]*stat
	depth   int
}

type stat struct {
	n     int
	total time.Duration
}

func newProfiler() *profiler {
	return &profiler{byOp: map[string]*stat{}, byShape: map[string]*stat{}}
}

func (p *profiler) add(m map[string]*stat, key string, d time.Duration) {
	s := m[key]
	if s == nil {
		s = &stat{}
		m[key] = s
	}
	s.n++
	s.total += d
}

func noop() {}

// timed starts timing op when profiling is on and returns the function that stops it. Nested
// operations (a reorder inside a convolution) are counted under their own name too, marked as
// nested, and are included in the outer operation's time.
func (b *Backend) timed(op string, detail func() string) func() {
	p := b.prof
	if p == nil {
		return noop
	}
	nested := p.depth > 0
	p.depth++
	t0 := time.Now()
	return func() {
		d := time.Since(t0)
		p.depth--
		name := op
		if nested {
			name = "  (in) " + op
		}
		p.add(p.byOp, name, d)
		p.add(p.byShape, name+" "+detail(), d)
	}
}

// ResetProfile clears the accumulated times (for example after warm-up).
func (b *Backend) ResetProfile() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.prof != nil {
		b.prof.byOp, b.prof.byShape = map[string]*stat{}, map[string]*stat{}
	}
}

// ProfileReport returns the accumulated times as text: per operation, then the top entries
// per operation and shape, each with calls, total and share. steps divides totals into per-step
// figures (pass 1 for totals).
func (b *Backend) ProfileReport(steps int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.prof == nil {
		return "dnnl: profiling is off (set CATMARK_PROFILE=1)\n"
	}
	if steps < 1 {
		steps = 1
	}
	var sb strings.Builder
	var top time.Duration
	for k, s := range b.prof.byOp {
		if !strings.HasPrefix(k, " ") {
			top += s.total
		}
	}
	write := func(title string, m map[string]*stat, limit int) {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return m[keys[i]].total > m[keys[j]].total })
		fmt.Fprintf(&sb, "%s (ms per step; %% of all top-level operations)\n", title)
		for i, k := range keys {
			if i == limit {
				fmt.Fprintf(&sb, "  … %d more\n", len(keys)-limit)
				break
			}
			s := m[k]
			fmt.Fprintf(&sb, "  %9.2f ms %5.1f%% %6d calls  %s\n", ms(s.total)/float64(steps),
				100*float64(s.total)/float64(max(top, 1)), s.n/steps, k)
		}
	}
	fmt.Fprintf(&sb, "dnnl profile: %.1f ms per step in operations\n", ms(top)/float64(steps))
	var scratch uintptr
	if b.scratch != nil {
		scratch = b.scratch.buf.size
	}
	b.pool.mu.Lock()
	fmt.Fprintf(&sb, "memory: %.1f MiB in tensors, %.1f MiB on the free list, peak %.1f MiB (in use %.1f), scratchpad %.1f MiB, %d primitives\n",
		mib(b.pool.inUse), mib(b.pool.held), mib(b.pool.peak), mib(b.pool.peakInUse), mib(scratch), len(b.prims))
	b.pool.mu.Unlock()
	type sp struct {
		name string
		size uintptr
	}
	var sps []sp
	for k, p := range b.prims {
		if p.scratch != nil && k == p.name {
			sps = append(sps, sp{k, mdSize(p.scratch)})
		}
	}
	sort.Slice(sps, func(i, j int) bool { return sps[i].size > sps[j].size })
	for i := 0; i < len(sps) && i < 5; i++ {
		fmt.Fprintf(&sb, "  scratchpad %.1f MiB: %s\n", mib(sps[i].size), sps[i].name)
	}
	write("by operation", b.prof.byOp, 50)
	write("by operation and shape", b.prof.byShape, profileTop)
	var paths []string
	for k, v := range b.convPaths() {
		paths = append(paths, fmt.Sprintf("  %s → %s", k, v))
	}
	sort.Strings(paths)
	fmt.Fprintf(&sb, "convolution paths (each layer and pass as it last ran: oneDNN's kernel and candidate, or engine/purego's Winograd)\n%s\n", strings.Join(paths, "\n"))
	return sb.String()
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// profileTop is how many operation-and-shape entries ProfileReport lists (CATMARK_PROFILE_TOP).
var profileTop = func() int {
	if n, err := strconv.Atoi(os.Getenv("CATMARK_PROFILE_TOP")); err == nil && n > 0 {
		return n
	}
	return 40
}()

func mib(n uintptr) float64 { return float64(n) / (1 << 20) }
