package cluster

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
)

// ErrNetnsUnavailable is wrapped by NetnsHTTPServer's error when network namespaces cannot be
// used here (not root, no `ip` command, not Linux, or the kernel refused). Tests should skip:
//
//	if errors.Is(err, cluster.ErrNetnsUnavailable) { t.Skipf("%v", err) }
var ErrNetnsUnavailable = errors.New("network namespaces unavailable")

// NetnsServer is an HTTP server listening inside its own network namespace, reachable from
// this host (and so from the API server's node proxy) at IP:Port over a veth pair. The
// addresses come from 198.18.0.0/15 (RFC 2544 benchmarking range), which the API server's
// proxy accepts, unlike loopback and link-local addresses; traffic never leaves the machine.
type NetnsServer struct {
	// Namespace is the network namespace name (see `ip netns list`).
	Namespace string
	// IP is the server's address inside the namespace; HostIP is the host end of the veth.
	IP, HostIP string
	// Port is the TCP port the server listens on.
	Port int

	hostVeth string
	srv      *http.Server
	closed   bool
}

// Addr returns IP:Port.
func (s *NetnsServer) Addr() string { return net.JoinHostPort(s.IP, strconv.Itoa(s.Port)) }

// URL returns http://IP:Port.
func (s *NetnsServer) URL() string { return "http://" + s.Addr() }

// NetnsHTTPServer creates a network namespace with a veth pair to the host and serves handler
// inside it on port (0 picks one). The server runs in this process (its listening socket is
// created inside the namespace), so handler may be any http.Handler: fixed answers, a 502, or
// one that never answers to test timeouts. Close removes everything. Needs root and the `ip`
// command; otherwise the error wraps ErrNetnsUnavailable.
func NetnsHTTPServer(ctx context.Context, port int, handler http.Handler) (*NetnsServer, error) {
	return netnsHTTPServer(ctx, port, handler)
}
