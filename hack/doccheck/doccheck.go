// Package doccheck finds citations that point outside the repository or nowhere, in the
// repository's Go, YAML and Markdown files (comments, strings and prose alike):
//   - a Markdown file, by name or path, with an optional #anchor and section numbers after it
//     (a section sign and a number, or a range or list of them): the file must exist, relative to
//     the repository's root or to the citing file's folder, inside the repository; the anchor and
//     each section must be headings of that file;
//   - a path with a folder named shared in it: it must exist in the repository;
//   - the bare document name SPEC, which names no file of the repository;
//   - a section sign with no document before it: in Go and YAML files it cites nothing (write
//     the document, e.g. docs/domain.md §2.1); in a Markdown file it is a section of that file,
//     which must exist.
//
// The test of this package runs it on the repository itself, with the words that look like
// citations but are not (Options.Allowed) and without this package's own folder, whose patterns
// and fixtures spell broken citations on purpose.
package doccheck

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"unicode"
)

// Problem is one citation that points nowhere.
type Problem struct {
	File string // slash-separated, relative to the root
	Line int
	Ref  string // the citation as written
	Why  string
}

func (p Problem) String() string { return fmt.Sprintf("%s:%d: %q: %s", p.File, p.Line, p.Ref, p.Why) }

// Options of Check.
type Options struct {
	// Skip lists folders not to read (slash-separated, relative to the root).
	Skip []string
	// Allowed holds words that look like citations but are not, each with why: "REF" allows REF
	// in every file, "FILE: REF" only in FILE (slash-separated, relative to the root).
	Allowed map[string]string
}

const sectionSign = "\u00a7"

var (
	// A Markdown file name or path, an optional #anchor, then section numbers ("§2", "§2–§4",
	// "§2, §3"). The first group only keeps the character before the citation out of it.
	mdRef = regexp.MustCompile(`(^|[^\w./*-])((?:/|(?:\.{1,2}/)*)(?:[\w.*-]+/)*[\w*-][\w.*-]*\.md)\b(#[\w-]+)?((?:[ \t]*(?:[,\x{2013}-]|and)?[ \t]*\x{00A7}\d+(?:\.\d+)*)*)`)
	// A path with a folder named shared in it.
	sharedRef = regexp.MustCompile(`(^|[^\w./*-])((?:/|(?:\.{1,2}/)*)(?:[\w.*-]+/)*shared/[\w.*/-]*)`)
	specRef   = regexp.MustCompile(`\bSPEC\b`)
	section   = regexp.MustCompile(`\x{00A7}(\d+(?:\.\d+)*)`)
	heading   = regexp.MustCompile(`(?m)^#{1,6}[ \t]+(.*?)[ \t]*#*[ \t]*$`)
	headingNo = regexp.MustCompile(`^(\d+(?:\.\d+)*)[.\s]`)
)

// Check walks root and returns every citation that points nowhere, sorted by file and line. It
// reads files ending in .go, .yaml, .yml and .md, and skips .git, testdata/fuzz (fuzz corpora),
// every bin folder and the dist folder at the root (build output).
func Check(root string, o Options) ([]Problem, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	c := checker{root: root, allowed: o.Allowed, headings: map[string]*headings{}}
	skip := map[string]bool{}
	for _, s := range o.Skip {
		skip[strings.Trim(filepath.ToSlash(s), "/")] = true
	}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			name := d.Name()
			if path != root && (skip[rel] || name == ".git" || name == "bin" || rel == "dist" ||
				(name == "fuzz" && filepath.Base(filepath.Dir(path)) == "testdata")) {
				return filepath.SkipDir
			}
			return nil
		}
		switch filepath.Ext(path) {
		case ".go", ".yaml", ".yml", ".md":
		default:
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		c.file(rel, string(b))
		return nil
	})
	sort.SliceStable(c.problems, func(i, j int) bool {
		a, b := c.problems[i], c.problems[j]
		if a.File != b.File {
			return a.File < b.File
		}
		return a.Line < b.Line
	})
	return c.problems, err
}

type checker struct {
	root     string
	allowed  map[string]string
	problems []Problem
	headings map[string]*headings // by absolute path
}

// headings of a Markdown file: the section numbers and the anchors (GitHub's slugs).
type headings struct {
	numbers, anchors map[string]bool
}

