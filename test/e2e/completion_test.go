package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// TestCompletionScripts: `kubectl elbfix completion SHELL` through kubectl prints each shell's
// script for the kubectl-elbfix command.
func TestCompletionScripts(t *testing.T) {
	for shell, marker := range map[string]string{
		"bash":       "__start_kubectl-elbfix",
		"zsh":        "#compdef kubectl-elbfix",
		"fish":       "complete -c kubectl-elbfix",
		"powershell": "Register-ArgumentCompleter",
	} {
		r := elbfix(t, "completion", shell)
		wantCode(t, r, 0)
		if !strings.Contains(r.Stdout, marker) {
			t.Errorf("completion %s lacks %q:\n%s", shell, marker, r)
		}
	}
}

// TestBashCompletion drives the real bash completion: the script from `kubectl-elbfix
// completion bash` loaded into bash, COMP_WORDS/COMP_CWORD set for a command line, the
// completion function called, COMPREPLY printed. Service names come from the API server,
// from the namespace -n names or else the kubeconfig context's.
func TestBashCompletion(t *testing.T) {
	ns := namespace(t)
	other := namespace(t)
	createService(t, loadService(t, "nginx-shared-local.yaml", ns))
	createService(t, renamed(loadService(t, "clusterip.yaml", ns), "web"))
	createService(t, renamed(loadService(t, "clusterip.yaml", other), "ng-other"))
	nsKubeconfig := kubeconfigWithNamespace(t, other)

	for _, tc := range []struct {
		name, line string
		kubeconfig string
		want       []string
		atLeast    bool // want lists candidates that must be there among others
	}{
		{"enum flag", "kubectl-elbfix svc --strategy ", "", []string{"auto", "cluster", "pass-through"}, false},
		{"enum flag prefix", "kubectl-elbfix svc --network-model t", "", []string{"tunnel", "turbo"}, false},
		{"output", "kubectl-elbfix svc -o ", "", []string{"json", "manifest", "patch", "yaml"}, false},
		{"subcommands", "kubectl-elbfix ", "", []string{"completion", "svc", "version"}, true},
		{"names with -n", "kubectl-elbfix svc -n " + ns + " ng", "", []string{"nginx"}, false},
		{"every name with -n", "kubectl-elbfix svc -n " + ns + " ", "", []string{"nginx", "web"}, false},
		{"names not yet given", "kubectl-elbfix svc -n " + ns + " nginx ", "", []string{"web"}, false},
		{"--namespace", "kubectl-elbfix svc --namespace " + other + " ng", "", []string{"ng-other"}, false},
		{"kubeconfig namespace", "kubectl-elbfix svc ng", nsKubeconfig, []string{"ng-other"}, false},
		{"-n wins over the kubeconfig", "kubectl-elbfix svc -n " + ns + " ng", nsKubeconfig, []string{"nginx"}, false},
		{"no names with -l", "kubectl-elbfix svc -n " + ns + " -l app=x ", "", nil, false},
		{"namespaces", "kubectl-elbfix svc -n " + ns[:len(ns)-2], "", []string{ns}, true},
		{"namespaces for scan", "kubectl-elbfix scan --namespace " + other, "", []string{other}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := bashComplete(t, tc.kubeconfig, tc.line)
			slices.Sort(got)
			if tc.atLeast {
				got = slices.DeleteFunc(got, func(s string) bool { return !slices.Contains(tc.want, s) })
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("completing %q: got %q, want %q", tc.line, got, tc.want)
			}
		})
	}
}

// renamed returns svc named name.
func renamed(svc *corev1.Service, name string) *corev1.Service {
	svc.Name = name
	return svc
}

