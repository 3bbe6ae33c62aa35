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

// Pool runs f on GOMAXPROCS goroutines for each index given to Add, as they come: for items
// that become ready one batch at a time (scan plans a namespace's Services once its
// EndpointSlices are read).
type Pool struct {
	f    func(i int) error
	work chan int
	wg   sync.WaitGroup
	mu   sync.Mutex
	errs map[int]error
}

// NewPool starts the goroutines of a Pool of at most n items.
func NewPool(n int, f func(i int) error) *Pool {
	p := &Pool{f: f, work: make(chan int, n), errs: map[int]error{}}
	for range max(1, min(runtime.GOMAXPROCS(0), n)) {
		p.wg.Go(func() {
			for i := range p.work {
				if err := p.f(i); err != nil {
					p.mu.Lock()
					p.errs[i] = err
					p.mu.Unlock()
				}
			}
		})
	}
	return p
}

// Add queues item i; it never blocks (at most n items, each once).
func (p *Pool) Add(i int) { p.work <- i }

// Wait runs the items queued, and returns the error of the lowest index that failed.
func (p *Pool) Wait() error {
	close(p.work)
	p.wg.Wait()
	first := -1
	for i := range p.errs {
		if first < 0 || i < first {
			first = i
		}
	}
	if first < 0 {
		return nil
	}
	return p.errs[first]
}
