package e2e

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// secretsOf are the forms in which a credential could leak: the token itself, and the client
// certificate's key and certificate as PEM lines and as the base64 a kubeconfig holds.
func secretsOf(token string, certPEM, keyPEM []byte) []string {
	out := []string{token}
	for _, pemData := range [][]byte{certPEM, keyPEM} {
		out = append(out, base64.StdEncoding.EncodeToString(pemData)[:40])
		for _, line := range strings.Split(string(pemData), "\n") {
			if len(line) >= 40 && !strings.HasPrefix(line, "-----") {
				out = append(out, line)
			}
		}
	}
	return out
}

// TestNoCredentialInOutput: every command, at kubectl's -v=9 (client-go then logs each request
// and response), with a bearer token and with a client certificate: neither the token nor the
// certificate or its key appear on stdout, stderr, or in any file the run writes under its
// HOME and TMPDIR.
func TestNoCredentialInOutput(t *testing.T) {
	ns := namespace(t)
	createService(t, loadService(t, "nginx-shared-local.yaml", ns))
	createService(t, ownELB(loadService(t, "dedicated-elb-local.yaml", ns)))
	secrets := secretsOf(kc.AdminToken, kc.ClientCertPEM, kc.ClientKeyPEM)
	facts := []string{"--network-model", "vpc", "--proxy-mode", "ipvs", "--cluster-version", "v1.25.5-r0"}
	commands := [][]string{
		{"svc", "nginx", "orders", "-n", ns, "--dry-run"},
		{"svc", "nginx", "orders", "-n", ns, "--dry-run=server", "-o", "json"},
		{"scan", "-A", "-o", "yaml"},
		{"detect", "--verbose"},
		{"svc", "nginx", "-n", ns},
	}
	for _, auth := range []struct{ name, kubeconfig string }{
		{"token", kc.AdminKubeconfig},
		{"client certificate", kc.CertKubeconfig},
	} {
		for _, args := range commands {
			t.Run(auth.name+" "+strings.Join(args, " "), func(t *testing.T) {
				home, tmp := t.TempDir(), t.TempDir()
				env := []string{"KUBECONFIG=" + auth.kubeconfig, "HOME=" + home, "TMPDIR=" + tmp}
				full := append(append(append([]string{"elbfix"}, args...), "-v=9"), facts...)
				if args[0] == "detect" {
					full = append([]string{"elbfix"}, append(args, "-v=9")...)
				}
				r := kubectl(t, env, "", full...)
				if r.Code == 2 {
					t.Fatalf("the command failed: %s", r)
				}
				if auth.name == "token" && !strings.Contains(r.Stderr, "Authorization: Bearer <masked>") {
					t.Errorf("-v=9 does not log the requests (no masked Authorization header): the check sees nothing\n%s", r.Stderr[:min(len(r.Stderr), 2000)])
				}
				for _, s := range secrets {
					if strings.Contains(r.Stdout, s) || strings.Contains(r.Stderr, s) {
						t.Errorf("a credential appears in the output: %.12s...", s)
					}
				}
				for _, dir := range []string{home, tmp} {
					_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
						if err != nil || d.IsDir() {
							return nil
						}
						b, err := os.ReadFile(path)
						if err != nil {
							return nil
						}
						for _, s := range secrets {
							if bytes.Contains(b, []byte(s)) {
								t.Errorf("a credential appears in the written file %s", path)
							}
						}
						return nil
					})
				}
			})
		}
		// Reset the fixed Service for the next kind of credential.
		svc := getService(t, ns, "nginx")
		delete(svc.Annotations, "kubernetes.io/elb.pass-through")
		if _, err := kc.Client.CoreV1().Services(ns).Update(t.Context(), svc, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

// execKubeconfig writes a kubeconfig whose user gets its token from an exec credential plugin
// (client.authentication.k8s.io/v1), as cloud kubeconfigs do: a script printing the token.
func execKubeconfig(t *testing.T, token string) string {
	t.Helper()
	dir := t.TempDir()
	plugin := filepath.Join(dir, "credential-plugin")
	script := fmt.Sprintf("#!/bin/sh\nprintf '%%s' '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\"status\":{\"token\":\"%s\"}}'\n", token)
	if err := os.WriteFile(plugin, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	ca := base64.StdEncoding.EncodeToString(kc.Config.TLSClientConfig.CAData)
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: %q, certificate-authority-data: %s}
users:
- name: u
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: %q
      interactiveMode: Never
contexts:
- name: x
  context: {cluster: c, user: u, namespace: default}
current-context: x
`, kc.Server, ca, plugin)
	path := filepath.Join(dir, "exec.kubeconfig")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestExecCredentialKubeconfig: a kubeconfig whose token comes from an exec plugin works; one
// whose plugin hands out a token the server rejects (expired) ends with one line and exit 2.
func TestExecCredentialKubeconfig(t *testing.T) {
	ns := namespace(t)
	createService(t, loadService(t, "nginx-shared-local.yaml", ns))
	facts := []string{"--network-model", "vpc", "--proxy-mode", "ipvs", "--cluster-version", "v1.25.5-r0"}
	r := kubectl(t, []string{"KUBECONFIG=" + execKubeconfig(t, kc.AdminToken)}, "",
		append([]string{"elbfix", "svc", "nginx", "-n", ns, "--dry-run=server"}, facts...)...)
	wantCode(t, r, 1)
	if !strings.Contains(r.Stdout, `kubernetes.io/elb.pass-through: "true"`) {
		t.Errorf("no diff through the exec credential:\n%s", r)
	}
	r = kubectl(t, []string{"KUBECONFIG=" + execKubeconfig(t, "expired-"+kc.AdminToken[:8])}, "",
		append([]string{"elbfix", "svc", "nginx", "-n", ns, "--dry-run"}, facts...)...)
	wantCode(t, r, 2)
	wantOneLineError(t, r, "rejected the credentials")
}
