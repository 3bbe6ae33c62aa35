// Command cmd starts a local test cluster (etcd + kube-apiserver v1.37.2, see package
// test/cluster) and keeps it running until interrupted:
//
//	go run ./test/cluster/cmd --demo
//
// It prints `export KUBECONFIG=...` lines for the admin and the read-only user. With --demo it
// loads a CCE-like scene (a CCE Standard node and the "nginx" and "shop/orders" LoadBalancer
// Services). Scripts can pass --print-env-file PATH and wait for the file, which is written
// (atomically) once the cluster is ready.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/kubectl-elbfix/kubectl-elbfix/test/cluster"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run() error {
	demo := flag.Bool("demo", false, "load CCE-like demo objects (node, LoadBalancer Services, pods, EndpointSlices, an event)")
	gitVersion := flag.String("git-version", "", `version the API server reports, e.g. "v1.37.2-r0-37.0.1" (default `+cluster.KubernetesVersion+")")
	envFile := flag.String("print-env-file", "", "write the export lines to this file once the cluster is ready")
	keepDir := flag.Bool("keep-dir", false, "keep the cluster directory (logs, etcd data) after exit")
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", flag.Args())
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()

	started := time.Now()
	c, err := cluster.Start(ctx, cluster.Options{GitVersion: *gitVersion, Log: os.Stderr, KeepDir: *keepDir})
	if err != nil {
		return err
	}
	defer func() {
		fmt.Fprintln(os.Stderr, "stopping the cluster")
		c.Stop()
		if *envFile != "" {
			os.Remove(*envFile)
		}
	}()
	if *demo {
		if err := c.LoadDemo(ctx); err != nil {
			return fmt.Errorf("loading demo objects: %w", err)
		}
	}
	fmt.Fprintf(os.Stderr, "cluster %s (%s) ready in %s; logs in %s\n", c.Server, c.GitVersion, time.Since(started).Round(100*time.Millisecond), c.Dir)

	env := fmt.Sprintf("export KUBECONFIG=%s\nexport ELBFIX_READONLY_KUBECONFIG=%s\nexport %s=%s\n",
		c.AdminKubeconfig, c.ReadOnlyKubeconfig, cluster.KubectlEnv, c.Kubectl)
	fmt.Print(env)
	fmt.Printf("# read-only user %q: export KUBECONFIG=%s\n", cluster.ReadOnlyUser, c.ReadOnlyKubeconfig)
	fmt.Printf("# kubectl %s: %s\n", cluster.KubernetesVersion, c.Kubectl)
	if *envFile != "" {
		if err := writeAtomic(*envFile, []byte(env)); err != nil {
			return err
		}
	}
	fmt.Fprintln(os.Stderr, "press Ctrl-C to stop")

	<-ctx.Done()
	stop() // a second Ctrl-C now kills us at once (the servers die with us, see Pdeathsig)
	return nil
}

func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(data)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return nil
}
