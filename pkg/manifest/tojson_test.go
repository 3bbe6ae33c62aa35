package manifest

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	sigsyaml "sigs.k8s.io/yaml"
)

// checkTreeJSON checks that treeJSON, where it converts a YAML document, gives the JSON that
// sigs.k8s.io/yaml.YAMLToJSON gives (as values: numbers as written, keys in any order).
func checkTreeJSON(t *testing.T, text []byte) (converted bool) {
	t.Helper()
	doc, err := parseYAML(text)
	if err != nil || doc == nil {
		return false
	}
	got, ok := treeJSON(text, doc)
	if !ok {
		return false
	}
	want, err := sigsyaml.YAMLToJSON(text)
	if err != nil {
		t.Fatalf("treeJSON converted what YAMLToJSON refuses (%v):\n%q\n%s", err, text, got)
	}
	if !reflect.DeepEqual(jsonValue(t, got), jsonValue(t, want)) {
		t.Fatalf("treeJSON of\n%q\ngives %s\nYAMLToJSON %s", text, got, want)
	}
	return true
}

func jsonValue(t *testing.T, j []byte) interface{} {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.UseNumber()
	var v interface{}
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, j)
	}
	return v
}

// TestTreeJSON: the scalars of YAML 1.1 that yaml.v2 reads as something else than a string, and
// their look-alikes, convert as YAMLToJSON converts them, or are left to it.
func TestTreeJSON(t *testing.T) {
	scalars := []string{
		"", "~", "null", "Null", "NULL", "nULL", "y", "Y", "yes", "Yes", "YES", "yEs", "n", "N", "no", "NO", "on", "On", "ON", "oN",
		"off", "Off", "OFF", "true", "True", "TRUE", "tRUE", "false", "False", "FALSE", "t", "f", "o", "x",
		"0", "-0", "+0", "1", "-1", "+1", "007", "08", "0x1F", "0X1f", "0o17", "0O17", "0b101", "-0b101", "0b-101", "0b2",
		"1_000", "1__0", "_1", "1_", "0x_1F", "9223372036854775807", "9223372036854775808", "-9223372036854775808",
		"-9223372036854775809", "18446744073709551615", "18446744073709551616", "1e3", "1E3", "1.5", "-1.5", "+1.5", "1.", ".5",
		"-.5", "1.5e-3", ".inf", "-.inf", "+.inf", ".nan", ".NaN", "1e", "e1", "1-2", "1.2.3", "192.168.1.1", "10.0.0.0/8",
		"2001-12-14", "2001-12-14t21:59:43.10-05:00", "2001-12-14 21:59:43.10", "2001-12-1x", "2001-", "1:20", "1:20:30",
		"2f6d4e16-1b4c-4d2e-9f7a-5c3b1e0dadac", "8080", "80/TCP", "-", "+", "--", "-a", "+a", "<<", "a b", "a: b",
		"'quoted'", `"quoted"`, `"on"`, "'1'", `"\u00e9\t\x01"`, "é", "日本", "|\n  lit\n", ">\n  fold\n  ed\n",
		"0x", "0o", "0b", "0xg", "1e+3", "1e-3", "0.0", "-0.0", "00", "0_0",
	}
	converted := 0
	for _, s := range scalars {
		for _, doc := range []string{"k: " + s + "\n", "- " + s + "\n", "{k: [" + s + "]}\n"} {
			if checkTreeJSON(t, []byte(doc)) {
				converted++
			}
		}
		if s != "" && s[0] != '|' && s[0] != '>' {
			checkTreeJSON(t, []byte(s+": v\n"))
		}
	}
	for _, doc := range []string{
		"b: 1\na: 2\nc: {z: 1, y: [1, 2, {x: y}]}\n",
		"Name: a\nname: b\n",
		"k: '1'\n\"k\": 2\n", // a duplicate yaml.v3 reads as such
		"a: &x {b: 1}\nc: *x\n",
		"a: {<<: {b: 1}}\n",
		"a: !!str 1\n",
		"a: ! 1\n",
		"a: 'it''s'\nb: \"tab\\there \\\" \\\\ \\/ \\u2028\"\n",
		"? [a]\n: b\n",
		"? {a: b}\n: c\n",
		"1: a\n",
		"true: a\n",
		"null: a\n",
		"~: a\n",
		"a:\n",
		"[]\n",
		"{}\n",
		"a: []\nb: {}\nc: [[], {}]\n",
		"---\n# only a comment\n",
		"a:\tb\n", "a: b\t# c\n", "a:\n\t- b\n", "- a\n-\tb\n", "a: b\u2028c\n", "a: b\u0085c\n", "a: \ufeffb\n",
		"a: 'multi\n  line'\nb: \"x\\\n  y\"\n", "a: plain\n  continued # c\n", "a: >-\n  x\n\n  y\n",
		strings.Repeat("k", 1100) + ": v\n", "a: " + strings.Repeat("v", 70000) + "\n", "{a: b,}\n", "[a, b,]\n",
		"a: {b: c, d}\n", "a: [b: c]\n", "? a\n: b\n", "a: b\n...\n", "%YAML 1.1\n---\na: b\n", "%TAG ! tag:x,2000:\n---\na: b\n",
		"a: -1_0\n", "a: 0_1\n", "a: 1:2\n", "a: 12:30:45\n", "a: 2001-12-14T21:59:43Z\n", "a: 1e400\n",
	} {
		if checkTreeJSON(t, []byte(doc)) {
			converted++
		}
	}
	if converted == 0 {
		t.Fatal("treeJSON converted nothing")
	}
}

// FuzzTreeJSON: whatever yaml.v3 parses, treeJSON either leaves to YAMLToJSON or gives the same
// JSON.
func FuzzTreeJSON(f *testing.F) {
	addSeeds(f, "testdata/examples/*.yaml", "testdata/golden/*.in.*")
	for _, s := range []string{"a: 1\n", "a: [on, off, 0x1F, 1_000]\n", "{a: b, c: 'd'}\n", "a: |\n  x\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, text []byte) {
		checkTreeJSON(t, text)
	})
}
