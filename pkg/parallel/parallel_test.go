package parallel

import (
	"errors"
	goruntime "runtime"
	"sync/atomic"
	"testing"
)

func TestFor(t *testing.T) {
	const n = 1000
	var seen [n]atomic.Int32
	if err := For(n, func(i int) error { seen[i].Add(1); return nil }); err != nil {
		t.Fatal(err)
	}
	for i := range seen {
		if seen[i].Load() != 1 {
			t.Fatalf("item %d planned %d times", i, seen[i].Load())
		}
	}
	boom := errors.New("boom")
	if err := For(n, func(i int) error {
		if i == 3 {
			return boom
		}
		return nil
	}); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want the item's error", err)
	}
	// Two fail, the later one first: the error is the lower index's, as a loop in order gives.
	// Item 3 waits for item 4, so this needs two calls at a time (with one, the order is the
	// loop's anyway).
	if goruntime.GOMAXPROCS(0) < 2 {
		return
	}
	first, second := errors.New("item 3"), errors.New("item 4")
	release := make(chan struct{})
	if err := For(n, func(i int) error {
		switch i {
		case 3:
			<-release
			return first
		case 4:
			close(release)
			return second
		}
		return nil
	}); !errors.Is(err, first) {
		t.Fatalf("err = %v, want item 3's", err)
	}
}

func TestPool(t *testing.T) {
	const n = 1000
	var seen [n]atomic.Int32
	p := NewPool(n, func(i int) error { seen[i].Add(1); return nil })
	for i := n - 1; i >= 0; i-- { // any order, as they come
		p.Add(i)
	}
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	for i := range seen {
		if seen[i].Load() != 1 {
			t.Fatalf("item %d run %d times", i, seen[i].Load())
		}
	}
	// Two fail: the lower index's error, whatever the order they ran in.
	e7, e9 := errors.New("7"), errors.New("9")
	p = NewPool(20, func(i int) error {
		switch i {
		case 7:
			return e7
		case 9:
			return e9
		}
		return nil
	})
	for _, i := range []int{9, 3, 7, 1} {
		p.Add(i)
	}
	if err := p.Wait(); !errors.Is(err, e7) {
		t.Fatalf("err = %v, want item 7's", err)
	}
	if err := NewPool(0, func(int) error { return nil }).Wait(); err != nil {
		t.Fatal(err)
	}
}
