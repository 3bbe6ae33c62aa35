package benchkit

import (
	"context"
	"fmt"

	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
)

// List is one of the LISTs scan makes (pkg/engine/scan.go and reads.go), with its selector.
type List struct {
	// Path is the collection, in all namespaces.
	Path string
	// Opts are scan's selectors.
	Opts metav1.ListOptions
	// One: one request with limit=1, the number of objects from remainingItemCount (the node
	// count), not pages.
	One bool
	// Meta: the objects' metadata alone (a PartialObjectMetadataList, client-go's metadata
	// client), as scan reads the pods' labels; Typed then only counts them.
	Meta bool
	// Typed is client-go's typed LIST.
	Typed func(ctx context.Context, cs kubernetes.Interface, opts metav1.ListOptions) (runtime.Object, error)
}

// ScanLists are scan's LISTs by name: the Services; the Events about Services; the node count;
// the EndpointSlices of Services; on CCE Turbo with Local Services, the Pods' metadata and the
// Pods on hostNetwork (pkg/engine backendPods).
var ScanLists = map[string]List{
	"services": {Path: "/api/v1/services", Typed: func(ctx context.Context, cs kubernetes.Interface, o metav1.ListOptions) (runtime.Object, error) {
		return cs.CoreV1().Services("").List(ctx, o)
	}},
	"events": {Path: "/api/v1/events", Opts: metav1.ListOptions{FieldSelector: "involvedObject.kind=Service"},
		Typed: func(ctx context.Context, cs kubernetes.Interface, o metav1.ListOptions) (runtime.Object, error) {
			return cs.CoreV1().Events("").List(ctx, o)
		}},
	"nodes": {Path: "/api/v1/nodes", One: true, Typed: func(ctx context.Context, cs kubernetes.Interface, o metav1.ListOptions) (runtime.Object, error) {
		return cs.CoreV1().Nodes().List(ctx, o)
	}},
	"endpointslices": {Path: "/apis/discovery.k8s.io/v1/endpointslices", Opts: metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName},
		Typed: func(ctx context.Context, cs kubernetes.Interface, o metav1.ListOptions) (runtime.Object, error) {
			return cs.DiscoveryV1().EndpointSlices("").List(ctx, o)
		}},
	"pods": {Path: "/api/v1/pods", Meta: true, Typed: func(ctx context.Context, cs kubernetes.Interface, o metav1.ListOptions) (runtime.Object, error) {
		return cs.CoreV1().Pods("").List(ctx, o)
	}},
	"hostnetworkpods": {Path: "/api/v1/pods", Opts: metav1.ListOptions{FieldSelector: "spec.hostNetwork=true"},
		Typed: func(ctx context.Context, cs kubernetes.Interface, o metav1.ListOptions) (runtime.Object, error) {
			return cs.CoreV1().Pods("").List(ctx, o)
		}},
}

// ListCount is the number of objects a LIST with a limit counts: its items and
// remainingItemCount.
func ListCount(obj runtime.Object) (int, error) {
	m, err := meta.ListAccessor(obj)
	if err != nil {
		return 0, err
	}
	n := meta.LenList(obj)
	if rem := m.GetRemainingItemCount(); rem != nil {
		n += int(*rem)
	}
	return n, nil
}

// Count is the number of objects of one of ScanLists' collections, all of them (no selector),
// from one LIST with limit=1.
func Count(ctx context.Context, cs kubernetes.Interface, list string) (int, error) {
	l, ok := ScanLists[list]
	if !ok {
		return 0, fmt.Errorf("no list %q", list)
	}
	obj, err := l.Typed(ctx, cs, metav1.ListOptions{Limit: 1})
	if err != nil {
		return 0, fmt.Errorf("counting the %s: %w", list, err)
	}
	return ListCount(obj)
}
