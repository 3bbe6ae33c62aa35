// Package cmd wires the kubectl-elbfix commands (cobra) to the packages that do the work. Each
// command follows the kubectl shape: an Options struct, NewCmdX, and Complete → Validate → Run.
package cmd

import (
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/klog/v2"
)

// Exit codes (docs/contract.md "Exit codes").
const (
	ExitOK      = 0
	ExitChanges = 1
	ExitError   = 2
)

// exitStatus ends a run with a code and no message (the output already said everything).
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// usageError marks bad flags or arguments.
type usageError struct{ error }

func usageErrorf(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// NewCmdElbfix returns the root command.
func NewCmdElbfix(streams genericiooptions.IOStreams) *cobra.Command {
	configFlags := genericclioptions.NewConfigFlags(true)
	root := &cobra.Command{
		Use:   "kubectl-elbfix",
		Short: "Find and fix CCE LoadBalancer Services that in-cluster clients can't reach",
		Long: `elbfix tells, for Huawei Cloud CCE LoadBalancer Services, which in-cluster clients
(nodes and pods) fail to reach the Service's ELB address and why, and fixes it with a minimal
strategic merge patch: the kubernetes.io/elb.pass-through annotation, or
externalTrafficPolicy: Cluster.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Annotations: map[string]string{
			cobra.CommandDisplayNameAnnotation: "kubectl elbfix",
		},
	}
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	configFlags.AddFlags(root.PersistentFlags())
	addLogFlags(root)
	_ = root.RegisterFlagCompletionFunc("namespace", completeNamespaces(configFlags))
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })

	root.AddCommand(NewCmdSvc(configFlags, streams))
	root.AddCommand(NewCmdDetect(configFlags, streams))
	root.AddCommand(NewCmdScan(configFlags, streams))
	root.AddCommand(NewCmdPolicy(configFlags, streams))
	root.AddCommand(NewCmdVersion(streams))
	return root
}

// Execute runs the command line and returns the process exit code. Errors are printed to
// stderr as one line.
func Execute(streams genericiooptions.IOStreams, args []string) int {
	root := NewCmdElbfix(streams)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return ExitOK
	}
	var st exitStatus
	if errors.As(err, &st) {
		return int(st)
	}
	msg := err.Error()
	if strings.HasPrefix(msg, "unknown command") || strings.HasPrefix(msg, "unknown flag") || strings.HasPrefix(msg, "unknown shorthand") {
		msg += "; see 'kubectl elbfix --help'"
	}
	fmt.Fprintln(streams.ErrOut, "error: "+oneLine(msg))
	return ExitError
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}

// addLogFlags adds kubectl's log flags, -v/--v LEVEL and --vmodule: client-go logs its requests
// to stderr at -v=6 and above (with credentials masked), as kubectl does.
func addLogFlags(root *cobra.Command) {
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	for _, name := range []string{"v", "vmodule"} {
		root.PersistentFlags().AddGoFlag(fs.Lookup(name))
	}
}
