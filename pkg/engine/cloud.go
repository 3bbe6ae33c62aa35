package engine

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/cloud"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/detect"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/elb"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/plan"
)

// Cloud is the opt-in reading of Huawei Cloud's own APIs (--cloud), shared by detect, svc and
// scan. When Enabled is false nothing but the API server is contacted.
type Cloud struct {
	Enabled     bool
	Credentials string // cloud.CredentialSources
	Region      string
	ClusterID   string
	EndpointCCE string
	EndpointELB string
	EndpointIAM string

	client *cloud.Client // nil when off, or before Detect
}

// Detect detects the cluster facts, with the CCE API's evidence when --cloud is on.
func (o *Cloud) Detect(ctx context.Context, cfg *rest.Config, overrides detect.Overrides) (plan.Cluster, error) {
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

// ReadELBs reads the ELBs of svcs, together (nil when --cloud is off).
func (o *Cloud) ReadELBs(ctx context.Context, svcs []*corev1.Service) *cloud.ELBs {
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
