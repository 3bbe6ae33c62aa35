// Package cluster starts a real, minimal Kubernetes control plane (etcd and kube-apiserver
// v1.37.2 built from the Go module proxy) for tests of kubectl-elbfix, and offers helpers to
// create the objects the plugin reads. No controller-manager, scheduler or kubelet runs:
// objects are created exactly as given (status via the status subresource), namespaces are
// never finalized, and pods stay where they are put.
//
// Typical use in a test:
//
//	c := cluster.StartT(t, cluster.Options{})
//	node, err := c.CreateNode(ctx, "192.168.0.212", labels, addrs, []string{"10.0.0.0/25"})
//
// The binaries are built once and cached (see Binaries); the first run on a machine takes
// about five minutes.
package cluster

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

const (
	// ReadOnlyUser is the user name of the read-only token.
	ReadOnlyUser = "elbfix-viewer"
	// ReadOnlyGroup is the group of the read-only user, bound to ReadOnlyClusterRole.
	ReadOnlyGroup = "elbfix-viewers"
	// ReadOnlyClusterRole is the ClusterRole granting get/list/watch to ReadOnlyGroup.
	ReadOnlyClusterRole = "elbfix-viewer"
	// CertUser is the user name of the admin client certificate (group system:masters).
	CertUser = "elbfix-cert-admin"
	// AdminUser is the user name of the admin token (group system:masters).
	AdminUser = "elbfix-admin"
	// ServiceClusterIPRange is the --service-cluster-ip-range of the test server.
	ServiceClusterIPRange = "10.96.0.0/16"

	readyTimeout = 60 * time.Second
	logTailLines = 40
	stopGrace    = 5 * time.Second
)

// viewerExtraGroups are API groups the read-only user may read in full although they may not
// exist when the cluster starts (CCE CRDs). Their resources have no proxy-like subresources.
var viewerExtraGroups = []string{"k8s.cni.cncf.io", "crd.yangtse.cni"}

// Options configures Start.
type Options struct {
	// GitVersion is what the API server reports from /version; "" means KubernetesVersion.
	// Only v1.37.x values give a working server (e.g. "v1.37.2-r0-37.0.1").
	GitVersion string
	// Log receives build progress and start-up messages; nil means os.Stderr. Use io.Discard
	// to silence.
	Log io.Writer
	// ExtraAPIServerArgs are appended to the kube-apiserver command line (later flags win).
	ExtraAPIServerArgs []string
	// KeepDir keeps Dir (logs, kubeconfigs, etcd data) after Stop or a failed Start.
	KeepDir bool
}

// Cluster is a running etcd + kube-apiserver pair. All fields are read-only.
type Cluster struct {
	// Dir holds the kubeconfigs, certificates, etcd data and server logs.
	Dir string
	// AdminKubeconfig is a kubeconfig for the admin user (group system:masters).
	AdminKubeconfig string
	// CertKubeconfig is a kubeconfig for CertUser, authenticated by a client certificate
	// (embedded as client-certificate-data and client-key-data); ClientCertPEM and ClientKeyPEM
	// are that certificate and key.
	CertKubeconfig              string
	ClientCertPEM, ClientKeyPEM []byte
	// ReadOnlyKubeconfig is a kubeconfig for ReadOnlyUser: get/list/watch on every
	// resource, but no subresources (notably no nodes/proxy, pods/log, pods/exec).
	ReadOnlyKubeconfig string
	// Server is the API server URL, https://127.0.0.1:PORT.
	Server string
	// CAFile is the CA bundle that signed the serving certificate.
	CAFile string
	// AdminToken and ReadOnlyToken are the bearer tokens of the two users.
	AdminToken, ReadOnlyToken string
	// Kubectl is the path of a kubectl binary matching the server.
	Kubectl string
	// GitVersion is what the server reports from /version.
	GitVersion string
	// Config, Client and Dynamic talk to the server as admin.
	Config  *rest.Config
	Client  kubernetes.Interface
	Dynamic dynamic.Interface
	// ReadOnlyConfig and ReadOnlyClient talk to the server as ReadOnlyUser.
	ReadOnlyConfig *rest.Config
	ReadOnlyClient kubernetes.Interface

	etcd, apiserver *process
	egress          *egressGuard
	keepDir         bool
	stopOnce        sync.Once
	mu              sync.Mutex // guards keepDir
}

