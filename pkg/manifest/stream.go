package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/parallel"
)

// streamBlock is how much of a stream is read before its complete documents are cut off and
// read (parsed, decoded, handed on): about 500 Services' documents.
const streamBlock = 256 << 10

// ReadStream reads manifests from standard input (-f -) as they come, a block of documents at
// a time: each block's documents are parsed and decoded on every core, then handed to visit
// in order with their v1 Services and v1 Events (namespaces defaulted as Events does), and
// their trees dropped. The set keeps every document's text and objects, for Write; it keeps
// no decoded Service (visit takes what it needs, and ServiceRef.Load decodes one again), and
// ApplyPatch keeps none either.
//
// The set, and any error, are those Read gives for the same input: YAML documents are cut
// where Read cuts them (the same "---" and "..." rule, applied to complete lines), and the
// error is the first document's that does not parse, else the first that does not decode;
// after an error visit is not called again, but the stream is read to its end (a document
// that does not parse, further on, is the error Read gives). A stream of JSON values is read
// whole before it is cut, as Read does (where the values end, and whether it is JSON at all,
// is known only at its end); its documents are then handed on a block at a time.
func ReadStream(r io.Reader, namespace string, visit func(refs []*ServiceRef, events []*corev1.Event) error) (*Set, error) {
	return readStream(r, namespace, visit, streamBlock)
}

func readStream(r io.Reader, namespace string, visit func(refs []*ServiceRef, events []*corev1.Event) error, block int) (*Set, error) {
	if r == nil {
		return nil, errors.New("-f -: no standard input to read")
	}
	s := &Set{namespace: DefaultNamespace, fromStdin: true, lean: true, stream: true}
	if namespace != "" {
		s.namespace = namespace
	}
	f := &File{Name: StdinName}
	s.Files = []*File{f}
	st := &streamReader{s: s, f: f, visit: visit, line: 1}
	if err := st.read(r, block); err != nil {
		return nil, err
	}
	if st.err != nil {
		return nil, st.err
	}
	return s, nil
}

type streamReader struct {
	s     *Set
	f     *File
	visit func([]*ServiceRef, []*corev1.Event) error
	line  int   // the line where the next chunk starts
	index int   // the next document's Index
	err   error // the first document's that does not decode, or visit's: returned at the end
}

// read cuts the stream into chunks as complete lines come, and reads them a block (about block
// bytes) at a time.
func (st *streamReader) read(r io.Reader, block int) error {
	pend := make([]byte, 0, block)
	decided := false
	for {
		if len(pend) == cap(pend) { // one document is larger than the buffer: it doubles
			next := make([]byte, len(pend), 2*cap(pend))
			copy(next, pend)
			pend = next
		}
		n, err := r.Read(pend[len(pend):cap(pend)])
		pend = pend[:len(pend)+n]
		eof := err == io.EOF
		if err != nil && !eof {
			return fmt.Errorf("reading stdin: %v", err)
		}
		if !decided {
			trimmed := bytes.TrimLeft(bytes.TrimPrefix(pend, bom), " \t\r\n")
			if len(trimmed) > 0 {
				decided = true
				if trimmed[0] == '{' || trimmed[0] == '[' {
					return st.readWhole(pend, r, eof)
				}
			}
		}
		switch {
		case eof:
			if len(pend) > 0 {
				return st.add(st.cut(pend, true))
			}
			return nil
		case len(pend) == cap(pend):
			complete := pend[:bytes.LastIndexByte(pend, '\n')+1]
			chunks := st.cut(complete, false)
			if len(chunks) == 0 {
				continue // no document ends in the buffer yet: it grows
			}
			rest := pend[len(complete)-len(chunks[len(chunks)-1].text):]
			chunks = chunks[:len(chunks)-1] // the last may go on: it is cut again with what follows
			next := make([]byte, len(rest), max(block, 2*len(rest)))
			copy(next, rest)
			pend = next
			if err := st.add(chunks); err != nil {
				return err
			}
		}
	}
}

