package patch

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
	"sigs.k8s.io/yaml"
)

// ExternalDiffEnv names the variable that selects an external diff program, as for kubectl diff.
const ExternalDiffEnv = "KUBECTL_EXTERNAL_DIFF"

// CleanYAML renders an object's JSON as YAML for a diff, without server bookkeeping that no one
// reviews: metadata.managedFields.
func CleanYAML(objJSON []byte) ([]byte, error) {
	var m map[string]any
	if err := yaml.Unmarshal(objJSON, &m); err != nil {
		return nil, err
	}
	if md, ok := m["metadata"].(map[string]any); ok {
		delete(md, "managedFields")
	}
	return yaml.Marshal(m)
}

// DiffName is the file name kubectl diff gives an object: group-version.kind.namespace.name.
func DiffName(namespace, name string) string {
	return "v1.Service." + namespace + "." + name
}

// Differ writes unified diffs of LIVE against MERGED objects.
type Differ struct {
	Out    io.Writer
	ErrOut io.Writer
	// Color marks removed lines red and added lines green (only on a terminal).
	Color bool
	// External is the KUBECTL_EXTERNAL_DIFF command; empty means the built-in unified diff.
	External string
	// Context is the number of unchanged lines around each change in the built-in diff.
	Context int
}

// NewDiffer returns a Differ that honours KUBECTL_EXTERNAL_DIFF.
func NewDiffer(out, errOut io.Writer, color bool) *Differ {
	return &Differ{Out: out, ErrOut: errOut, Color: color, External: os.Getenv(ExternalDiffEnv), Context: 3}
}

// Diff writes the diff of live and merged (YAML) for the named object and tells whether they differ.
func (d *Differ) Diff(name string, live, merged []byte) (bool, error) {
	if d.External != "" {
		return d.external(name, live, merged)
	}
	text, err := unified(name, live, merged, d.Context)
	if err != nil || text == "" {
		return false, err
	}
	if d.Color {
		text = colorize(text)
	}
	_, err = io.WriteString(d.Out, text)
	return true, err
}

// Unified returns the unified diff (3 lines of context) between live and merged, labelled as
// kubectl diff labels its files; "" when they are equal.
func Unified(name string, live, merged []byte) (string, error) {
	return unified(name, live, merged, 3)
}

func unified(name string, live, merged []byte, context int) (string, error) {
	if bytes.Equal(live, merged) {
		return "", nil
	}
	return difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A:        difflib.SplitLines(string(live)),
		B:        difflib.SplitLines(string(merged)),
		FromFile: filepath.ToSlash(filepath.Join("LIVE", name)),
		ToFile:   filepath.ToSlash(filepath.Join("MERGED", name)),
		Context:  context,
	})
}

func colorize(text string) string {
	var b strings.Builder
	for _, line := range strings.SplitAfter(text, "\n") {
		switch {
		case strings.HasPrefix(line, "+++"), strings.HasPrefix(line, "---"):
			b.WriteString("\x1b[1m" + strings.TrimSuffix(line, "\n") + "\x1b[0m")
		case strings.HasPrefix(line, "+"):
			b.WriteString("\x1b[32m" + strings.TrimSuffix(line, "\n") + "\x1b[0m")
		case strings.HasPrefix(line, "-"):
			b.WriteString("\x1b[31m" + strings.TrimSuffix(line, "\n") + "\x1b[0m")
		case strings.HasPrefix(line, "@@"):
			b.WriteString("\x1b[36m" + strings.TrimSuffix(line, "\n") + "\x1b[0m")
		default:
			b.WriteString(strings.TrimSuffix(line, "\n"))
		}
		if strings.HasSuffix(line, "\n") {
			b.WriteString("\n")
		}
	}
	return b.String()
}

// validExternalArg is the filter kubectl diff applies to KUBECTL_EXTERNAL_DIFF's arguments.
var validExternalArg = regexp.MustCompile(`^[a-zA-Z0-9-=]+$`).MatchString

// external runs KUBECTL_EXTERNAL_DIFF on two directories LIVE-* and MERGED-* holding one file
// each, as kubectl diff does: exit 0 no difference, 1 differences, anything else an error.
func (d *Differ) external(name string, live, merged []byte) (bool, error) {
	fields := strings.Split(d.External, " ")
	prog, args := fields[0], []string{}
	for _, a := range fields[1:] {
		if validExternalArg(a) {
			args = append(args, a)
		}
	}
	liveDir, err := os.MkdirTemp("", "LIVE-")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(liveDir)
	mergedDir, err := os.MkdirTemp("", "MERGED-")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(mergedDir)
	if err := os.WriteFile(filepath.Join(liveDir, name), live, 0o600); err != nil {
		return false, err
	}
	if err := os.WriteFile(filepath.Join(mergedDir, name), merged, 0o600); err != nil {
		return false, err
	}
	cmd := exec.Command(prog, append(args, liveDir, mergedDir)...)
	cmd.Stdout, cmd.Stderr = d.Out, d.ErrOut
	err = cmd.Run()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return false, nil
	case errors.As(err, &exitErr) && exitErr.ExitCode() == 1:
		return true, nil
	default:
		return false, fmt.Errorf("%s %q failed: %v", ExternalDiffEnv, d.External, err)
	}
}