// Start builds (or reuses) the binaries and starts etcd and kube-apiserver on free
// 127.0.0.1 ports, waits for /readyz, sets up RBAC for the read-only user and writes the
// kubeconfigs. Call Stop when done. ctx bounds the start-up only, not the cluster's life.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	log := opts.Log
	if log == nil {
		log = os.Stderr
	}
	gitVersion := opts.GitVersion
	if gitVersion == "" {
		gitVersion = KubernetesVersion
	}
	bins, err := binaries(ctx, log, gitVersion)
	if err != nil {
		return nil, err
	}

	dir, err := os.MkdirTemp("", "elbfix-cluster-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{
		Dir:                dir,
		AdminKubeconfig:    filepath.Join(dir, "admin.kubeconfig"),
		ReadOnlyKubeconfig: filepath.Join(dir, "readonly.kubeconfig"),
		CertKubeconfig:     filepath.Join(dir, "cert.kubeconfig"),
		AdminToken:         randHex(16),
		ReadOnlyToken:      randHex(16),
		Kubectl:            bins.Kubectl,
		GitVersion:         gitVersion,
		keepDir:            opts.KeepDir,
	}
	if err := c.start(ctx, bins, opts); err != nil {
		c.Stop()
		if !opts.KeepDir {
			err = fmt.Errorf("%w\n(%s was removed; set Options.KeepDir to keep the logs)", err, dir)
		}
		return nil, err
	}
	return c, nil
}

// StartT starts a cluster for a test and stops it in t.Cleanup. If the test failed, the
// cleanup prints where the logs are, prints the last lines of each server log and keeps Dir.
func StartT(t testing.TB, opts Options) *Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	c, err := Start(ctx, opts)
	if err != nil {
		t.Fatalf("starting test cluster: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			c.mu.Lock()
			c.keepDir = true
			c.mu.Unlock()
			t.Logf("test cluster logs (kept): %s", strings.Join(c.LogPaths(), " "))
			for _, p := range c.LogPaths() {
				t.Logf("last lines of %s:\n%s", p, tailFile(p, logTailLines))
			}
		}
		c.Stop()
	})
	return c
}

func (c *Cluster) start(ctx context.Context, bins Paths, opts Options) error {
	pk, err := writePKI(c.Dir)
	if err != nil {
		return fmt.Errorf("generating certificates: %w", err)
	}
	c.CAFile = pk.caFile
	pk.tokensFile = filepath.Join(c.Dir, "tokens.csv")
	tokens := fmt.Sprintf("%s,%s,%s,\"system:masters\"\n%s,%s,%s,\"%s\"\n",
		c.AdminToken, AdminUser, AdminUser, c.ReadOnlyToken, ReadOnlyUser, ReadOnlyUser, ReadOnlyGroup)
	if err := os.WriteFile(pk.tokensFile, []byte(tokens), 0o600); err != nil {
		return err
	}

	// Ports are picked by binding :0 and releasing, so another process may grab one before
	// the server binds it; retry the start with new ports in that case.
	var etcdURL string
	for attempt := 1; ; attempt++ {
		etcdURL, err = c.startEtcd(ctx, bins.Etcd)
		if err == nil || attempt == 3 || !errors.Is(err, errPortInUse) {
			break
		}
	}
	if err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		err = c.startAPIServer(ctx, bins.APIServer, etcdURL, pk, opts.ExtraAPIServerArgs)
		if err == nil || attempt == 3 || !errors.Is(err, errPortInUse) {
			break
		}
	}
	if err != nil {
		return err
	}

	c.Config = c.restConfig(c.AdminToken, pk.caPEM)
	c.ReadOnlyConfig = c.restConfig(c.ReadOnlyToken, pk.caPEM)
	if c.Client, err = kubernetes.NewForConfig(c.Config); err != nil {
		return err
	}
	if c.ReadOnlyClient, err = kubernetes.NewForConfig(c.ReadOnlyConfig); err != nil {
		return err
	}
	if c.Dynamic, err = dynamic.NewForConfig(c.Config); err != nil {
		return err
	}
	if err := c.setupViewerRBAC(ctx); err != nil {
		return fmt.Errorf("setting up RBAC for %s: %w", ReadOnlyUser, err)
	}
	if err := c.writeKubeconfig(c.AdminKubeconfig, "admin", c.AdminToken, pk.caPEM); err != nil {
		return err
	}
	if err := c.writeKubeconfig(c.ReadOnlyKubeconfig, ReadOnlyUser, c.ReadOnlyToken, pk.caPEM); err != nil {
		return err
	}
	c.ClientCertPEM, c.ClientKeyPEM = pk.clientCertPEM, pk.clientKeyPEM
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["elbfix-test"] = &clientcmdapi.Cluster{Server: c.Server, CertificateAuthorityData: pk.caPEM}
	cfg.AuthInfos[CertUser] = &clientcmdapi.AuthInfo{ClientCertificateData: pk.clientCertPEM, ClientKeyData: pk.clientKeyPEM}
	cfg.Contexts[CertUser] = &clientcmdapi.Context{Cluster: "elbfix-test", AuthInfo: CertUser, Namespace: "default"}
	cfg.CurrentContext = CertUser
	if err := clientcmd.WriteToFile(*cfg, c.CertKubeconfig); err != nil {
		return fmt.Errorf("writing kubeconfig %s: %w", c.CertKubeconfig, err)
	}
	return nil
}

