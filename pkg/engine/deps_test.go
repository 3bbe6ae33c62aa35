package engine

import (
	"os/exec"
	"strings"
	"testing"
)

// The engine is the flows without the command line (as stern's engine, which never imports
// cobra): pkg/cmd builds a config from flags and calls it. This test fails when the engine, or
// anything it imports, depends on cobra or on cli-runtime's flag and IO plumbing.
func TestEngineHasNoCommandLine(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"github.com/spf13/cobra", "github.com/spf13/pflag", "k8s.io/cli-runtime/"} {
			if strings.HasPrefix(dep, banned) {
				t.Errorf("pkg/engine depends on %s", dep)
			}
		}
	}
}
