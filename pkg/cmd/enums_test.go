package cmd

import (
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// Each enum flag's help, validation and completion come from its one table.
func TestEnumFlagsOneTable(t *testing.T) {
	root := NewCmdElbfix(genericiooptions.IOStreams{})
	for _, tc := range []struct {
		cmd  string
		flag enumFlag
	}{
		{"svc", dryRunFlag}, {"svc", strategyFlag}, {"svc", svcOutputFlag},
		{"scan", scanOutputFlag}, {"scan", failOnFlag}, {"detect", detectOutputFlag}, {"version", versionOutputFlag},
		{"policy", policyModeFlag}, {"policy", policyOutputFlag},
		{"detect", cloudCredentialsFlag}, {"svc", cloudCredentialsFlag}, {"scan", cloudCredentialsFlag},
	} {
		c, _, err := root.Find([]string{tc.cmd})
		if err != nil {
			t.Fatal(err)
		}
		f := c.Flags().Lookup(tc.flag.name)
		if f == nil {
			t.Fatalf("%s has no --%s", tc.cmd, tc.flag.name)
		}
		for _, v := range tc.flag.choices() {
			if !strings.Contains(f.Usage, v) {
				t.Errorf("%s --%s help does not name %q: %s", tc.cmd, tc.flag.name, v, f.Usage)
			}
			if err := tc.flag.validate(v); err != nil {
				t.Errorf("%s --%s refuses %q: %v", tc.cmd, tc.flag.name, v, err)
			}
		}
		if err := tc.flag.validate("bogus"); err == nil || !strings.Contains(err.Error(), `invalid value "bogus" for --`+tc.flag.name) {
			t.Errorf("%s --%s accepts bogus: %v", tc.cmd, tc.flag.name, err)
		}
		complete, ok := c.GetFlagCompletionFunc(tc.flag.name)
		if !ok {
			t.Fatalf("%s --%s has no completion", tc.cmd, tc.flag.name)
		}
		got, _ := complete(c, nil, "")
		if strings.Join(got, ",") != strings.Join(tc.flag.choices(), ",") {
			t.Errorf("%s --%s completes %v, want %v", tc.cmd, tc.flag.name, got, tc.flag.choices())
		}
	}
}
