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
