package cmd

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/detect"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/engine"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/plan"
)

func TestSvcValidate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		o       SvcOptions
		args    []string
		wantErr string
	}{
		{name: "one name", args: []string{"nginx"}},
		{name: "selector", o: SvcOptions{Selector: "app=web"}},
		{name: "offline", o: SvcOptions{Filename: "x.yaml"}},
		{name: "offline client dry run", o: SvcOptions{Filename: "x.yaml", DryRun: engine.DryRunClient}},
		{name: "nothing named", wantErr: "name the Services"},
		{name: "names and selector", o: SvcOptions{Selector: "a=b"}, args: []string{"x"}, wantErr: "not several"},
		{name: "selector and file", o: SvcOptions{Selector: "a=b", Filename: "-"}, wantErr: "not several"},
		{name: "server dry run offline", o: SvcOptions{Filename: "-", DryRun: engine.DryRunServer}, wantErr: "--dry-run=server needs a cluster"},
		{name: "bad dry run", o: SvcOptions{DryRun: "yes"}, args: []string{"x"}, wantErr: `invalid value "yes" for --dry-run`},
		{name: "bad strategy", o: SvcOptions{Strategy: "both"}, args: []string{"x"}, wantErr: `invalid value "both" for --strategy`},
		{name: "bad output", o: SvcOptions{Output: "wide"}, args: []string{"x"}, wantErr: `invalid value "wide" for --output`},
		{name: "bad network model", o: SvcOptions{Overrides: detect.Overrides{NetworkModel: "calico"}}, args: []string{"x"}, wantErr: "calico"},
		{name: "bad version", o: SvcOptions{Overrides: detect.Overrides{ClusterVersion: "one.two"}}, args: []string{"x"}, wantErr: "--cluster-version"},
		{name: "good version", o: SvcOptions{Overrides: detect.Overrides{ClusterVersion: "v1.17.9-r0-CCE20.7.1.B003-17.36.3"}}, args: []string{"x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.o
			if o.DryRun == "" {
				o.DryRun = engine.DryRunNone
			}
			if o.Strategy == "" {
				o.Strategy = plan.StrategyAuto
			}
			o.names = tc.args
			err := o.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("want an error containing %q, got %v", tc.wantErr, err)
			}
			if tc.wantErr != "" {
				if _, ok := err.(usageError); !ok {
					t.Errorf("bad flags must be a usage error (exit 2), got %T", err)
				}
			}
		})
	}
}

func TestEnvOverridesAreValidated(t *testing.T) {
	t.Setenv(detect.EnvNetworkModel, "vpc")
	t.Setenv(detect.EnvProxyMode, "userspace")
	o := NewSvcOptions(genericclioptions.NewConfigFlags(false), genericiooptions.NewTestIOStreamsDiscard())
	o.Filename = "-"
	if err := o.Complete(nil); err != nil {
		t.Fatal(err)
	}
	if o.Overrides.NetworkModel != "vpc" {
		t.Errorf("env network model not taken: %+v", o.Overrides)
	}
	if err := o.Validate(); err == nil || !strings.Contains(err.Error(), detect.EnvProxyMode) {
		t.Errorf("want an error naming %s, got %v", detect.EnvProxyMode, err)
	}
}

