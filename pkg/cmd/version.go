package cmd

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/version"
)

// NewCmdVersion returns `kubectl elbfix version`.
func NewCmdVersion(streams genericiooptions.IOStreams) *cobra.Command {
	var output string
	c := &cobra.Command{
		Use:   "version",
		Short: "Print the plugin's version",
		Args:  cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			info := version.Get()
			switch output {
			case "":
				fmt.Fprintf(streams.Out, "kubectl-elbfix %s (commit %s, %s, %s)\n", info.Version, info.Commit, info.GoVersion, info.Platform)
			case "json":
				b, _ := json.MarshalIndent(info, "", "  ")
				fmt.Fprintln(streams.Out, string(b))
			case "yaml":
				b, _ := yaml.Marshal(info)
				fmt.Fprint(streams.Out, string(b))
			default:
				return versionOutputFlag.validate(output)
			}
			return nil
		},
	}
	versionOutputFlag.add(c, &output, "o", "")
	return c
}
