package manifest

import (
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// TestReadStreamHandsOnAsItComes: the Services of a stream are handed on while the rest of it
// has not come yet, not once it has ended.
func TestReadStreamHandsOnAsItComes(t *testing.T) {
	var b strings.Builder
	for i := range 400 {
		fmt.Fprintf(&b, "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: svc-%03d\nspec:\n  type: LoadBalancer\n", i)
	}
	text := b.String()
	half := len(text) / 2
	r, w := io.Pipe()
	visited := make(chan struct{})
	early := make(chan bool, 1)
	go func() {
		_, _ = io.WriteString(w, text[:half])
		// The rest comes only once a Service has been handed on; the guard lets a reader that
		// waits for the end finish (and the test fail) rather than hang.
		select {
		case <-visited:
			early <- true
		case <-time.After(30 * time.Second):
			early <- false
		}
		_, _ = io.WriteString(w, text[half:])
		_ = w.Close()
	}()
	var seen int
	set, err := readStream(r, "", func(refs []*ServiceRef, _ []*corev1.Event) error {
		if seen == 0 && len(refs) > 0 {
			close(visited)
		}
		seen += len(refs)
		return nil
	}, 4096)
	if err != nil {
		t.Fatal(err)
	}
	if !<-early {
		t.Error("no Service was handed on before the stream ended")
	}
	if seen != 400 || len(set.Services()) != 400 {
		t.Errorf("handed on %d Services, read %d; want 400", seen, len(set.Services()))
	}
}
