package manifest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Write writes every document back in order: unchanged documents byte for byte as read, patched
// ones as edited. One file is written exactly as its text (a JSON file stays JSON). Several files
// become one YAML stream, "---" between files (not doubled when a file starts with its own
// "---"); a JSON file holding several values gets "---" between them so the stream reads back.
func (s *Set) Write(w io.Writer) error {
	if len(s.Files) == 1 {
		// Chunk by chunk: a stream of 50,000 Services is not copied whole once more.
		bw := bufio.NewWriterSize(w, 64<<10)
		for _, c := range s.Files[0].chunks {
			if _, err := bw.Write(c.current()); err != nil {
				return err
			}
		}
		return bw.Flush()
	}
	var out bytes.Buffer
	size := 0
	for _, f := range s.Files {
		size += f.size() + 8*len(f.Docs) + 8 // and the "---" lines between documents and files
	}
	out.Grow(size)
	open := false // the stream ends in a "---" that the next document may use
	for _, f := range s.Files {
		var text []byte
		if f.JSON && len(f.Docs) > 1 {
			var b bytes.Buffer
			for i, d := range f.Docs {
				nl := newline(d.text)
				if i > 0 {
					b.WriteString("---" + nl)
				}
				b.Write(d.text)
				b.WriteString(nl)
			}
			text = b.Bytes()
		} else {
			text = f.Bytes()
		}
		if len(bytes.TrimSpace(text)) == 0 {
			continue
		}
		if out.Len() > 0 {
			nl := newline(text)
			if last := out.Bytes()[out.Len()-1]; last != '\n' && last != '\r' {
				out.WriteString(newline(out.Bytes()))
			}
			if !open && !startsWithMarker(text) {
				out.WriteString("---" + nl)
			}
		}
		out.Write(text)
		open = !f.JSON && endsOpen(f)
	}
	_, err := w.Write(out.Bytes())
	return err
}

// Bytes is the file's current text: its documents as read or as patched, and what lies between.
func (f *File) Bytes() []byte {
	b := make([]byte, 0, f.size())
	for _, c := range f.chunks {
		b = append(b, c.current()...)
	}
	return b
}

// current is the chunk's text: its document's, as read or as patched.
func (c *chunk) current() []byte {
	if c.doc != nil {
		return c.doc.text
	}
	return c.text
}

// size is the length of the file's current text (Bytes).
func (f *File) size() int {
	n := 0
	for _, c := range f.chunks {
		n += len(c.current())
	}
	return n
}

// Changed reports whether a patch changed any document of the file.
func (f *File) Changed() bool {
	for _, d := range f.Docs {
		if d.Changed() {
			return true
		}
	}
	return false
}

// startsWithMarker reports whether a text starts with a "---" line (after directives).
func startsWithMarker(text []byte) bool {
	li := newLineIndex(text)
	for l := 1; l <= li.lines(); l++ {
		t := li.text(l)
		if len(t) > 0 && t[0] == '%' {
			continue
		}
		return isMarker(t, "---")
	}
	return false
}

// endsOpen reports whether a file ends with an empty document that starts with "---": what
// follows it then fills that document.
func endsOpen(f *File) bool {
	if len(f.chunks) == 0 {
		return false
	}
	c := f.chunks[len(f.chunks)-1]
	if c.doc != nil {
		return false
	}
	li := newLineIndex(c.text)
	if !isMarker(li.text(1), "---") || !isBlankOrComment(li.text(1)[3:]) {
		return false
	}
	for l := 2; l <= li.lines(); l++ {
		if !isBlankOrComment(li.text(l)) {
			return false
		}
	}
	return true
}

// reencode writes the document's (patched) tree anew: JSON with the original indentation for a
// JSON document, else YAML through yaml.v3 with the original indentation and sequence style,
// keeping the document's "---" and "..." lines and trailing blank lines.
func (d *Doc) reencode() (out []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("yaml: %v", r)
		}
	}()
	nl := newline(d.text)
	root := docRoot(d.Node())
	if d.JSON {
		sp, ok := d.spans[root]
		if !ok {
			return nil, fmt.Errorf("lost the JSON value's position")
		}
		e := newJSONEditor(d)
		text := e.render(root, e.lineIndent(sp.start), bytes.ContainsAny(d.text[sp.start:sp.end], "\r\n"))
		return append(append(append([]byte(nil), d.text[:sp.start]...), text...), d.text[sp.end:]...), nil
	}
	unit, compact := detectYAMLIndent(root)
	var body bytes.Buffer
	enc := yaml.NewEncoder(&body)
	enc.SetIndent(unit)
	if compact {
		enc.CompactSeqIndent()
	}
	if err := enc.Encode(d.node); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	li := newLineIndex(d.text)
	var head, tail strings.Builder
	// Directives and the "---" line.
	for l := 1; l <= li.lines(); l++ {
		t := li.text(l)
		if len(t) > 0 && t[0] == '%' {
			head.Write(t)
			head.WriteString("\n")
			continue
		}
		if isMarker(t, "---") {
			head.WriteString("---\n")
		}
		break
	}
	// Trailing blank lines and a "..." line.
	last := li.lines()
	if last > 1 && len(li.text(last)) == 0 {
		last-- // the empty remainder after the final line break
	}
	end := ""
	if last >= 1 && isMarker(li.text(last), "...") {
		end = "...\n"
		last--
	}
	for ; last >= 1 && len(bytes.TrimSpace(li.text(last))) == 0; last-- {
		tail.WriteString("\n")
	}
	text := head.String() + body.String() + tail.String() + end
	if n := len(d.text); n > 0 && d.text[n-1] != '\n' && d.text[n-1] != '\r' {
		text = strings.TrimSuffix(text, "\n")
	}
	if nl != "\n" {
		text = strings.ReplaceAll(text, "\n", nl)
	}
	return []byte(text), nil
}
