package cluster

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
)

// CRDResource is the resource of CustomResourceDefinitions (apiextensions.k8s.io/v1).
var CRDResource = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// crdTimeout bounds the wait for a new CRD to be established and served.
const crdTimeout = 30 * time.Second

// CreateNamespace creates a namespace. Note that without a controller-manager a deleted
// namespace stays Terminating forever.
func (c *Cluster) CreateNamespace(ctx context.Context, name string) (*corev1.Namespace, error) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	out, err := c.Client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("creating namespace %s: %w", name, err)
	}
	return out, nil
}

// CreateNode creates a Node with the given labels, status.addresses and spec.podCIDRs
// (spec.podCIDR is the first one). Nothing else manages the node: it has no conditions, so
// it is neither Ready nor NotReady.
func (c *Cluster) CreateNode(ctx context.Context, name string, labels map[string]string, addrs []corev1.NodeAddress, podCIDRs []string) (*corev1.Node, error) {
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec:       corev1.NodeSpec{PodCIDRs: podCIDRs},
		Status:     corev1.NodeStatus{Addresses: addrs},
	}
	if len(podCIDRs) > 0 {
		n.Spec.PodCIDR = podCIDRs[0]
	}
	return c.CreateNodeObject(ctx, n)
}

// CreateNodeObject creates a Node as given, including its status (addresses, nodeInfo,
// conditions, ...), which is written through the status subresource if the create did not
// keep it.
func (c *Cluster) CreateNodeObject(ctx context.Context, node *corev1.Node) (*corev1.Node, error) {
	status := node.Status
	out, err := c.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("creating node %s: %w", node.Name, err)
	}
	if !statusNeedsUpdate(status, out.Status) {
		return out, nil
	}
	out.Status = status
	out, err = c.Client.CoreV1().Nodes().UpdateStatus(ctx, out, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("setting status of node %s: %w", node.Name, err)
	}
	return out, nil
}

// CreateService creates a Service (in namespace "default" if unset). If
// svc.Status.LoadBalancer.Ingress is set, it is written through the status subresource, as
// the cloud controller would, and the final object is returned.
func (c *Cluster) CreateService(ctx context.Context, svc *corev1.Service) (*corev1.Service, error) {
	ns := namespaceOr(svc.Namespace)
	status := svc.Status
	out, err := c.Client.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("creating service %s/%s: %w", ns, svc.Name, err)
	}
	if len(status.LoadBalancer.Ingress) == 0 && len(status.Conditions) == 0 {
		return out, nil
	}
	out.Status = status
	out, err = c.Client.CoreV1().Services(ns).UpdateStatus(ctx, out, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("setting status of service %s/%s: %w", ns, svc.Name, err)
	}
	return out, nil
}

// CreateEndpointSlice creates an EndpointSlice (in namespace "default" if unset). No
// controller maintains it; set the kubernetes.io/service-name label to tie it to a Service.
func (c *Cluster) CreateEndpointSlice(ctx context.Context, es *discoveryv1.EndpointSlice) (*discoveryv1.EndpointSlice, error) {
	ns := namespaceOr(es.Namespace)
	out, err := c.Client.DiscoveryV1().EndpointSlices(ns).Create(ctx, es, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("creating endpointslice %s/%s: %w", ns, es.Name, err)
	}
	return out, nil
}

// CreatePod creates a Pod (in namespace "default" if unset). No scheduler or kubelet runs:
// set spec.nodeName to place it; a non-empty pod.Status (phase, podIP, conditions, ...) is
// written through the status subresource.
func (c *Cluster) CreatePod(ctx context.Context, pod *corev1.Pod) (*corev1.Pod, error) {
	ns := namespaceOr(pod.Namespace)
	status := pod.Status
	out, err := c.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("creating pod %s/%s: %w", ns, pod.Name, err)
	}
	if !statusNeedsUpdate(status, corev1.PodStatus{}) {
		return out, nil
	}
	// Keep what the server defaulted (e.g. QoS class) unless the caller set it.
	if status.QOSClass == "" {
		status.QOSClass = out.Status.QOSClass
	}
	out.Status = status
	out, err = c.Client.CoreV1().Pods(ns).UpdateStatus(ctx, out, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("setting status of pod %s/%s: %w", ns, pod.Name, err)
	}
	return out, nil
}