var errPortInUse = errors.New("port already in use")

func (c *Cluster) startEtcd(ctx context.Context, bin string) (string, error) {
	clientPort, err := freePort()
	if err != nil {
		return "", err
	}
	peerPort, err := freePort()
	if err != nil {
		return "", err
	}
	clientURL := fmt.Sprintf("http://127.0.0.1:%d", clientPort)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peerPort)
	dataDir := filepath.Join(c.Dir, "etcd-data")
	os.RemoveAll(dataDir) // a previous attempt's
	p, err := startProcess("etcd", bin, filepath.Join(c.Dir, "etcd.log"),
		"--name=elbfix",
		"--data-dir="+dataDir,
		"--listen-client-urls="+clientURL,
		"--advertise-client-urls="+clientURL,
		"--listen-peer-urls="+peerURL,
		"--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=elbfix="+peerURL,
		"--initial-cluster-state=new",
		"--unsafe-no-fsync",
		"--log-level=warn",
	)
	if err != nil {
		return "", err
	}
	c.etcd = p
	hc := &http.Client{Timeout: 2 * time.Second}
	err = p.waitReady(ctx, 30*time.Second, func(ctx context.Context) (bool, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, clientURL+"/health", nil)
		resp, err := hc.Do(req)
		if err != nil {
			return false, nil
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK && bytes.Contains(body, []byte(`"health":"true"`)), nil
	})
	if err != nil {
		p.stop()
		c.etcd = nil
		return "", err
	}
	return clientURL, nil
}

