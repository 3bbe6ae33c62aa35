package cmd

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/kubernetes"
)

// completionTimeout bounds the API call behind a completion when --request-timeout is not
// given: a shell waiting on an unreachable server is worse than no candidates.
const completionTimeout = 5 * time.Second

// completeServiceNames is the ValidArgsFunction of `svc`: the names of the Services in the
// namespace the command would use (-n, else the kubeconfig context's namespace, else
// "default") that start with what is typed and are not on the command line already. With -f
// (offline) or -l there are no names to complete. Any error (no kubeconfig, server
// unreachable, forbidden) completes nothing: completion never prints into the command line.
func completeServiceNames(configFlags *genericclioptions.ConfigFlags) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(c *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if f := c.Flags(); f.Changed("filename") || f.Changed("selector") {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		ctx := c.Context()
		if ctx == nil {
			ctx = context.Background()
		}
		names, err := serviceNames(ctx, configFlags)
		if err != nil {
			cobra.CompDebugln("elbfix: listing services for completion: "+err.Error(), true)
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []string
		for _, name := range names {
			if strings.HasPrefix(name, toComplete) && !slices.Contains(args, name) {
				out = append(out, name)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// serviceNames lists the names of the Services in the namespace configFlags select.
func serviceNames(ctx context.Context, configFlags *genericclioptions.ConfigFlags) ([]string, error) {
	ns, _, err := configFlags.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return nil, err
	}
	cfg, err := configFlags.ToRESTConfig()
	if err != nil {
		return nil, err
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = completionTimeout
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	list, err := client.CoreV1().Services(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(list.Items))
	for _, svc := range list.Items {
		names = append(names, svc.Name)
	}
	slices.Sort(names)
	return names, nil
}

// completeNamespaces completes -n/--namespace with the cluster's namespaces, as kubectl does;
// nothing when they can't be listed.
func completeNamespaces(configFlags *genericclioptions.ConfigFlags) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(c *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		ctx := c.Context()
		if ctx == nil {
			ctx = context.Background()
		}
		cfg, err := configFlags.ToRESTConfig()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		if cfg.Timeout == 0 {
			cfg.Timeout = completionTimeout
		}
		client, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		list, err := client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
		if err != nil {
			cobra.CompDebugln("elbfix: listing namespaces for completion: "+err.Error(), true)
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []string
		for _, ns := range list.Items {
			if strings.HasPrefix(ns.Name, toComplete) {
				out = append(out, ns.Name)
			}
		}
		slices.Sort(out)
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}