// cut splits complete YAML text into chunks (all of it when final; else the last chunk is the
// one the caller keeps to read on).
func (st *streamReader) cut(text []byte, final bool) []*chunk {
	spans := splitYAML(text)
	if !final && len(spans) < 2 {
		return nil
	}
	chunks := make([]*chunk, len(spans))
	for i, sp := range spans {
		chunks[i] = &chunk{text: text[sp.start:sp.end]}
	}
	return chunks
}

// readWhole reads a stream that starts as JSON to its end, cuts it as Read does, and reads its
// chunks a block at a time.
func (st *streamReader) readWhole(pend []byte, r io.Reader, eof bool) error {
	data := pend
	if !eof {
		rest, err := io.ReadAll(r)
		if err != nil {
			return fmt.Errorf("reading stdin: %v", err)
		}
		data = append(pend, rest...)
	}
	if err := st.f.split(data); err != nil {
		return err
	}
	chunks := st.f.chunks
	st.f.chunks = nil
	for start := 0; start < len(chunks); start += 512 {
		if err := st.add(chunks[start:min(start+512, len(chunks))]); err != nil {
			return err
		}
	}
	return nil
}

// add reads a block of chunks: parses and decodes their documents on every core, appends them
// to the set, and hands their Services and Events on. A document that does not parse is the
// error at once; one that does not decode (or visit's error) is kept for the end.
func (st *streamReader) add(chunks []*chunk) error {
	type unit struct {
		d         *Doc
		empty     bool
		parseErr  error
		decodeErr error
		services  []*ServiceRef
		events    []*corev1.Event
	}
	s, f := st.s, st.f
	units := make([]*unit, len(chunks))
	for i, c := range chunks {
		units[i] = &unit{d: &Doc{File: f.Name, set: s, orig: c.text, text: c.text, startLine: st.line}}
		st.line += countLines(c.text) - 1
	}
	f.chunks = append(f.chunks, chunks...)
	_ = parallel.For(len(units), func(i int) error {
		u := units[i]
		err := u.d.parse()
		u.empty, u.parseErr = err == errEmpty, err
		return nil
	})
	// The documents are numbered in order; a message names its document by number, so the
	// first that does not parse is parsed again, numbered.
	var docs []*unit
	for i, u := range units {
		if u.empty {
			continue
		}
		u.d.Index = st.index
		st.index++
		if u.parseErr != nil {
			return u.d.parse()
		}
		chunks[i].doc = u.d
		docs = append(docs, u)
	}
	_ = parallel.For(len(docs), func(i int) error {
		u := docs[i]
		u.services, u.events, u.decodeErr = s.decodeObjects(u.d)
		s.release(u.d)
		return nil
	})
	var refs []*ServiceRef
	var events []*corev1.Event
	for _, u := range docs {
		if u.decodeErr != nil && st.err == nil {
			st.err = u.decodeErr
		}
		f.Docs = append(f.Docs, u.d)
		s.services, s.events = append(s.services, u.services...), append(s.events, u.events...)
		refs = append(refs, u.services...)
		for _, e := range u.events {
			ev := s.defaulted(e)
			events = append(events, &ev)
		}
	}
	if st.err == nil && st.visit != nil {
		st.err = st.visit(refs, events)
	}
	return nil
}

// LoadEach decodes again, on every core, the Services refs name (a set read by ReadStream keeps
// none) and calls f(i, svc) with refs[i]'s; the refs of one document (a List's items) are
// decoded one after another, the List once. It returns the error of the first ref in order
// that fails, as a loop would.
func LoadEach(refs []*ServiceRef, f func(i int, svc *corev1.Service) error) error {
	var runs [][2]int // refs of one document, in a row
	for i := 0; i < len(refs); {
		j := i + 1
		for j < len(refs) && refs[j].Doc == refs[i].Doc {
			j++
		}
		runs = append(runs, [2]int{i, j})
		i = j
	}
	return parallel.For(len(runs), func(k int) error {
		d := refs[runs[k][0]].Doc
		defer func() { d.items, d.itemsErr, d.itemsOK = nil, nil, false }()
		for i := runs[k][0]; i < runs[k][1]; i++ {
			svc, err := d.decodeService(refs[i].Item)
			if err != nil {
				return fmt.Errorf("%s: %v", refs[i].Object, err)
			}
			if err := f(i, svc); err != nil {
				return err
			}
		}
		return nil
	})
}