// NewCRD returns a CustomResourceDefinition for group/kind with the given plural, served
// versions (the first is the storage version) and scope, whose schema accepts any fields. Pass
// it to CreateCRD.
func NewCRD(group, kind, plural string, namespaced bool, versions ...string) *unstructured.Unstructured {
	if len(versions) == 0 {
		versions = []string{"v1"}
	}
	scope := "Cluster"
	if namespaced {
		scope = "Namespaced"
	}
	var vs []any
	for i, v := range versions {
		vs = append(vs, map[string]any{
			"name":    v,
			"served":  true,
			"storage": i == 0,
			"schema": map[string]any{
				"openAPIV3Schema": map[string]any{
					"type":                                 "object",
					"x-kubernetes-preserve-unknown-fields": true,
				},
			},
		})
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1",
		"kind":       "CustomResourceDefinition",
		"metadata":   map[string]any{"name": plural + "." + group},
		"spec": map[string]any{
			"group": group,
			"scope": scope,
			"names": map[string]any{
				"kind":     kind,
				"listKind": kind + "List",
				"plural":   plural,
				"singular": strings.ToLower(kind),
			},
			"versions": vs,
		},
	}}
}

// CreateCRD creates a CustomResourceDefinition (apiextensions.k8s.io/v1, given as
// unstructured; see NewCRD) and waits until it is Established and every served version
// appears in discovery, so custom objects can be created right away.
func (c *Cluster) CreateCRD(ctx context.Context, crd *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	if crd.GetAPIVersion() == "" {
		crd.SetAPIVersion("apiextensions.k8s.io/v1")
		crd.SetKind("CustomResourceDefinition")
	}
	name := crd.GetName()
	out, err := c.Dynamic.Resource(CRDResource).Create(ctx, crd, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("creating CRD %s: %w", name, err)
	}
	group, _, _ := unstructured.NestedString(out.Object, "spec", "group")
	plural, _, _ := unstructured.NestedString(out.Object, "spec", "names", "plural")
	versions, _, _ := unstructured.NestedSlice(out.Object, "spec", "versions")
	var served []string
	for _, v := range versions {
		m, _ := v.(map[string]any)
		if s, _ := m["served"].(bool); s {
			if n, _ := m["name"].(string); n != "" {
				served = append(served, n)
			}
		}
	}
	dc, err := discovery.NewDiscoveryClientForConfig(c.Config)
	if err != nil {
		return nil, err
	}
	var state string
	err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, crdTimeout, true, func(ctx context.Context) (bool, error) {
		cur, err := c.Dynamic.Resource(CRDResource).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			state = err.Error()
			return false, nil
		}
		out = cur
		if !crdConditionTrue(cur, "Established") {
			state = "not Established"
			if crdConditionFalse(cur, "NamesAccepted") {
				return false, fmt.Errorf("CRD %s names not accepted: %v", name, cur.Object["status"])
			}
			return false, nil
		}
		for _, v := range served {
			list, err := dc.ServerResourcesForGroupVersion(group + "/" + v)
			if err != nil {
				state = fmt.Sprintf("%s/%s not in discovery: %v", group, v, err)
				return false, nil
			}
			found := false
			for _, r := range list.APIResources {
				found = found || r.Name == plural
			}
			if !found {
				state = fmt.Sprintf("%s not served in %s/%s yet", plural, group, v)
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("waiting for CRD %s: %w (%s)", name, err, state)
	}
	return out, nil
}

// CreateObject creates any object through the dynamic client; a namespaced object needs
// metadata.namespace.
func (c *Cluster) CreateObject(ctx context.Context, gvr schema.GroupVersionResource, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	ri := c.Dynamic.Resource(gvr)
	var out *unstructured.Unstructured
	var err error
	if ns := obj.GetNamespace(); ns != "" {
		out, err = ri.Namespace(ns).Create(ctx, obj, metav1.CreateOptions{})
	} else {
		out, err = ri.Create(ctx, obj, metav1.CreateOptions{})
	}
	if err != nil {
		return nil, fmt.Errorf("creating %s %s: %w", gvr.GroupResource(), objName(obj), err)
	}
	return out, nil
}

func objName(obj *unstructured.Unstructured) string {
	if ns := obj.GetNamespace(); ns != "" {
		return ns + "/" + obj.GetName()
	}
	return obj.GetName()
}

func crdCondition(crd *unstructured.Unstructured, typ string) string {
	conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
	for _, cond := range conds {
		m, _ := cond.(map[string]any)
		if m["type"] == typ {
			s, _ := m["status"].(string)
			return s
		}
	}
	return ""
}

func crdConditionTrue(crd *unstructured.Unstructured, typ string) bool {
	return crdCondition(crd, typ) == "True"
}

func crdConditionFalse(crd *unstructured.Unstructured, typ string) bool {
	return crdCondition(crd, typ) == "False"
}

// statusNeedsUpdate reports whether want is set and differs from got.
func statusNeedsUpdate[T any](want, got T) bool {
	var zero T
	return !reflect.DeepEqual(want, zero) && !reflect.DeepEqual(want, got)
}

func namespaceOr(ns string) string {
	if ns == "" {
		return metav1.NamespaceDefault
	}
	return ns
}
