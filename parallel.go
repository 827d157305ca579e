package catmark

import (
	"runtime"
	"sync"
)

// parallel runs f(0), …, f(n−1) on up to GOMAXPROCS goroutines and returns when all are done.
// The detector's per-photo and per-crop work in Go (crops, letterboxing, input planes) runs
// between model calls, when the engine's threads are idle, so it is spread over the cores
// too. Each f(i) must write only its own results.
func parallel(n int, f func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		for i := range n {
			f(i)
		}
		return
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	next := 0
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= n {
					return
				}
				f(i)
			}
		}()
	}
	wg.Wait()
}