func (c *Cluster) startAPIServer(ctx context.Context, bin, etcdURL string, pk *pki, extra []string) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	c.Server = fmt.Sprintf("https://127.0.0.1:%d", port)
	certDir := filepath.Join(c.Dir, "apiserver-certs")
	if err := os.MkdirAll(certDir, 0o700); err != nil {
		return err
	}
	args := []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", port),
		"--cert-dir=" + certDir,
		"--tls-cert-file=" + pk.certFile,
		"--tls-private-key-file=" + pk.keyFile,
		"--authorization-mode=RBAC",
		"--token-auth-file=" + pk.tokensFile,
		"--client-ca-file=" + pk.caFile,
		"--service-cluster-ip-range=" + ServiceClusterIPRange,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + pk.saPubFile,
		"--service-account-signing-key-file=" + pk.saKeyFile,
		// No controller-manager creates the "default" ServiceAccounts pods would need.
		"--disable-admission-plugins=ServiceAccount",
		// The node proxy goes to the node's InternalIP first, like on CCE.
		"--kubelet-preferred-address-types=InternalIP,Hostname,InternalDNS,ExternalDNS,ExternalIP",
		// Endpoints of the "kubernetes" Service would be 127.0.0.1, which validation rejects.
		"--endpoint-reconciler-type=none",
		"--profiling=false",
	}
	// Node, pod and service proxy connections go through the egress guard (egress.go), which
	// only reaches this harness's network namespaces: fixtures carry real-looking private node
	// addresses that must never be dialled.
	if c.egress == nil { // Start retries this function when another process took the port.
		if c.egress, err = startEgressGuard(c.Dir); err != nil {
			return err
		}
	}
	args = append(args, "--egress-selector-config-file="+c.egress.config)
	args = append(args, extra...)
	p, err := startProcess("kube-apiserver", bin, filepath.Join(c.Dir, "kube-apiserver.log"), args...)
	if err != nil {
		return err
	}
	c.apiserver = p

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pk.caPEM)
	hc := &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
	}
	defer hc.CloseIdleConnections()
	var lastBody string
	err = p.waitReady(ctx, readyTimeout, func(ctx context.Context) (bool, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.Server+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+c.AdminToken)
		resp, err := hc.Do(req)
		if err != nil {
			lastBody = err.Error()
			return false, nil
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		lastBody = fmt.Sprintf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
		return resp.StatusCode == http.StatusOK && strings.TrimSpace(string(body)) == "ok", nil
	})
	if err != nil {
		p.stop()
		c.apiserver = nil
		if lastBody != "" && !errors.Is(err, errPortInUse) {
			err = fmt.Errorf("%w\nlast /readyz answer: %s", err, lastBody)
		}
		return err
	}
	return nil
}

func (c *Cluster) restConfig(token string, caPEM []byte) *rest.Config {
	return &rest.Config{
		Host:            c.Server,
		BearerToken:     token,
		TLSClientConfig: rest.TLSClientConfig{CAData: caPEM},
		QPS:             200,
		Burst:           400,
		Timeout:         30 * time.Second,
	}
}

func (c *Cluster) writeKubeconfig(path, user, token string, caPEM []byte) error {
	const name = "elbfix-test"
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[name] = &clientcmdapi.Cluster{Server: c.Server, CertificateAuthorityData: caPEM}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts[user] = &clientcmdapi.Context{Cluster: name, AuthInfo: user, Namespace: "default"}
	cfg.CurrentContext = user
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("writing kubeconfig %s: %w", path, err)
	}
	return nil
}

// setupViewerRBAC grants ReadOnlyGroup get/list/watch on every resource the server serves
// (and on the CCE CRD groups), but not on subresources: RBAC's resources ["*"] would match
// nodes/proxy too, so the resources are listed explicitly from discovery. No
// controller-manager runs, so the aggregated "view" role would be empty.
func (c *Cluster) setupViewerRBAC(ctx context.Context) error {
	dc, err := discovery.NewDiscoveryClientForConfig(c.Config)
	if err != nil {
		return err
	}
	_, lists, err := dc.ServerGroupsAndResources()
	if err != nil && len(lists) == 0 {
		return fmt.Errorf("discovery: %w", err)
	}
	byGroup := map[string]map[string]bool{}
	var groups []string
	for _, l := range lists {
		parsed, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			continue
		}
		gv := parsed.Group
		for _, r := range l.APIResources {
			if strings.Contains(r.Name, "/") || !hasAny(r.Verbs, "get", "list") {
				continue
			}
			if byGroup[gv] == nil {
				byGroup[gv] = map[string]bool{}
				groups = append(groups, gv)
			}
			byGroup[gv][r.Name] = true
		}
	}
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: ReadOnlyClusterRole}}
	verbs := []string{"get", "list", "watch"}
	sort.Strings(groups)
	for _, g := range groups {
		var res []string
		for r := range byGroup[g] {
			res = append(res, r)
		}
		sort.Strings(res)
		role.Rules = append(role.Rules, rbacv1.PolicyRule{APIGroups: []string{g}, Resources: res, Verbs: verbs})
	}
	role.Rules = append(role.Rules, rbacv1.PolicyRule{APIGroups: viewerExtraGroups, Resources: []string{"*"}, Verbs: verbs})
	if _, err := c.Client.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
		return err
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: ReadOnlyClusterRole},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: ReadOnlyClusterRole},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: ReadOnlyGroup}},
	}
	if _, err := c.Client.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		return err
	}
	// The authorizer works from an informer cache; wait until the binding is effective.
	var lastErr error
	err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 15*time.Second, true, func(ctx context.Context) (bool, error) {
		_, lastErr = c.ReadOnlyClient.CoreV1().Services("default").List(ctx, metav1.ListOptions{Limit: 1})
		return lastErr == nil, nil
	})
	if err != nil {
		return fmt.Errorf("read-only user still cannot list services: %v (%w)", lastErr, err)
	}
	return nil
}

