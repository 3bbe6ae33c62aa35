package manifest

import (
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestScratchStress(t *testing.T) {
	var seeds [][]byte
	for _, g := range []string{"testdata/examples/*.yaml", "testdata/golden/*.in.*"} {
		files, _ := filepath.Glob(g)
		for _, f := range files {
			b, _ := os.ReadFile(f)
			seeds = append(seeds, b)
		}
	}
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	deadline := time.Now().Add(90 * time.Second)
	n, ok := 0, 0
	const alphabet = " \n:-{}[]'\"#|>&*!,\t\r.%?~0aZ"
	for time.Now().Before(deadline) {
		d := append([]byte(nil), seeds[rng.Intn(len(seeds))]...)
		for k := rng.Intn(6); k >= 0; k-- {
			if len(d) == 0 {
				break
			}
			switch rng.Intn(5) {
			case 0:
				d[rng.Intn(len(d))] = alphabet[rng.Intn(len(alphabet))]
			case 1:
				i := rng.Intn(len(d))
				d = append(d[:i], d[i+1:]...)
			case 2:
				i := rng.Intn(len(d))
				d = append(d[:i], append([]byte{alphabet[rng.Intn(len(alphabet))]}, d[i:]...)...)
			case 3:
				i, j := rng.Intn(len(d)), rng.Intn(len(d))
				if i > j {
					i, j = j, i
				}
				d = append(d[:j], append(append([]byte(nil), d[i:j]...), d[j:]...)...)
			case 4:
				i := rng.Intn(len(d))
				d = append(d[:i], append([]byte("\n  "), d[i:]...)...)
			}
		}
		n++
		if _, err := Read("-", bytesReader(d)); err == nil {
			ok++
		}
		t.Run("", func(t *testing.T) {
			defer func() {
				if t.Failed() {
					os.WriteFile("/tmp/fail.yaml", d, 0o644)
				}
			}()
			checkRead(t, d)
		})
		if t.Failed() {
			break
		}
	}
	t.Logf("%d runs, %d read", n, ok)
}

func bytesReader(b []byte) *bytesR { return &bytesR{b: b} }

type bytesR struct{ b []byte }

func (r *bytesR) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}