// TestExecuteExitCodes runs the root command in-process: usage errors are exit 2 with one line.
func TestExecuteExitCodes(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		code    int
		stderr  string
		stdoutH string
	}{
		{[]string{"version"}, 0, "", "kubectl-elbfix "},
		{[]string{"frobnicate"}, 2, `error: unknown command "frobnicate"`, ""},
		{[]string{"svc", "--bogus"}, 2, "error: unknown flag: --bogus", ""},
		{[]string{"svc"}, 2, "error: name the Services", ""},
		{[]string{"scan", "--fail-on", "sometimes"}, 2, `error: invalid value "sometimes" for --fail-on`, ""},
		{[]string{"svc", "-f", "testdata/does-not-exist.yaml"}, 2, "does-not-exist.yaml", ""},
		{[]string{"svc", "-f", "testdata/nodeport-local.yaml", "--dry-run", "--network-model", "vpc", "--proxy-mode", "ipvs"}, 1, "", "service/web: would set spec.externalTrafficPolicy=Cluster; write it with -o manifest or --in-place"},
		{[]string{"svc", "-f", "testdata/nodeport-local.yaml", "--network-model", "vpc", "--proxy-mode", "ipvs"}, 0, "", "service/web: would set spec.externalTrafficPolicy=Cluster; write it with -o manifest or --in-place"},
		{[]string{"svc", "-f", "testdata/nodeport-local.yaml", "--strategy", "pass-through", "--cluster-version", "v1.25.5"}, 2, "pass-through", ""},
		// An error no patch clears: exit 1 in every mode but -o manifest, unless it is ignored.
		{[]string{"svc", "-f", "testdata/dedicated-pt-true.yaml", "--cluster-version", "v1.25.5"}, 1, "", "No fix for dedicated-elb-hairpin"},
		{[]string{"svc", "-f", "testdata/dedicated-pt-true.yaml", "--cluster-version", "v1.25.5", "--dry-run"}, 1, "", "orders.shop.svc:8080"},
		{[]string{"svc", "-f", "testdata/dedicated-pt-true.yaml", "--cluster-version", "v1.25.5", "-o", "manifest"}, 0, "", "kubernetes.io/elb.pass-through"},
		{[]string{"svc", "-f", "testdata/dedicated-pt-true-ignored.yaml", "--cluster-version", "v1.25.5", "--dry-run"}, 0, "", "No fix for dedicated-elb-hairpin"},
		{[]string{"svc", "-f", "testdata/dedicated-pt-true.yaml", "--cluster-version", "v1.25.5", "--strategy", "cluster"}, 2, "--strategy cluster cannot work because", ""},
		// Two Services of the input on one ELB, IPVS: both get pass-through; iptables: only the Local one.
		{[]string{"svc", "-f", "testdata/same-elb-pair.yaml", "--cluster-version", "v1.25.5", "--network-model", "vpc", "--proxy-mode", "ipvs", "-o", "patch"}, 0, "", "{\"metadata\":{\"annotations\":{\"kubernetes.io/elb.pass-through\":\"true\"}}}\n{\"metadata\":{\"annotations\":{\"kubernetes.io/elb.pass-through\":\"true\"}}}\n"},
		{[]string{"svc", "-f", "testdata/same-elb-pair.yaml", "--cluster-version", "v1.25.5", "--network-model", "vpc", "--proxy-mode", "ipvs", "--dry-run"}, 1, "", "service/api: would get pass-through with service shop/web (same ELB, above)"},
		// policy: offline when every fact is given; the version decides what can be generated.
		{[]string{"policy", "--network-model", "vpc", "--proxy-mode", "ipvs", "--cluster-version", "v1.37.2"}, 0, "", "kind: ValidatingAdmissionPolicy"},
		{[]string{"policy", "--network-model", "vpc", "--proxy-mode", "ipvs", "--cluster-version", "v1.29.1", "-o", "json"}, 0, "", "\"apiVersion\": \"admissionregistration.k8s.io/v1beta1\""},
		{[]string{"policy", "--network-model", "vpc", "--proxy-mode", "ipvs", "--cluster-version", "v1.27.3"}, 2, "admission policies need Kubernetes v1.28 or later", ""},
		{[]string{"policy", "--network-model", "vpc", "--proxy-mode", "ipvs", "--cluster-version", "v1.33.0", "--mutate"}, 2, "MutatingAdmissionPolicy: it needs Kubernetes v1.36", ""},
		{[]string{"policy", "--mode", "block"}, 2, `invalid value "block" for --mode`, ""},
		{[]string{"policy", "--apply", "-o", "yaml"}, 2, "--apply prints each object as it is written; it takes no -o", ""},
		{[]string{"policy", "extra"}, 2, "unknown command \"extra\"", ""},
		// Events of the input are read for the Services they name.
		{[]string{"svc", "-f", "testdata/events", "--cluster-version", "v1.25.5", "-o", "json"}, 0, "", "\"id\": \"elb-member-quota-exceeded\""},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := Execute(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}, tc.args)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, out.String(), errOut.String())
			}
			if tc.stderr != "" {
				lines := strings.Split(strings.TrimSpace(errOut.String()), "\n")
				if len(lines) != 1 || !strings.Contains(lines[0], tc.stderr) {
					t.Errorf("stderr = %q, want one line containing %q", errOut.String(), tc.stderr)
				}
			}
			if !strings.Contains(out.String(), tc.stdoutH) {
				t.Errorf("stdout lacks %q:\n%s", tc.stdoutH, out.String())
			}
		})
	}
}

