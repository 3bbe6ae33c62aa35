package manifest

import (
	"bytes"
	"regexp"
	"strconv"
	"unicode/utf8"
)

// lineIndex maps byte offsets of a text to 1-based lines and rune columns, counting line breaks
// the way yaml.v3 does (\n, \r\n, a lone \r, NEL, LS and PS).
type lineIndex struct {
	src    []byte
	starts []int // byte offset where each line starts
}

func newLineIndex(src []byte) *lineIndex {
	starts := make([]int, 1, bytes.Count(src, []byte{'\n'})+2)
	if onlyNewlines(src) {
		for i := 0; ; {
			j := bytes.IndexByte(src[i:], '\n')
			if j < 0 {
				return &lineIndex{src: src, starts: starts}
			}
			i += j + 1
			starts = append(starts, i)
		}
	}
	for i := 0; i < len(src); {
		if !maybeBreak(src[i]) {
			i++
			continue
		}
		if n := breakLen(src, i); n > 0 {
			i += n
			starts = append(starts, i)
			continue
		}
		i++
	}
	return &lineIndex{src: src, starts: starts}
}

// onlyNewlines reports whether every line break of src is a "\n" (no "\r", NEL, LS or PS).
func onlyNewlines(src []byte) bool {
	return bytes.IndexByte(src, '\r') < 0 && bytes.IndexByte(src, 0xC2) < 0 && bytes.IndexByte(src, 0xE2) < 0
}

// maybeBreak reports whether a line break can start with byte c (breakLen).
func maybeBreak(c byte) bool { return c == '\n' || c == '\r' || c == 0xC2 || c == 0xE2 }

// breakLen is the length of the line break at src[i], or 0.
func breakLen(src []byte, i int) int {
	switch c := src[i]; {
	case c == '\n':
		return 1
	case c == '\r':
		if i+1 < len(src) && src[i+1] == '\n' {
			return 2
		}
		return 1
	case c == 0xC2 && i+1 < len(src) && src[i+1] == 0x85:
		return 2
	case c == 0xE2 && i+2 < len(src) && src[i+1] == 0x80 && (src[i+2] == 0xA8 || src[i+2] == 0xA9):
		return 3
	}
	return 0
}

func (li *lineIndex) lines() int { return len(li.starts) }

// countLines is newLineIndex(src).lines() without the index: 1 + the number of line breaks.
func countLines(src []byte) int {
	if onlyNewlines(src) {
		return bytes.Count(src, []byte{'\n'}) + 1
	}
	n := 1
	for i := 0; i < len(src); {
		if b := breakLen(src, i); b > 0 {
			i += b
			n++
			continue
		}
		i++
	}
	return n
}

// firstLine is the first line of src without its break, and the offset where the second line
// starts (len(src) when there is none): newLineIndex(src).text(1) and lineStart(2).
func firstLine(src []byte) (line []byte, next int) {
	for i := 0; i < len(src); i++ {
		if b := breakLen(src, i); b > 0 {
			return src[:i], i + b
		}
	}
	return src, len(src)
}

// lineStart is the offset of the first byte of line (1-based); len(src) past the last line.
func (li *lineIndex) lineStart(line int) int {
	if line < 1 {
		return 0
	}
	if line > len(li.starts) {
		return len(li.src)
	}
	return li.starts[line-1]
}

// lineEnd is the offset of the line break ending line (1-based), or len(src).
func (li *lineIndex) lineEnd(line int) int {
	next := li.lineStart(line + 1)
	if line >= len(li.starts) {
		return len(li.src)
	}
	// Back over the break: the bytes before the next line's start are the break.
	start := li.lineStart(line)
	if next <= start {
		return next
	}
	switch c := li.src[next-1]; {
	case c == '\n' && next-2 >= start && li.src[next-2] == '\r':
		return next - 2
	case c == '\n', c == '\r':
		return next - 1
	case c == 0x85:
		return next - 2
	case c == 0xA8, c == 0xA9:
		return next - 3
	}
	return next
}

// text is the content of line (1-based) without its break.
func (li *lineIndex) text(line int) []byte {
	return li.src[li.lineStart(line):li.lineEnd(line)]
}

// lineOf is the 1-based line that holds offset off.
func (li *lineIndex) lineOf(off int) int {
	lo, hi := 0, len(li.starts)-1
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if li.starts[mid] <= off {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo + 1
}

// offset converts a yaml.v3 position (1-based line, 1-based rune column) to a byte offset, or -1.
func (li *lineIndex) offset(line, col int) int {
	if line < 1 || line > len(li.starts) || col < 1 {
		return -1
	}
	p, end := li.lineStart(line), li.lineEnd(line)
	if line == 1 && bytes.HasPrefix(li.src, bom) {
		p += len(bom)
	}
	for k := 1; k < col; k++ {
		if p >= end {
			return -1
		}
		_, size := utf8.DecodeRune(li.src[p:end])
		p += size
	}
	return p
}

// column is the 1-based rune column of offset off.
func (li *lineIndex) column(off int) int {
	line := li.lineOf(off)
	start := li.lineStart(line)
	if line == 1 && bytes.HasPrefix(li.src, bom) && off >= len(bom) {
		start += len(bom)
	}
	if off < start {
		return 1
	}
	return utf8.RuneCount(li.src[start:off]) + 1
}

var bom = []byte("\xEF\xBB\xBF")

// newline is the line break a text uses: "\r\n" when it has any, else "\n".
func newline(src []byte) string {
	if bytes.Contains(src, []byte("\r\n")) {
		return "\r\n"
	}
	return "\n"
}

// isMarker reports whether line is a YAML document marker ("---" or "...") followed by nothing or
// by white space.
func isMarker(line []byte, marker string) bool {
	if !bytes.HasPrefix(line, []byte(marker)) {
		return false
	}
	if len(line) == 3 {
		return true
	}
	c := line[3]
	return c == ' ' || c == '\t'
}

// isBlankOrComment reports whether a line holds only white space or a comment.
func isBlankOrComment(line []byte) bool {
	t := bytes.TrimLeft(line, " \t")
	return len(t) == 0 || t[0] == '#'
}

// indentOf counts the leading spaces of a line.
func indentOf(line []byte) int {
	n := 0
	for n < len(line) && line[n] == ' ' {
		n++
	}
	return n
}

var yamlLineRE = regexp.MustCompile(`\bline (\d+)\b`)

// shiftLines rewrites "line N" in a parser's message by adding delta, so that positions inside
// one document of a file read as lines of the file.
func shiftLines(msg string, delta int) string {
	if delta == 0 {
		return msg
	}
	return yamlLineRE.ReplaceAllStringFunc(msg, func(m string) string {
		n, err := strconv.Atoi(m[len("line "):])
		if err != nil {
			return m
		}
		return "line " + strconv.Itoa(n+delta)
	})
}
