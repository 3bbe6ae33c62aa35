package cluster

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// The egress guard keeps the test API server from sending traffic anywhere but this machine.
//
// Tests and the demo create CCE-shaped nodes named and addressed like real ones (192.168.0.212),
// and the plugin's detection asks the API server to proxy to a node's kube-proxy
// (/api/v1/nodes/NODE:10249/proxy/proxyMode). Without a guard the API server would dial those
// private addresses on the host network. kube-apiserver's egress selector sends every "cluster"
// connection (node, pod and service proxy) through an HTTP CONNECT proxy on a Unix socket; this
// proxy allows only loopback and the harness's own network namespaces (netnsRange), refusing everything
// else with 403, which the plugin sees as a node proxy that is not readable, as on real CCE.

// netnsRange is where NetnsHTTPServer puts its veth pairs (RFC 2544 benchmarking range).
var netnsRange = &net.IPNet{IP: net.IPv4(198, 18, 0, 0), Mask: net.CIDRMask(15, 32)}

// egressAllowed tells whether the API server may connect to host: loopback (admission webhooks
// that tests run in their own process; the node proxy refuses loopback by itself) and the
// harness's network namespaces.
func egressAllowed(host string) bool {
	ip := net.ParseIP(host)
	return ip != nil && (ip.IsLoopback() || netnsRange.Contains(ip))
}

type egressGuard struct {
	ln     net.Listener
	config string
	wg     sync.WaitGroup
	mu     sync.Mutex
	denied []string
}

// startEgressGuard listens on a Unix socket in dir and writes the EgressSelectorConfiguration
// for --egress-selector-config-file.
func startEgressGuard(dir string) (*egressGuard, error) {
	sock := filepath.Join(dir, "egress.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return nil, fmt.Errorf("egress guard: %w", err)
	}
	g := &egressGuard{ln: ln, config: filepath.Join(dir, "egress-selector.yaml")}
	cfg := fmt.Sprintf(`apiVersion: apiserver.k8s.io/v1beta1
kind: EgressSelectorConfiguration
egressSelections:
- name: cluster
  connection:
    proxyProtocol: HTTPConnect
    transport:
      uds:
        udsName: %s
`, sock)
	if err := os.WriteFile(g.config, []byte(cfg), 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	g.wg.Add(1)
	go g.serve()
	return g, nil
}

func (g *egressGuard) serve() {
	defer g.wg.Done()
	for {
		conn, err := g.ln.Accept()
		if err != nil {
			return
		}
		go g.handle(conn)
	}
}

func (g *egressGuard) handle(conn net.Conn) {
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(conn)
	req, err := http.ReadRequest(br)
	if err != nil || req.Method != http.MethodConnect {
		fmt.Fprint(conn, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
		return
	}
	host, _, err := net.SplitHostPort(req.Host)
	if err != nil || !egressAllowed(host) {
		g.mu.Lock()
		g.denied = append(g.denied, req.Host)
		g.mu.Unlock()
		msg := "test harness egress guard: " + req.Host + " is not a network namespace of this harness; the test API server connects nowhere else"
		fmt.Fprintf(conn, "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s", len(msg), msg)
		return
	}
	_ = conn.SetReadDeadline(time.Time{})
	upstream, err := net.DialTimeout("tcp", req.Host, 5*time.Second)
	if err != nil {
		fmt.Fprint(conn, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
		return
	}
	defer upstream.Close()
	fmt.Fprint(conn, "HTTP/1.1 200 Connection established\r\n\r\n")
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(upstream, br); done <- struct{}{} }()
	go func() { _, _ = io.Copy(conn, upstream); done <- struct{}{} }()
	<-done
}

// Denied lists the destinations the guard refused, for tests.
func (g *egressGuard) Denied() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.denied...)
}

func (g *egressGuard) stop() {
	g.ln.Close()
	g.wg.Wait()
}