// The offline peer rule and Events, from the negative side: with iptables only the Local Service
// is patched, and without the Event file no quota finding appears.
func TestOfflinePeersAndEventsNegative(t *testing.T) {
	run := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		Execute(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}, args)
		if errOut.Len() > 0 {
			t.Fatalf("%v: stderr %s", args, errOut.String())
		}
		return out.String()
	}
	out := run("svc", "-f", "testdata/same-elb-pair.yaml", "--cluster-version", "v1.25.5", "--network-model", "vpc", "--proxy-mode", "iptables", "-o", "patch")
	if n := strings.Count(out, "pass-through"); n != 1 {
		t.Errorf("iptables: %d patches, want 1:\n%s", n, out)
	}
	out = run("svc", "-f", "testdata/events/service-shared-elb-local.yaml", "--cluster-version", "v1.25.5", "-o", "json")
	if strings.Contains(out, "elb-member-quota-exceeded") {
		t.Errorf("a quota finding without the Event:\n%s", out)
	}
}

var updateGolden = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestHumanOutputGolden: the human output of svc, as a person reads it, in golden files
// reviewed by eye. The README's first command prints at most 15 lines.
func TestHumanOutputGolden(t *testing.T) {
	for _, tc := range []struct {
		golden   string
		args     []string
		maxLines int
	}{
		{"readme-first-command.golden", []string{"svc", "-f", "../../examples/service-shared-elb-local.yaml", "--cluster-version", "v1.25.5-r0"}, 15},
		{"readme-first-command-explain.golden", []string{"svc", "-f", "../../examples/service-shared-elb-local.yaml", "--cluster-version", "v1.25.5-r0", "--explain"}, 0},
		{"dedicated-vpc-ipvs.golden", []string{"svc", "-f", "../../examples/service-dedicated-elb.yaml", "--cluster-version", "v1.25.5-r0", "--network-model", "vpc", "--proxy-mode", "ipvs"}, 15},
		{"dedicated-pt-true.golden", []string{"svc", "-f", "testdata/dedicated-pt-true.yaml", "--cluster-version", "v1.25.5-r0", "--network-model", "vpc", "--proxy-mode", "ipvs"}, 15},
		{"same-elb-pair.golden", []string{"svc", "-f", "testdata/same-elb-pair.yaml", "--cluster-version", "v1.25.5-r0", "--network-model", "vpc", "--proxy-mode", "ipvs"}, 0},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			var out, errOut bytes.Buffer
			Execute(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}, tc.args)
			if errOut.Len() > 0 {
				t.Fatalf("stderr: %s", errOut.String())
			}
			path := filepath.Join("testdata", "golden", tc.golden)
			if *updateGolden {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (go test ./pkg/cmd -update writes it)", err)
			}
			if out.String() != string(want) {
				t.Errorf("%s differs (go test ./pkg/cmd -update rewrites it):\n--- got:\n%s\n--- want:\n%s", path, out.String(), want)
			}
			if tc.golden == "readme-first-command.golden" {
				readme, err := os.ReadFile("../../README.md")
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(string(readme), "```\n"+out.String()+"```\n") {
					t.Errorf("the README does not show the first command's real output:\n%s", out.String())
				}
			}
			if n := strings.Count(out.String(), "\n"); tc.maxLines > 0 && n > tc.maxLines {
				t.Errorf("%d lines, want at most %d", n, tc.maxLines)
			}
		})
	}
}

