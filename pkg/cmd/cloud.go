package cmd

import (
	"net/url"

	"github.com/spf13/cobra"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/cloud"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/engine"
)

var cloudCredentialsFlag = enumFlag{"cloud-credentials", cloud.CredentialSources,
	"Where --cloud takes its credentials: auto (the SDK's environment variables HUAWEICLOUD_SDK_AK, HUAWEICLOUD_SDK_SK, HUAWEICLOUD_SDK_PROJECT_ID, HUAWEICLOUD_SDK_SECURITY_TOKEN, then its profile file ~/.huaweicloud/credentials), env, profile, or metadata (the ECS instance-metadata service: only when named)"}

// cloudOptions are the flags of the opt-in reads of Huawei Cloud's own APIs (--cloud), shared by
// detect, svc and scan. Without --cloud (or ELBFIX_CLOUD=huaweicloud) nothing but the API
// server is contacted.
type cloudOptions struct {
	engine.Cloud
	envErr error // ELBFIX_CLOUD names an unknown cloud
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
