// Package e2e runs `kubectl elbfix ...` as a user does: the real kubectl binary (built by the
// harness, matching the server) finds the plugin on PATH and talks to a real kube-apiserver and
// etcd started on 127.0.0.1 by test/cluster.
package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-elbfix/kubectl-elbfix/test/cluster"
	"github.com/kubectl-elbfix/kubectl-elbfix/test/internal/cmdtest"
)

var (
	kc     *cluster.Cluster
	binDir string // holds kubectl and kubectl-elbfix; the only PATH entry besides the system's
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "elbfix-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binDir = dir
	if err := buildPlugin(ctx, dir); err != nil {
		fmt.Fprintln(os.Stderr, "building kubectl-elbfix:", err)
		return 1
	}
	kc, err = cluster.Start(ctx, cluster.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the test cluster:", err)
		return 1
	}
	defer kc.Stop()
	if err := os.Symlink(kc.Kubectl, filepath.Join(dir, "kubectl")); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	code := m.Run()
	if code != 0 {
		fmt.Fprintf(os.Stderr, "test cluster logs: %s\n", strings.Join(kc.LogPaths(), " "))
	}
	return code
}

func buildPlugin(ctx context.Context, dir string) error {
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(dir, "kubectl-elbfix"), "./cmd/kubectl-elbfix")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %s", err, out)
	}
	return nil
}

// result is one command's outcome.
type result = cmdtest.Result

// kubectl runs the real kubectl with the plugin on PATH, as the admin unless env sets KUBECONFIG.
func kubectl(t *testing.T, env []string, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "kubectl"), args...)
	cmd.Env = append([]string{
		"PATH=" + binDir + string(os.PathListSeparator) + os.Getenv("PATH"),
		"HOME=" + os.Getenv("HOME"),
		"KUBECONFIG=" + kc.AdminKubeconfig,
	}, env...)
	return cmdtest.Run(t, cmd, stdin)
}

// elbfix runs `kubectl elbfix ARGS...` as the admin.
func elbfix(t *testing.T, args ...string) result {
	t.Helper()
	return kubectl(t, nil, "", append([]string{"elbfix"}, args...)...)
}

func wantCode(t *testing.T, r result, code int) {
	t.Helper()
	if r.Code != code {
		t.Fatalf("want exit %d, got %s", code, r)
	}
}

// namespace creates a fresh namespace for one test.
func namespace(t *testing.T) string {
	t.Helper()
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, strings.ToLower(t.Name()))
	if len(name) > 50 {
		name = name[:50]
	}
	name = strings.Trim(name, "-") + fmt.Sprintf("-%d", time.Now().UnixNano()%100000)
	if _, err := kc.Client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return name
}

// loadService reads a Service fixture from testdata.
func loadService(t *testing.T, file, ns string) *corev1.Service {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{}
	if err := yaml.UnmarshalStrict(b, svc); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	svc.Namespace = ns
	return svc
}

// createService creates svc (with its LoadBalancer status) and returns the stored object.
func createService(t *testing.T, svc *corev1.Service) *corev1.Service {
	t.Helper()
	out, err := kc.CreateService(context.Background(), svc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func getService(t *testing.T, ns, name string) *corev1.Service {
	t.Helper()
	svc, err := kc.Client.CoreV1().Services(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}
