package plan

import (
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestCatalogIDsAreFindingIDs(t *testing.T) {
	var ids []string
	for _, e := range Catalog {
		ids = append(ids, e.ID)
	}
	if !reflect.DeepEqual(ids, FindingIDs) {
		t.Errorf("Catalog ids:\n  %v\nFindingIDs:\n  %v", ids, FindingIDs)
	}
	for _, e := range Catalog {
		if e.Severity == "" || e.When == "" || e.Remedy == "" {
			t.Errorf("%s: empty field: %+v", e.ID, e)
		}
		for _, s := range []string{e.Severity, e.When, e.Remedy} {
			if strings.ContainsAny(s, "|`\n") {
				t.Errorf("%s: %q has Markdown or a newline (the README cell must equal it)", e.ID, s)
			}
		}
	}
}

const readmeFindingsHeader = "| id | severity | when | remedy |"

// readmeFindingRows reads the README's finding table: the rows under its header line, up to the
// first line that is not a table row.
func readmeFindingRows(readme string) ([][4]string, error) {
	lines := strings.Split(readme, "\n")
	start := -1
	for i, l := range lines {
		if strings.TrimSpace(l) == readmeFindingsHeader {
			if start >= 0 {
				return nil, fmt.Errorf("two finding tables (header %q)", readmeFindingsHeader)
			}
			start = i
		}
	}
	if start < 0 {
		return nil, fmt.Errorf("no finding table (header %q)", readmeFindingsHeader)
	}
	if start+1 >= len(lines) || strings.TrimSpace(lines[start+1]) != "|---|---|---|---|" {
		return nil, fmt.Errorf("the finding table's header is not followed by |---|---|---|---|")
	}
	var rows [][4]string
	for _, l := range lines[start+2:] {
		l = strings.TrimSpace(l)
		if !strings.HasPrefix(l, "|") {
			break
		}
		if !strings.HasSuffix(l, "|") || len(l) < 2 {
			return nil, fmt.Errorf("row %q does not end with |", l)
		}
		cells := strings.Split(l[1:len(l)-1], "|")
		if len(cells) != 4 {
			return nil, fmt.Errorf("row %q has %d cells, want 4", l, len(cells))
		}
		var row [4]string
		for i, c := range cells {
			row[i] = strings.TrimSpace(c)
		}
		id, _ := strings.CutPrefix(row[0], "`")
		id, ok := strings.CutSuffix(id, "`")
		if !ok || !strings.HasPrefix(row[0], "`") || id == "" {
			return nil, fmt.Errorf("row %q: the id cell is not `id`", l)
		}
		row[0] = id
		rows = append(rows, row)
	}
	return rows, nil
}

// readmeCatalogProblems compares the README's finding table with Catalog: the same ids in the
// same order, and each row's severity, when and remedy cells equal to the entry's.
func readmeCatalogProblems(readme string) []string {
	rows, err := readmeFindingRows(readme)
	if err != nil {
		return []string{err.Error()}
	}
	var probs []string
	var got, want []string
	for _, r := range rows {
		got = append(got, r[0])
	}
	for _, e := range Catalog {
		want = append(want, e.ID)
	}
	if !reflect.DeepEqual(got, want) {
		probs = append(probs, fmt.Sprintf("README finding ids:\n  %v\nCatalog:\n  %v", got, want))
	}
	byID := map[string]CatalogEntry{}
	for _, e := range Catalog {
		byID[e.ID] = e
	}
	for _, r := range rows {
		e, ok := byID[r[0]]
		if !ok {
			continue // reported above
		}
		for _, c := range []struct{ name, readme, catalog string }{
			{"severity", r[1], e.Severity}, {"when", r[2], e.When}, {"remedy", r[3], e.Remedy},
		} {
			if c.readme != c.catalog {
				probs = append(probs, fmt.Sprintf("%s: README %s cell\n  %q\nCatalog:\n  %q", e.ID, c.name, c.readme, c.catalog))
			}
		}
	}
	return probs
}

func readREADME(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// readmeWithCatalog is the README with its finding table rows written from Catalog.
func readmeWithCatalog(readme string) string {
	lines := strings.Split(readme, "\n")
	var out []string
	for i := 0; i < len(lines); i++ {
		out = append(out, lines[i])
		if strings.TrimSpace(lines[i]) != readmeFindingsHeader || i+1 >= len(lines) {
			continue
		}
		out = append(out, lines[i+1])
		i += 2
		for i < len(lines) && strings.HasPrefix(strings.TrimSpace(lines[i]), "|") {
			i++
		}
		for _, e := range Catalog {
			out = append(out, fmt.Sprintf("| `%s` | %s | %s | %s |", e.ID, e.Severity, e.When, e.Remedy))
		}
		i--
	}
	return strings.Join(out, "\n")
}

func TestREADMEFindingTableIsCatalog(t *testing.T) {
	if *update {
		if err := os.WriteFile("../../README.md", []byte(readmeWithCatalog(readREADME(t))), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range readmeCatalogProblems(readREADME(t)) {
		t.Error(p)
	}
}

// TestREADMECatalogComparisonCatches: the comparison notices each kind of drift.
func TestREADMECatalogComparisonCatches(t *testing.T) {
	readme := readREADME(t)
	row := func(e CatalogEntry) string {
		return fmt.Sprintf("| `%s` | %s | %s | %s |", e.ID, e.Severity, e.When, e.Remedy)
	}
	first, second := row(Catalog[0]), row(Catalog[1])
	if !strings.Contains(readme, first+"\n"+second+"\n") {
		t.Fatalf("README lacks the first two catalogue rows as the test expects them:\n%s\n%s", first, second)
	}
	changed := func(e CatalogEntry, f func(*CatalogEntry)) string { f(&e); return row(e) }
	mutations := map[string]string{
		"remedy changed":   strings.Replace(readme, first, changed(Catalog[0], func(e *CatalogEntry) { e.Remedy += " now" }), 1),
		"when changed":     strings.Replace(readme, first, changed(Catalog[0], func(e *CatalogEntry) { e.When = "sometimes" }), 1),
		"severity changed": strings.Replace(readme, first, changed(Catalog[0], func(e *CatalogEntry) { e.Severity = SeverityWarning }), 1),
		"rows swapped":     strings.Replace(readme, first+"\n"+second, second+"\n"+first, 1),
		"row dropped":      strings.Replace(readme, first+"\n", "", 1),
		"row added":        strings.Replace(readme, first+"\n", first+"\n| `no-such-finding` | info | never | none |\n", 1),
		"cell added":       strings.Replace(readme, first, first+" extra |", 1),
		"header changed":   strings.Replace(readme, readmeFindingsHeader, "| id | severity | when |", 1),
	}
	for name, text := range mutations {
		if text == readme {
			t.Errorf("%s: the mutation changed nothing", name)
			continue
		}
		if len(readmeCatalogProblems(text)) == 0 {
			t.Errorf("%s: not noticed", name)
		}
	}
}
