// Package parallel runs the independent steps of a loop on every core: deciding for each
// Service, encoding each Service's JSON, parsing each manifest document.
package parallel

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// For runs f(0..n-1) on GOMAXPROCS goroutines. After an error it starts no more calls, and it
// returns the error of the lowest i, as a loop in order would: the calls are started in order,
// so every i below a failing one has run.
//
// Each goroutine takes the next i until none is left, rather than one goroutine a call: a
// decision's call stack is deep, and 10,000 new goroutines growing their stacks again and again
// were 6% of scan's CPU time.
func For(n int, f func(i int) error) error {
	errs := make([]error, n)
	var (
		next   atomic.Int64
		failed atomic.Bool
		wg     sync.WaitGroup
	)
	for range min(runtime.GOMAXPROCS(0), n) {
		wg.Go(func() {
			for !failed.Load() {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if errs[i] = f(i); errs[i] != nil {
					failed.Store(true)
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
