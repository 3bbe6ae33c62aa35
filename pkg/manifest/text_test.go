package manifest

import "testing"

// TestLineIndex: with every kind of line break, countLines and firstLine agree with the index,
// and a line ends where its break starts (found scanning the line from its start).
func TestLineIndex(t *testing.T) {
	for _, s := range []string{"", "a", "a\n", "a\nb", "a\r\nb\r\n", "a\rb\r", "a\u0085b\u2028c\u2029d", "\n\n", "\r\n\r", "x\r\r\n\ny", "é\u2028", "é\n\u00e0"} {
		src := []byte(s)
		li := newLineIndex(src)
		if got := countLines(src); got != li.lines() {
			t.Errorf("%q: countLines %d, the index %d", s, got, li.lines())
		}
		if first, next := firstLine(src); string(first) != string(li.text(1)) || next != li.lineStart(2) {
			t.Errorf("%q: firstLine %q %d, the index %q %d", s, first, next, li.text(1), li.lineStart(2))
		}
		for l := -1; l <= li.lines()+1; l++ {
			next := li.lineStart(l + 1)
			want := next
			if l >= li.lines() {
				want = len(src)
			} else {
				for p := li.lineStart(l); p < next; p++ {
					if breakLen(src, p) > 0 {
						want = p
						break
					}
				}
			}
			if got := li.lineEnd(l); got != want {
				t.Errorf("%q line %d: ends at %d, want %d", s, l, got, want)
			}
		}
	}
}
