//go:build linux

package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"k8s.io/apimachinery/pkg/util/wait"
)

const netnsPrefix = "elbfix-"

func ipCommand() (string, error) {
	if p, err := exec.LookPath("ip"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w: the ip command (iproute2) was not found", ErrNetnsUnavailable)
}

func runIP(ctx context.Context, ip string, args ...string) error {
	out, err := exec.CommandContext(ctx, ip, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

func netnsHTTPServer(ctx context.Context, port int, handler http.Handler) (_ *NetnsServer, retErr error) {
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("%w: needs root (euid is %d)", ErrNetnsUnavailable, os.Geteuid())
	}
	ip, err := ipCommand()
	if err != nil {
		return nil, err
	}
	if handler == nil {
		handler = http.NotFoundHandler()
	}

	// Serialize address allocation between processes so two servers never share a /30.
	cache, err := CacheDir()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return nil, err
	}
	unlock, err := lockFile(ctx, filepath.Join(cache, "netns.lock"), io.Discard, "netns")
	if err != nil {
		return nil, err
	}
	defer unlock()

	removeStaleNetns(ctx, ip)

	id := fmt.Sprintf("%08x", rand.Uint32())
	s := &NetnsServer{
		Namespace: fmt.Sprintf("%s%d-%s", netnsPrefix, os.Getpid(), id),
		hostVeth:  "efh" + id,
	}
	nsVeth := "efn" + id
	hostIP, nsIP, err := pickSubnet()
	if err != nil {
		return nil, err
	}
	s.HostIP, s.IP = hostIP.String(), nsIP.String()

	if err := runIP(ctx, ip, "netns", "add", s.Namespace); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNetnsUnavailable, err)
	}
	defer func() {
		if retErr != nil {
			_ = s.cleanup(ip) // the error being returned is the one that matters
		}
	}()
	steps := [][]string{
		{"link", "add", s.hostVeth, "type", "veth", "peer", "name", nsVeth},
		{"link", "set", nsVeth, "netns", s.Namespace},
		{"addr", "add", s.HostIP + "/30", "dev", s.hostVeth},
		{"link", "set", s.hostVeth, "up"},
		{"-n", s.Namespace, "addr", "add", s.IP + "/30", "dev", nsVeth},
		{"-n", s.Namespace, "link", "set", nsVeth, "up"},
		{"-n", s.Namespace, "link", "set", "lo", "up"},
	}
	for i, step := range steps {
		if err := runIP(ctx, ip, step...); err != nil {
			if i == 0 {
				err = fmt.Errorf("%w: %v", ErrNetnsUnavailable, err)
			}
			return nil, err
		}
	}

	l, err := listenInNetns(s.Namespace, net.JoinHostPort(s.IP, strconv.Itoa(port)))
	if err != nil {
		return nil, err
	}
	s.Port = l.Addr().(*net.TCPAddr).Port
	s.srv = &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(l) }() // ends with ErrServerClosed on Close

	// Wait until the host reaches the server over the veth pair (the link may take a moment
	// to come up).
	var lastErr error
	err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		d := net.Dialer{Timeout: time.Second}
		conn, err := d.DialContext(ctx, "tcp", s.Addr())
		if err != nil {
			lastErr = err
			return false, nil
		}
		conn.Close()
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("server in netns %s not reachable at %s: %v (%w)", s.Namespace, s.Addr(), lastErr, err)
	}
	return s, nil
}

// Close stops the server and deletes the namespace and the veth pair.
func (s *NetnsServer) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	if s.srv != nil {
		_ = s.srv.Close()
	}
	ip, err := ipCommand()
	if err != nil {
		return err
	}
	return s.cleanup(ip)
}

func (s *NetnsServer) cleanup(ip string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var errs []error
	// Deleting one end of a veth pair deletes both.
	if _, err := net.InterfaceByName(s.hostVeth); err == nil {
		if err := runIP(ctx, ip, "link", "del", s.hostVeth); err != nil {
			errs = append(errs, err)
		}
	}
	if err := runIP(ctx, ip, "netns", "del", s.Namespace); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// removeStaleNetns deletes namespaces left behind by harness processes that died without
// cleaning up (their pid is part of the name). Deleting the namespace also removes its veth.
func removeStaleNetns(ctx context.Context, ip string) {
	out, err := exec.CommandContext(ctx, ip, "netns", "list").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		rest, ok := strings.CutPrefix(name, netnsPrefix)
		if !ok {
			continue
		}
		pidStr, _, ok := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidStr)
		if !ok || err != nil || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); err == nil || errors.Is(err, syscall.EPERM) {
			continue // still alive
		}
		_ = runIP(ctx, ip, "netns", "del", name)
	}
}

// pickSubnet picks a /30 in 198.18.0.0/15 not overlapping any address on this host and
// returns its two usable addresses (host end, namespace end).
func pickSubnet() (net.IP, net.IP, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, nil, err
	}
	for range 100 {
		block := rand.IntN(1 << 15) // 2^17 addresses / 4
		base := 198<<24 | 18<<16 | uint32(block)<<2
		host := u32IP(base + 1)
		ns := u32IP(base + 2)
		clash := false
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				_, sub, _ := net.ParseCIDR(host.String() + "/30")
				if sub.Contains(n.IP) || n.Contains(host) {
					clash = true
					break
				}
			}
		}
		if !clash {
			return host, ns, nil
		}
	}
	return nil, nil, errors.New("no free /30 in 198.18.0.0/15")
}

func u32IP(v uint32) net.IP {
	return net.IPv4(byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

// listenInNetns opens a TCP listener inside the named network namespace: the socket is
// created while this goroutine's OS thread is switched into the namespace and keeps
// belonging to it afterwards.
func listenInNetns(name, addr string) (net.Listener, error) {
	target, err := os.Open(filepath.Join("/run/netns", name))
	if err != nil {
		target, err = os.Open(filepath.Join("/var/run/netns", name))
		if err != nil {
			return nil, fmt.Errorf("opening netns %s: %w", name, err)
		}
	}
	defer target.Close()

	runtime.LockOSThread()
	orig, err := os.Open(fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), syscall.Gettid()))
	if err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("opening current netns: %w", err)
	}
	defer orig.Close()
	if err := setns(target); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("%w: entering netns %s: %v", ErrNetnsUnavailable, name, err)
	}
	l, lerr := net.Listen("tcp", addr)
	if err := setns(orig); err != nil {
		// Leave the thread locked: Go ends it when this goroutine exits, rather than
		// reusing a thread stuck in the wrong namespace.
		if lerr == nil {
			l.Close()
		}
		return nil, fmt.Errorf("returning from netns %s: %w", name, err)
	}
	runtime.UnlockOSThread()
	if lerr != nil {
		return nil, fmt.Errorf("listening on %s in netns %s: %w", addr, name, lerr)
	}
	return l, nil
}

func setns(f *os.File) error {
	return unix.Setns(int(f.Fd()), unix.CLONE_NEWNET)
}
