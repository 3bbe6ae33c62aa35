package cloud

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"strings"

	cce "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/cce/v3"
	ccemodel "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/cce/v3/model"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/planapi"
)

// Facts named in the evidence (as pkg/detect names them).
const (
	factFlavor       = "flavor"
	factNetworkModel = "networkModel"
	factProxyMode    = "proxyMode"
)

// cceFacts are the facts ShowCluster tells.
var cceFacts = []string{factFlavor, factNetworkModel, factProxyMode}

// Container network modes of the CCE API (docs/domain.md §5) and what they mean here.
var networkModes = map[string]string{
	"overlay_l2": planapi.NetworkTunnel,
	"vpc-router": planapi.NetworkVPC,
	"eni":        planapi.NetworkTurbo,
}

// Cluster categories of the CCE API.
var categories = map[string]string{
	"cce":   planapi.FlavorCCEStandard,
	"turbo": planapi.FlavorCCETurbo,
}

// Facts reads the cluster's facts from the CCE API, as detection evidence (source cce-api,
// confidence high); what could not be read is evidence too (confidence none). nodeRegion is
// used when no --region was given. It fits pkg/detect's CloudFacts.
func (c *Client) Facts(ctx context.Context, nodeRegion string) []planapi.Evidence {
	c.setRegion(nodeRegion)
	svc, why := c.service(ctx, "cce")
	if why != "" {
		return notRead(why)
	}
	cli := svc.(*cce.CceClient)
	var cluster *ccemodel.Cluster
	var how func(name, id string) string
	if id := c.cfg.ClusterID; id != "" {
		var resp *ccemodel.ShowClusterResponse
		if why := c.call(ctx, func() (err error) {
			resp, err = cli.ShowCluster(&ccemodel.ShowClusterRequest{ClusterId: id})
			return err
		}); why != "" {
			return notRead(fmt.Sprintf("ShowCluster %s: %s", id, why))
		}
		cluster = &ccemodel.Cluster{Metadata: resp.Metadata, Spec: resp.Spec, Status: resp.Status}
		how = func(name, _ string) string { return fmt.Sprintf("ShowCluster %s (cluster %s)", id, name) }
	} else {
		var resp *ccemodel.ListClustersResponse
		if why := c.call(ctx, func() (err error) {
			resp, err = cli.ListClusters(&ccemodel.ListClustersRequest{})
			return err
		}); why != "" {
			return notRead("ListClusters: " + why)
		}
		var items []ccemodel.Cluster
		if resp.Items != nil {
			items = *resp.Items
		}
		matched, why := matchServer(items, c.cfg.ServerURL)
		if why != "" {
			return notRead(fmt.Sprintf("ListClusters (region %s): %s; pass --cce-cluster-id", c.Region(), why))
		}
		cluster = matched
		how = func(name, id string) string {
			return fmt.Sprintf("ListClusters, cluster %s (%s) by its endpoint %s", name, id, c.cfg.ServerURL)
		}
	}
	return clusterEvidence(cluster, how)
}

func notRead(why string) []planapi.Evidence {
	out := make([]planapi.Evidence, 0, len(cceFacts))
	for _, f := range cceFacts {
		out = append(out, planapi.Evidence{Fact: f, Value: planapi.Unknown, Confidence: planapi.ConfidenceNone, Signal: SourceCCE,
			Source: SourceCCE + ": not read: " + why})
	}
	return out
}

// clusterEvidence turns one cluster of the CCE API into evidence; how says how it was found.
func clusterEvidence(cl *ccemodel.Cluster, how func(name, id string) string) []planapi.Evidence {
	name, id := "", ""
	if cl.Metadata != nil {
		name = cl.Metadata.Name
		if cl.Metadata.Uid != nil {
			id = *cl.Metadata.Uid
		}
	}
	what := SourceCCE + ": " + how(name, id)
	var category, mode, proxy string
	if s := cl.Spec; s != nil {
		if s.Category != nil {
			category = s.Category.Value()
		}
		if s.ContainerNetwork != nil {
			mode = s.ContainerNetwork.Mode.Value()
		}
		if s.KubeProxyMode != nil {
			proxy = s.KubeProxyMode.Value()
		}
	}
	var out []planapi.Evidence
	add := func(fact, raw, field string, values map[string]string) {
		e := planapi.Evidence{Fact: fact, Signal: SourceCCE, Value: planapi.Unknown, Confidence: planapi.ConfidenceNone}
		v, ok := values[strings.ToLower(raw)]
		switch {
		case raw == "":
			e.Source = fmt.Sprintf("%s: %s is empty", what, field)
		case !ok:
			e.Source = fmt.Sprintf("%s: %s %s, a value elbfix does not know", what, field, raw)
		default:
			e.Value, e.Confidence = v, planapi.ConfidenceHigh
			e.Source = fmt.Sprintf("%s: %s %s", what, field, raw)
		}
		out = append(out, e)
	}
	add(factFlavor, category, "spec.category", categories)
	add(factNetworkModel, mode, "spec.containerNetwork.mode", networkModes)
	add(factProxyMode, proxy, "spec.kubeProxyMode", map[string]string{
		"iptables": planapi.ProxyIPTables, "ipvs": planapi.ProxyIPVS, "nftables": planapi.ProxyNFTables})
	return out
}

// matchServer finds the one cluster with an endpoint whose host and port are the kubeconfig
// server's; otherwise it says why none was chosen.
func matchServer(items []ccemodel.Cluster, server string) (*ccemodel.Cluster, string) {
	want := hostPort(server)
	if want == "" {
		return nil, fmt.Sprintf("the kubeconfig's server %q is not a URL to match", server)
	}
	var found []int
	for i, cl := range items {
		if cl.Status == nil || cl.Status.Endpoints == nil {
			continue
		}
		for _, e := range *cl.Status.Endpoints {
			if e.Url != nil && hostPort(*e.Url) == want {
				found = append(found, i)
				break
			}
		}
	}
	switch len(found) {
	case 0:
		return nil, fmt.Sprintf("none of the %d clusters has an endpoint at %s (the kubeconfig's server)", len(items), want)
	case 1:
		return &items[found[0]], ""
	}
	var ids []string
	for _, i := range found {
		if m := items[i].Metadata; m != nil && m.Uid != nil {
			ids = append(ids, *m.Uid)
		}
	}
	sort.Strings(ids)
	return nil, fmt.Sprintf("ambiguous: clusters %s all have an endpoint at %s", strings.Join(ids, ", "), want)
}

// hostPort is the URL's host:port, the port defaulted from the scheme ("" when not a URL).
func hostPort(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return ""
	}
	port := u.Port()
	if port == "" {
		port = "443"
		if u.Scheme == "http" {
			port = "80"
		}
	}
	return strings.ToLower(u.Hostname()) + ":" + port
}
