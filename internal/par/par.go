// Package par runs independent pieces of work on all cores: the detector's and the inference
// heads' per-photo Go work, which runs between engine calls while the engine's threads are idle.
package par

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// For runs f(0), …, f(n−1) on up to GOMAXPROCS goroutines and returns when all are done. Each
// f(i) must write only its own results.
func For(n int, f func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		for i := range n {
			f(i)
		}
		return
	}
	var wg sync.WaitGroup
	var next atomic.Int64 // the next index to take
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				f(i)
			}
		}()
	}
	wg.Wait()
}
