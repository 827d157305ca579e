package par

import (
	"runtime"
	"sync/atomic"
	"testing"
)

// TestFor checks that For calls f once for each index, whatever the number of cores.
func TestFor(t *testing.T) {
	for _, procs := range []int{1, 2, 4} {
		old := runtime.GOMAXPROCS(procs)
		for _, n := range []int{0, 1, 3, 100} {
			calls := make([]atomic.Int32, n)
			For(n, func(i int) { calls[i].Add(1) })
			for i := range calls {
				if c := calls[i].Load(); c != 1 {
					t.Errorf("GOMAXPROCS %d, n %d: f(%d) called %d times, want 1", procs, n, i, c)
				}
			}
		}
		runtime.GOMAXPROCS(old)
	}
}
