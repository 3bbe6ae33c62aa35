// Package version holds the plugin's build stamp, set with -ldflags -X by `make build` and
// `make dist`.
package version

import (
	"runtime"
	"runtime/debug"
)

// Set at link time: -X github.com/kubectl-elbfix/kubectl-elbfix/pkg/version.Version=v0.1.0
var (
	Version = ""
	Commit  = ""
)

// Info is what `kubectl elbfix version -o json` prints.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

// Get returns the stamped version, falling back to the module build info (go install) and then
// to "dev".
func Get() Info {
	i := Info{Version: Version, Commit: Commit, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if i.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			i.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && i.Commit == "" {
				i.Commit = s.Value
			}
		}
	}
	if i.Version == "" {
		i.Version = "dev"
	}
	if i.Commit == "" {
		i.Commit = "unknown"
	}
	return i
}
