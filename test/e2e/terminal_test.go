package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-elbfix/kubectl-elbfix/test/internal/cmdtest"
)

// onTerminal runs `kubectl ARGS...` under a pseudo-terminal (script(1), from util-linux, which
// Debian always installs): stdout and stderr both go to the terminal, and what it showed comes
// back as Stdout.
func onTerminal(t *testing.T, env []string, args ...string) result {
	t.Helper()
	script, err := exec.LookPath("script")
	if err != nil {
		t.Fatal("script(1) is needed to run a command on a pseudo-terminal (util-linux/bsdutils)")
	}
	line := filepath.Join(binDir, "kubectl")
	for _, a := range args {
		line += " '" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, script, "-qfec", line, "/dev/null")
	cmd.Env = append([]string{
		"PATH=" + binDir + string(os.PathListSeparator) + os.Getenv("PATH"),
		"HOME=" + os.Getenv("HOME"), "TERM=xterm",
		"KUBECONFIG=" + kc.AdminKubeconfig,
	}, env...)
	return cmdtest.Run(t, cmd, "")
}

// TestTerminal: on a terminal, scan shows its progress on stderr once it takes more than a
// second (the Service list is held for 2.5 s by a proxy in front of the API server) and clears
// the line at the end; off a terminal it shows none. svc colours its diff on a terminal, and not
// with NO_COLOR set, nor off a terminal.
func TestTerminal(t *testing.T) {
	ns := namespace(t)
	createService(t, loadService(t, "nginx-shared-local.yaml", ns))
	facts := []string{"--network-model", "vpc", "--proxy-mode", "ipvs", "--cluster-version", "v1.25.5-r0"}
	slow := newFaultProxy(t, func(r faultRequest) faultAction {
		if r.Verb == "list" && r.Resource == "services" {
			return hold(2500 * time.Millisecond)
		}
		return pass
	})

	r := onTerminal(t, slow.Env(), append([]string{"elbfix", "scan", "-n", ns}, facts...)...)
	wantCode(t, r, 1)
	if !strings.Contains(r.Stdout, "\rscanning: ") || !strings.Contains(r.Stdout, "Services read") {
		t.Errorf("no progress on the terminal:\n%q", r.Stdout)
	}
	if !strings.Contains(r.Stdout, "\r\x1b[K") {
		t.Errorf("the progress line is not cleared:\n%q", r.Stdout)
	}
	r = kubectl(t, slow.Env(), "", append([]string{"elbfix", "scan", "-n", ns}, facts...)...)
	wantCode(t, r, 1)
	if strings.Contains(r.Stderr, "scanning") || strings.Contains(r.Stdout, "scanning") {
		t.Errorf("progress off a terminal:\n%s", r)
	}

	svc := append([]string{"elbfix", "svc", "nginx", "-n", ns, "--dry-run"}, facts...)
	if r := onTerminal(t, nil, svc...); !strings.Contains(r.Stdout, "\x1b[32m+") {
		t.Errorf("no colour on a terminal:\n%q", r.Stdout)
	}
	if r := onTerminal(t, []string{"NO_COLOR=1"}, svc...); strings.Contains(r.Stdout, "\x1b[") {
		t.Errorf("colour with NO_COLOR set:\n%q", r.Stdout)
	}
	if r := elbfix(t, svc[1:]...); strings.Contains(r.Stdout, "\x1b[") {
		t.Errorf("colour off a terminal:\n%q", r.Stdout)
	}
}