// EgressDenied lists the destinations (host:port) the API server tried to reach outside the
// harness's network namespaces; the egress guard refused each one.
func (c *Cluster) EgressDenied() []string {
	if c.egress == nil {
		return nil
	}
	return c.egress.Denied()
}

// LogPaths returns the log files of the servers.
func (c *Cluster) LogPaths() []string {
	return []string{filepath.Join(c.Dir, "etcd.log"), filepath.Join(c.Dir, "kube-apiserver.log")}
}

// Stop stops kube-apiserver and etcd (SIGTERM, then SIGKILL after a few seconds) and removes
// Dir unless Options.KeepDir was set. It is safe to call more than once.
func (c *Cluster) Stop() {
	c.stopOnce.Do(func() {
		if c.apiserver != nil {
			c.apiserver.stop()
		}
		if c.etcd != nil {
			c.etcd.stop()
		}
		if c.egress != nil {
			c.egress.stop()
		}
		c.mu.Lock()
		keep := c.keepDir
		c.mu.Unlock()
		if !keep && c.Dir != "" {
			os.RemoveAll(c.Dir)
		}
	})
}

// process is a server started by the harness.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	logFile *os.File
	done    chan struct{} // closed when the process has exited
	waitErr error
}

func startProcess(name, bin, logPath string, args ...string) (*process, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(f, "# %s %s\n", bin, strings.Join(args, " "))
	cmd := exec.Command(bin, args...)
	cmd.Stdout = f
	cmd.Stderr = f
	cmd.SysProcAttr = childSysProcAttr()
	if err := startCmd(cmd); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, logPath: logPath, logFile: f, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

// waitReady polls ready until it returns true, the process exits or timeout passes. Errors
// include the tail of the process log.
func (p *process) waitReady(ctx context.Context, timeout time.Duration, ready func(context.Context) (bool, error)) error {
	start := time.Now()
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		select {
		case <-p.done:
			return false, fmt.Errorf("%s exited: %v", p.name, p.waitErr)
		default:
		}
		return ready(ctx)
	})
	if err == nil {
		return nil
	}
	// Give the log a moment to be flushed if the process is dying.
	select {
	case <-p.done:
	case <-time.After(500 * time.Millisecond):
	}
	tail := tailFile(p.logPath, logTailLines)
	if !strings.Contains(err.Error(), "exited") && (ctx.Err() == nil) {
		err = fmt.Errorf("%s not ready after %s: %w", p.name, time.Since(start).Round(time.Second), err)
	}
	if strings.Contains(tail, "address already in use") {
		err = fmt.Errorf("%w: %w", errPortInUse, err)
	}
	return fmt.Errorf("%w\nlast %d lines of %s:\n%s", err, logTailLines, p.logPath, tail)
}

// stop sends SIGTERM, then SIGKILL after stopGrace, and waits for the exit.
func (p *process) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return
	case <-time.After(stopGrace):
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tailFile returns the last n lines of a file (or a note why it can't).
func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func hasAny(list []string, want ...string) bool {
	for _, s := range list {
		for _, w := range want {
			if s == w {
				return true
			}
		}
	}
	return false
}