// TestKubectlCompletesThroughShim: kubectl (v1.26+) completes `kubectl elbfix ...` by running
// kubectl_complete-elbfix from PATH, the shim the archives ship.
func TestKubectlCompletesThroughShim(t *testing.T) {
	ns := namespace(t)
	createService(t, loadService(t, "nginx-shared-local.yaml", ns))
	createService(t, renamed(loadService(t, "clusterip.yaml", ns), "web"))

	shimDir := t.TempDir()
	_, file, _, _ := runtime.Caller(0)
	shim, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "hack", "kubectl_complete-elbfix"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(shimDir, "kubectl_complete-elbfix"), shim, 0o755); err != nil {
		t.Fatal(err)
	}
	path := []string{"PATH=" + shimDir + string(os.PathListSeparator) + binDir + string(os.PathListSeparator) + os.Getenv("PATH")}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"svc", "-n", ns, ""}, "nginx web :4"},
		{[]string{"svc", "-n", ns, "w"}, "web :4"},
		{[]string{"svc", "--proxy-mode", ""}, "auto iptables ipvs :4"},
	} {
		r := kubectl(t, path, "", append([]string{"__complete", "elbfix"}, tc.args...)...)
		wantCode(t, r, 0)
		if got := completionLines(r.Stdout); got != tc.want {
			t.Errorf("kubectl __complete elbfix %q = %q, want %q\n%s", tc.args, got, tc.want, r)
		}
	}
	// The plugin's own __complete, through kubectl, reads the kubeconfig's namespace (none:
	// default, where the API server keeps its own Service).
	r := elbfix(t, "__complete", "svc", "kube")
	wantCode(t, r, 0)
	if got := completionLines(r.Stdout); got != "kubernetes :4" {
		t.Errorf("kubectl elbfix __complete svc kube = %q, want %q", got, "kubernetes :4")
	}
}

// bashComplete returns bash's candidates (COMPREPLY) for line, the cursor at its end (a
// trailing space starts a new word), with the plugin on PATH. kubeconfig "" is the admin's.
func bashComplete(t *testing.T, kubeconfig, line string) []string {
	t.Helper()
	if kubeconfig == "" {
		kubeconfig = kc.AdminKubeconfig
	}
	// The completion script needs _get_comp_words_by_ref from the bash-completion package;
	// where that is not installed, a minimal one that splits on blanks, as the lines here do.
	const script = `
[ -r /usr/share/bash-completion/bash_completion ] && . /usr/share/bash-completion/bash_completion
if ! declare -F _get_comp_words_by_ref >/dev/null; then
  _get_comp_words_by_ref() {
    cur=${COMP_WORDS[COMP_CWORD]}; prev=${COMP_WORDS[COMP_CWORD-1]}
    words=("${COMP_WORDS[@]}"); cword=$COMP_CWORD
  }
fi
source <(kubectl-elbfix completion bash) || exit 3
COMP_LINE=$1
COMP_POINT=${#COMP_LINE}
COMP_TYPE=9
read -ra COMP_WORDS <<<"$COMP_LINE"
[[ $COMP_LINE == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
__start_kubectl-elbfix 2>/dev/null
printf '%s\n' "${COMPREPLY[@]}"
`
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "--norc", "--noprofile", "-c", script, "bash", line)
	cmd.Env = []string{
		"PATH=" + binDir + string(os.PathListSeparator) + os.Getenv("PATH"),
		"HOME=" + os.Getenv("HOME"),
		"KUBECONFIG=" + kubeconfig,
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("bash completion of %q: %v\n%s", line, err, stderr.String())
	}
	var out []string
	for _, s := range strings.Split(stdout.String(), "\n") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// completionLines joins cobra's __complete output (candidates, then :DIRECTIVE) with spaces,
// descriptions dropped.
func completionLines(out string) string {
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		c, _, _ := strings.Cut(line, "\t")
		got = append(got, c)
	}
	return strings.Join(got, " ")
}

// kubeconfigWithNamespace copies the admin kubeconfig with its context's namespace set to ns.
func kubeconfigWithNamespace(t *testing.T, ns string) string {
	t.Helper()
	b, err := os.ReadFile(kc.AdminKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	r := kubectl(t, []string{"KUBECONFIG=" + path}, "", "config", "set-context", "--current", "--namespace="+ns)
	wantCode(t, r, 0)
	return path
}
