package cmd

import (
	"context"
	"net/url"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/cloud"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/detect"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/elb"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/plan"
)

var cloudCredentialsFlag = enumFlag{"cloud-credentials", cloud.CredentialSources,
	"Where --cloud takes its credentials: auto (the SDK's environment variables HUAWEICLOUD_SDK_AK, HUAWEICLOUD_SDK_SK, HUAWEICLOUD_SDK_PROJECT_ID, HUAWEICLOUD_SDK_SECURITY_TOKEN, then its profile file ~/.huaweicloud/credentials), env, profile, or metadata (the ECS instance-metadata service: only when named)"}

// cloudOptions are the flags of the opt-in reads of Huawei Cloud's own APIs (--cloud), shared by
// detect, svc and scan. Without --cloud (or ELBFIX_CLOUD=huaweicloud) nothing but the API
// server is contacted.
type cloudOptions struct {
	Enabled     bool
	Credentials string
	Region      string
	ClusterID   string
	EndpointCCE string
	EndpointELB string
	EndpointIAM string

	client *cloud.Client // nil when off
	envErr error         // ELBFIX_CLOUD names an unknown cloud
}

func addCloudFlags(c *cobra.Command, o *cloudOptions) {
	f := c.Flags()
	f.BoolVar(&o.Enabled, "cloud", false, "Also read the CCE and ELB APIs of Huawei Cloud (opt-in; env "+cloud.EnvCloud+"="+cloud.ProviderHuaweiCloud+"): the cluster's network model, flavor and kube-proxy mode, and each Service's ELB listeners, members, health and member quota")
	cloudCredentialsFlag.add(c, &o.Credentials, "", cloud.CredentialsAuto)
	f.StringVar(&o.Region, "region", "", "With --cloud: the region (default: the nodes' topology.kubernetes.io/region label)")
	f.StringVar(&o.ClusterID, "cce-cluster-id", "", "With --cloud: the CCE cluster's id (default: the cluster whose endpoint is the kubeconfig's server, from ListClusters)")
	f.StringVar(&o.EndpointCCE, "cloud-endpoint-cce", "", "With --cloud: the CCE API endpoint, e.g. a private endpoint (default: the SDK's for the region)")
	f.StringVar(&o.EndpointELB, "cloud-endpoint-elb", "", "With --cloud: the ELB API endpoint (default: the SDK's for the region)")
	f.StringVar(&o.EndpointIAM, "cloud-endpoint-iam", "", "With --cloud: the IAM endpoint that tells the project id when HUAWEICLOUD_SDK_PROJECT_ID is not set (default: the SDK's)")
}

// complete turns the environment's ELBFIX_CLOUD into the flag.
func (o *cloudOptions) complete() {
	o.Enabled, o.envErr = cloud.Enabled(o.Enabled)
}

// validate checks the values; the cloud flags without --cloud are refused, so that nobody
// believes the cloud was asked when it was not.
func (o *cloudOptions) validate() error {
	if o.envErr != nil {
		return usageError{o.envErr}
	}
	creds := o.Credentials
	if creds == "" { // options built without the flags
		creds = cloud.CredentialsAuto
	}
	if err := cloudCredentialsFlag.validate(creds); err != nil {
		return err
	}
	for _, f := range []struct{ name, v string }{{"cloud-endpoint-cce", o.EndpointCCE}, {"cloud-endpoint-elb", o.EndpointELB}, {"cloud-endpoint-iam", o.EndpointIAM}} {
		if f.v == "" {
			continue
		}
		if u, err := url.Parse(f.v); err != nil || u.Scheme != "https" || u.Host == "" {
			return usageErrorf("invalid value %q for --%s: want an https:// URL", f.v, f.name)
		}
	}
	if !o.Enabled {
		for _, f := range []struct{ name, v string }{{"region", o.Region}, {"cce-cluster-id", o.ClusterID}, {"cloud-endpoint-cce", o.EndpointCCE},
			{"cloud-endpoint-elb", o.EndpointELB}, {"cloud-endpoint-iam", o.EndpointIAM}} {
			if f.v != "" {
				return usageErrorf("--%s is for the cloud reads: add --cloud (or set %s=%s)", f.name, cloud.EnvCloud, cloud.ProviderHuaweiCloud)
			}
		}
		if creds != cloud.CredentialsAuto {
			return usageErrorf("--cloud-credentials is for the cloud reads: add --cloud (or set %s=%s)", cloud.EnvCloud, cloud.ProviderHuaweiCloud)
		}
	}
	return nil
}

// detect detects the cluster facts, with the CCE API's evidence when --cloud is on.
func (o *cloudOptions) detect(ctx context.Context, cfg *rest.Config, overrides detect.Overrides) (plan.Cluster, error) {
	if !o.Enabled {
		return detect.Detect(ctx, cfg, overrides)
	}
	o.client = cloud.New(cloud.Config{Credentials: o.Credentials, Region: o.Region, ClusterID: o.ClusterID, ServerURL: cfg.Host,
		EndpointCCE: o.EndpointCCE, EndpointELB: o.EndpointELB, EndpointIAM: o.EndpointIAM})
	return detect.DetectWithCloud(ctx, cfg, overrides, o.client.Facts)
}

// elbRef names the load balancer of a Service for the ELB API: its elb.id, else its status
// addresses; ok is false for a Service without an ELB to ask about (not a LoadBalancer, DNAT).
func elbRef(svc *corev1.Service) (cloud.Ref, bool) {
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer || svc.Annotations[elb.AnnClass] == "dnat" {
		return cloud.Ref{}, false
	}
	if id := svc.Annotations[elb.AnnID]; id != "" {
		return cloud.Ref{ID: id}, true
	}
	var ref cloud.Ref
	for _, in := range svc.Status.LoadBalancer.Ingress {
		if in.IP != "" {
			ref.VIPs = append(ref.VIPs, in.IP)
		}
	}
	return ref, len(ref.VIPs) > 0
}

// readELBs reads the ELBs of svcs, together (nil when --cloud is off).
func (o *cloudOptions) readELBs(ctx context.Context, svcs []*corev1.Service) *cloud.ELBs {
	if o.client == nil {
		return nil
	}
	var refs []cloud.Ref
	for _, s := range svcs {
		if ref, ok := elbRef(s); ok {
			refs = append(refs, ref)
		}
	}
	elbs := o.client.ELBs(ctx, refs)
	return &elbs
}