// TestInPlace: -i on a directory writes back exactly the fixed lines of the changed files (the
// same bytes as -o manifest of that file), leaves the other files untouched, and a second run
// changes nothing. Standard input is refused.
func TestInPlace(t *testing.T) {
	run := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := Execute(genericiooptions.IOStreams{In: strings.NewReader("apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {type: LoadBalancer, externalTrafficPolicy: Local}\n"), Out: &out, ErrOut: &errOut}, args)
		return code, out.String(), errOut.String()
	}
	dir := t.TempDir()
	entries, err := os.ReadDir("../../examples")
	if err != nil {
		t.Fatal(err)
	}
	orig := map[string][]byte{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("../../examples", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		orig[e.Name()] = b
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	before := map[string]os.FileInfo{}
	for name := range orig {
		before[name], _ = os.Stat(filepath.Join(dir, name))
	}
	flags := []string{"--cluster-version", "v1.25.5-r0", "--network-model", "vpc", "--proxy-mode", "ipvs"}
	code, out, errOut := run(append([]string{"svc", "-f", dir, "-i"}, flags...)...)
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %s", code, errOut)
	}
	changed := 0
	for name, b := range orig {
		path := filepath.Join(dir, name)
		got, _ := os.ReadFile(path)
		_, want, _ := run(append([]string{"svc", "-f", filepath.Join("../../examples", name), "-o", "manifest"}, flags...)...)
		if !strings.Contains(string(b), "kind: Service") {
			want = string(b) // not a Service: -o manifest prints it as read, too
		}
		if string(got) != want {
			t.Errorf("%s after -i:\n%s\nwant (-o manifest):\n%s", name, got, want)
		}
		info, _ := os.Stat(path)
		if string(got) == string(b) {
			if !info.ModTime().Equal(before[name].ModTime()) {
				t.Errorf("%s did not change but was written", name)
			}
			continue
		}
		changed++
		if info.Mode().Perm() != 0o640 {
			t.Errorf("%s: mode %v, want the original's 0640", name, info.Mode().Perm())
		}
		if !strings.Contains(out, "written to "+path) {
			t.Errorf("the report does not name %s:\n%s", path, out)
		}
	}
	if changed != 2 {
		t.Errorf("%d files changed, want 2 (the two Services)", changed)
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, ".*elbfix*"))
	if len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
	// A second run finds nothing to change and writes nothing.
	snapshot := map[string]string{}
	for name := range orig {
		b, _ := os.ReadFile(filepath.Join(dir, name))
		snapshot[name] = string(b)
	}
	code, out, _ = run(append([]string{"svc", "-f", dir, "-i"}, flags...)...)
	if code != 0 || strings.Contains(out, "written to") {
		t.Errorf("second run: exit %d\n%s", code, out)
	}
	for name, s := range snapshot {
		if b, _ := os.ReadFile(filepath.Join(dir, name)); string(b) != s {
			t.Errorf("second run changed %s", name)
		}
	}
	// Standard input cannot be written back; no -f at all neither.
	for _, args := range [][]string{{"svc", "-f", "-", "-i"}, {"svc", "nginx", "-i"}, {"svc", "-f", dir, "-i", "--dry-run"}} {
		if code, _, errOut := run(args...); code != 2 || !strings.Contains(errOut, "--in-place") {
			t.Errorf("%v: exit %d, stderr %q", args, code, errOut)
		}
	}
}