func (c *checker) file(rel, text string) {
	dir := filepath.Join(c.root, filepath.FromSlash(filepath.Dir(rel)))
	seen := map[string]bool{}
	add := func(off int, ref, why string) {
		if _, ok := c.allowed[ref]; ok {
			return
		}
		if _, ok := c.allowed[rel+": "+ref]; ok {
			return
		}
		line := 1 + strings.Count(text[:off], "\n")
		key := fmt.Sprint(line, "\x00", ref)
		if seen[key] {
			return
		}
		seen[key] = true
		c.problems = append(c.problems, Problem{File: rel, Line: line, Ref: ref, Why: why})
	}

	// Markdown citations, and the section signs they take with them.
	claimed := map[int]bool{} // offsets of section signs that follow a document
	for _, m := range mdRef.FindAllStringSubmatchIndex(text, -1) {
		ref := text[m[4]:m[5]]
		anchor, secs := "", ""
		if m[6] >= 0 {
			anchor = text[m[6]+1 : m[7]]
		}
		if m[8] >= 0 {
			secs = text[m[8]:m[9]]
			for _, s := range section.FindAllStringIndex(secs, -1) {
				claimed[m[8]+s[0]] = true
			}
		}
		whole := strings.TrimSpace(text[m[4]:max(m[5], m[7], m[9])])
		target, why := c.resolve(ref, dir)
		if why != "" {
			add(m[4], whole, why)
			continue
		}
		if strings.ContainsAny(ref, "*?[") || (anchor == "" && secs == "") {
			continue
		}
		h := c.headingsOf(target)
		if h == nil {
			add(m[4], whole, "not a file with headings")
			continue
		}
		if anchor != "" && !h.anchors[anchor] {
			add(m[4], whole, fmt.Sprintf("%s has no heading #%s", c.relative(target), anchor))
		}
		for _, s := range section.FindAllStringSubmatch(secs, -1) {
			if !h.numbers[s[1]] {
				add(m[4], whole, fmt.Sprintf("%s has no section %s", c.relative(target), sectionSign+s[1]))
			}
		}
	}

	// Paths through a shared folder.
	for _, m := range sharedRef.FindAllStringSubmatchIndex(text, -1) {
		ref := strings.TrimRight(text[m[4]:m[5]], ".")
		if _, why := c.resolve(ref, dir); why != "" {
			add(m[4], ref, why)
		}
	}

	// SPEC, unless the repository has such a document.
	if !c.exists("SPEC.md") && !c.exists("SPEC") {
		for _, m := range specRef.FindAllStringIndex(text, -1) {
			if strings.HasPrefix(text[m[1]:], ".md") {
				continue // a Markdown citation, checked above
			}
			add(m[0], "SPEC", "names a document that is not in the repository")
		}
	}

	// Section signs with no document before them.
	var own *headings
	if strings.HasSuffix(rel, ".md") {
		own = c.headingsOf(filepath.Join(c.root, filepath.FromSlash(rel)))
	}
	for _, m := range section.FindAllStringSubmatchIndex(text, -1) {
		if claimed[m[0]] {
			continue
		}
		num := text[m[2]:m[3]]
		switch {
		case own == nil:
			add(m[0], sectionSign+num, "a section with no document: cite the document too (e.g. docs/domain.md "+sectionSign+"2.1)")
		case !own.numbers[num]:
			add(m[0], sectionSign+num, "this file has no section "+num)
		}
	}
}

// resolve finds ref relative to the root, then to dir, inside the repository. It returns the
// path found, or why there is none.
func (c *checker) resolve(ref, dir string) (string, string) {
	if strings.HasPrefix(ref, "/") {
		return "", "an absolute path, not a file of the repository"
	}
	inside := false
	for _, base := range []string{c.root, dir} {
		p := filepath.Join(base, filepath.FromSlash(ref))
		if rel, err := filepath.Rel(c.root, p); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			continue
		}
		inside = true
		if strings.ContainsAny(ref, "*?[") {
			if ms, _ := filepath.Glob(p); len(ms) > 0 {
				return ms[0], ""
			}
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p, ""
		}
	}
	if !inside {
		return "", "points outside the repository"
	}
	return "", "no such file in the repository (looked from the root and from the citing file's folder)"
}

func (c *checker) exists(rel string) bool {
	_, err := os.Stat(filepath.Join(c.root, rel))
	return err == nil
}

func (c *checker) relative(p string) string {
	rel, err := filepath.Rel(c.root, p)
	if err != nil {
		return p
	}
	return filepath.ToSlash(rel)
}

// headingsOf reads the headings of a Markdown file (nil when p is not one).
func (c *checker) headingsOf(p string) *headings {
	if h, ok := c.headings[p]; ok {
		return h
	}
	var h *headings
	if b, err := os.ReadFile(p); err == nil && strings.HasSuffix(p, ".md") {
		h = &headings{numbers: map[string]bool{}, anchors: map[string]bool{}}
		used := map[string]int{}
		inFence := false
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "```") {
				inFence = !inFence
			}
			m := heading.FindStringSubmatch(line)
			if inFence || m == nil {
				continue
			}
			if n := headingNo.FindStringSubmatch(m[1] + " "); n != nil {
				h.numbers[n[1]] = true
			}
			s := Slug(m[1])
			if k := used[s]; k > 0 {
				h.anchors[fmt.Sprintf("%s-%d", s, k)] = true
			} else {
				h.anchors[s] = true
			}
			used[s]++
		}
	}
	c.headings[p] = h
	return h
}

// Slug is the anchor GitHub gives a heading: lower case, spaces turned into hyphens, and every
// character but letters, digits, hyphens and underscores dropped.
func Slug(title string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(title) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}
