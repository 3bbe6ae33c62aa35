package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/kubectl-elbfix/kubectl-elbfix/test/bench/internal/benchkit"
	"github.com/kubectl-elbfix/kubectl-elbfix/test/cluster"
)

// The realistic cluster (issue #14): besides the Services, what scan reads in a real one.
//
//	Nodes           CCE-labelled (as examples/node-cce-turbo.yaml: node pool, subnet id,
//	                container engine, OS), named by their private IP, Ready, no spec.podCIDR
//	                (the tunnel network and CCE Turbo set none), so that detection says CCE
//	                Standard with the tunnel network, and CCE Turbo once the Turbo objects exist
//	EndpointSlices  one per Service, as the endpointslice controller writes it (the Service's
//	                labels, its owner reference), 1-20 endpoints (5% not ready) on the Nodes
//	Events          60% about Services from the vendor's controller (source hws-cloudprovider:
//	                EnsuringLoadBalancer, EnsuredLoadBalancer, SyncLoadBalancerFailed and, 5%
//	                of them, the member-quota UpdateLoadBalancerFailed of
//	                examples/event-member-quota.yaml), 40% unrelated (Pods, Deployments, Nodes:
//	                scheduler, kubelet, deployment controller), over the last 36 hours
//
// The Turbo variant then adds the two objects detection reads (the NetworkAttachmentDefinition
// kube-system/default-network with CNI type eni-neutron and the YangtseConfiguration default
// with spec.eni, with their CRDs) and the Pods: the same number for each Service, over the Nodes
// (spec.nodeName set; no kubelet, so no status), matching the Service's selector, all of a
// Service's pods hostNetwork for 10% of the Services.

// loadStep is one kind of object loaded, and how long it took.
type loadStep struct {
	kind string
	n    int
	took time.Duration
}

func (s loadStep) String() string {
	return fmt.Sprintf("%d %s in %s (%.0f/s)", s.n, s.kind, s.took.Round(100*time.Millisecond), float64(s.n)/s.took.Seconds())
}

// loader creates the objects with a protobuf client without client-side rate limit, on
// workers goroutines.
type loader struct {
	c  *cluster.Cluster
	cs kubernetes.Interface
	p  population
	// uids are the loaded Services' UIDs, by index (Events and EndpointSlices refer to them).
	uids  []types.UID
	steps []loadStep
}

// population is what the benchmark loads.
type population struct {
	services, namespaces, localPercent int
	nodes, events, pods                int // 0 for the Services-only cluster
}

func (p population) mix() benchkit.Mix {
	return benchkit.Mix{Services: p.services, LocalPercent: p.localPercent, Namespace: func(i int) string { return nsName(i % p.namespaces) }}
}

func nsName(i int) string { return fmt.Sprintf("bench-%02d", i) }

// step runs f(0..n-1) on the workers, printing the progress, and records the time it took.
func (l *loader) step(ctx context.Context, kind string, n int, f func(i int) error) error {
	if n == 0 {
		return nil
	}
	fmt.Fprintf(os.Stderr, "bench: loading %d %s (%d workers)\n", n, kind, workers)
	started := time.Now()
	var done atomic.Int64
	every := max(n/10, 1)
	err := benchkit.Parallel(ctx, workers, n, func(i int) error {
		if err := f(i); err != nil {
			return err
		}
		if d := done.Add(1); int(d)%every == 0 || int(d) == n {
			fmt.Fprintf(os.Stderr, "bench: %7d/%d %s (%.0f/s)\n", d, n, kind, float64(d)/time.Since(started).Seconds())
		}
		return nil
	})
	if err != nil {
		return err
	}
	s := loadStep{kind: kind, n: n, took: time.Since(started)}
	l.steps = append(l.steps, s)
	fmt.Fprintf(os.Stderr, "bench: loaded %s\n", s)
	return nil
}

// loadBase creates the namespaces, the Nodes, the Services with their ELB status, and the
// EndpointSlices and Events: each kind in turn, so that each one's time can be told.
func (l *loader) loadBase(ctx context.Context) error {
	for i := 0; i < l.p.namespaces; i++ {
		if _, err := l.c.CreateNamespace(ctx, nsName(i)); err != nil {
			return err
		}
	}
	err := l.step(ctx, "Nodes", l.p.nodes, func(k int) error {
		n := node(k)
		status := n.Status
		out, err := l.cs.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("creating node %s: %w", n.Name, err)
		}
		out.Status = status
		if _, err := l.cs.CoreV1().Nodes().UpdateStatus(ctx, out, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("setting the status of node %s: %w", n.Name, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	l.uids = make([]types.UID, l.p.services)
	var mix sync.Map // what was loaded, by class/policy, for the summary line
	err = l.step(ctx, "LoadBalancer Services", l.p.services, func(i int) error {
		svc := l.p.mix().Service(i)
		out, err := benchkit.CreateService(ctx, l.cs, svc)
		if err != nil {
			return err
		}
		l.uids[i] = out.UID
		key := svc.Annotations["kubernetes.io/elb.class"] + "/" + string(svc.Spec.ExternalTrafficPolicy)
		v, _ := mix.LoadOrStore(key, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
		return nil
	})
	if err != nil {
		return err
	}
	var kinds []string
	mix.Range(func(k, v any) bool {
		kinds = append(kinds, fmt.Sprintf("%s %d", k, v.(*atomic.Int64).Load()))
		return true
	})
	slices.Sort(kinds)
	fmt.Fprintf(os.Stderr, "bench: Services by class/policy: %s\n", strings.Join(kinds, ", "))
	if l.p.nodes == 0 {
		return nil
	}
	err = l.step(ctx, "EndpointSlices", l.p.services, func(i int) error {
		es := l.endpointSlice(i)
		if _, err := l.cs.DiscoveryV1().EndpointSlices(es.Namespace).Create(ctx, es, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("creating endpointslice %s/%s: %w", es.Namespace, es.Name, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	now := time.Now()
	return l.step(ctx, "Events", l.p.events, func(e int) error {
		ev := l.event(e, now)
		if _, err := l.cs.CoreV1().Events(ev.Namespace).Create(ctx, ev, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("creating event %s/%s: %w", ev.Namespace, ev.Name, err)
		}
		return nil
	})
}

// loadTurbo makes the cluster a CCE Turbo one: the CRDs and objects detection reads, then the
// Pods.
func (l *loader) loadTurbo(ctx context.Context) error {
	started := time.Now()
	nad := cluster.NewCRD("k8s.cni.cncf.io", "NetworkAttachmentDefinition", "network-attachment-definitions", true, "v1")
	yc := cluster.NewCRD("crd.yangtse.cni", "YangtseConfiguration", "yangtseconfigurations", false, "v1")
	for _, crd := range []*unstructured.Unstructured{nad, yc} {
		if _, err := l.c.CreateCRD(ctx, crd); err != nil {
			return err
		}
	}
	objects := []struct {
		gvr schema.GroupVersionResource
		obj map[string]any
	}{
		{schema.GroupVersionResource{Group: "k8s.cni.cncf.io", Version: "v1", Resource: "network-attachment-definitions"}, map[string]any{
			"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
			"metadata": map[string]any{"name": "default-network", "namespace": "kube-system"},
			"spec":     map[string]any{"config": `{"cniVersion":"0.3.1","name":"default-network","type":"eni-neutron","args":{"securityGroups":"8b1e2c3d-4f5a-6b7c-8d9e-0f1a2b3c4d5e","subnets":[{"subnetID":"5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d"}]}}`},
		}},
		{schema.GroupVersionResource{Group: "crd.yangtse.cni", Version: "v1", Resource: "yangtseconfigurations"}, map[string]any{
			"apiVersion": "crd.yangtse.cni/v1", "kind": "YangtseConfiguration",
			"metadata": map[string]any{"name": "default"},
			"spec":     map[string]any{"eni": map[string]any{"warmPolicy": map[string]any{"nicMinimumTarget": int64(10), "nicMaximumTarget": int64(0)}}},
		}},
	}
	for _, o := range objects {
		if _, err := l.c.CreateObject(ctx, o.gvr, &unstructured.Unstructured{Object: o.obj}); err != nil {
			return err
		}
	}
	l.steps = append(l.steps, loadStep{kind: "Turbo CRDs and objects", n: 4, took: time.Since(started)})
	return l.step(ctx, "Pods", l.p.pods, func(p int) error {
		pod := l.pod(p)
		if _, err := l.cs.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("creating pod %s/%s: %w", pod.Namespace, pod.Name, err)
		}
		return nil
	})
}

// zones of the Nodes, round-robin.
var zones = []string{"ap-southeast-1a", "ap-southeast-1b", "ap-southeast-1c"}

// nodeName is the k-th Node's name: its private IP, as CCE names nodes (outside the ELB
// addresses of benchkit's Services, 192.168.1-41.x).
func nodeName(k int) string { return fmt.Sprintf("192.168.%d.%d", 200+k/250, 1+k%250) }

func node(k int) *corev1.Node {
	name := nodeName(k)
	since := metav1.NewTime(time.Now().Add(-72 * time.Hour))
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
			"cce.cloud.com/cce-nodepool":          fmt.Sprintf("pool-%d", k%4),
			"node.kubernetes.io/subnetid":         "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d",
			"node.kubernetes.io/container-engine": "containerd",
			"node.kubernetes.io/baremetal":        "false",
			"node.kubernetes.io/instance-type":    "c7.2xlarge.2",
			"os.name":                             "HCE_OS_2.0",
			"os.architecture":                     "amd64",
			"topology.kubernetes.io/region":       "ap-southeast-1",
			"topology.kubernetes.io/zone":         zones[k%len(zones)],
			"kubernetes.io/hostname":              name,
			"kubernetes.io/os":                    "linux",
			"kubernetes.io/arch":                  "amd64",
		}},
		Status: corev1.NodeStatus{
			Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: name}, {Type: corev1.NodeHostName, Address: name}},
			Capacity: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("8"), corev1.ResourceMemory: resource.MustParse("16Gi"), corev1.ResourcePods: resource.MustParse("110"),
			},
			Allocatable: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("7600m"), corev1.ResourceMemory: resource.MustParse("13Gi"), corev1.ResourcePods: resource.MustParse("110"),
			},
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
				Message: "kubelet is posting ready status", LastHeartbeatTime: since, LastTransitionTime: since}},
			NodeInfo: corev1.NodeSystemInfo{KubeletVersion: cluster.KubernetesVersion, OperatingSystem: "linux", Architecture: "amd64",
				ContainerRuntimeVersion: "containerd://1.7.27", OSImage: "Huawei Cloud EulerOS 2.0 (x86_64)", KernelVersion: "5.10.0-182.0.0.95.r1941_123.hce2.x86_64"},
		},
	}
}

// endpointIP is the address of the j-th endpoint of Service i (at most 20 a Service).
func endpointIP(i, j int) string {
	o := i*20 + j
	return fmt.Sprintf("10.%d.%d.%d", 16+o>>16, o>>8&255, o&255)
}

// endpointSlice is Service i's EndpointSlice: 1-20 endpoints, 5% of them not ready.
func (l *loader) endpointSlice(i int) *discoveryv1.EndpointSlice {
	svc := l.p.mix().Service(i)
	r := rand.New(rand.NewPCG(uint64(i), 14))
	labels := map[string]string{discoveryv1.LabelServiceName: svc.Name, discoveryv1.LabelManagedBy: "endpointslice-controller.k8s.io"}
	for k, v := range svc.Labels {
		labels[k] = v
	}
	es := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: svc.Namespace, Name: fmt.Sprintf("%s-%05x", svc.Name, r.IntN(1<<20)), Labels: labels,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Service", Name: svc.Name, UID: l.uids[i],
				Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}}},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	for _, p := range svc.Spec.Ports {
		es.Ports = append(es.Ports, discoveryv1.EndpointPort{Name: ptr.To(p.Name), Port: ptr.To(p.TargetPort.IntVal), Protocol: ptr.To(p.Protocol)})
	}
	for j := range 1 + r.IntN(20) {
		ready := r.IntN(20) != 0
		k := r.IntN(l.p.nodes)
		es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{
			Addresses:  []string{endpointIP(i, j)},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(ready), Serving: ptr.To(ready), Terminating: ptr.To(false)},
			NodeName:   ptr.To(nodeName(k)),
			Zone:       ptr.To(zones[k%len(zones)]),
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: svc.Namespace, Name: podName(svc.Name, j)},
		})
	}
	return es
}

func podName(svc string, k int) string { return fmt.Sprintf("%s-7c5ddbdf54-%05d", svc, k) }

// event is the e-th Event: 60% about a Service from the vendor's ELB controller, the others
// about Pods, Deployments and Nodes.
func (l *loader) event(e int, now time.Time) *corev1.Event {
	r := rand.New(rand.NewPCG(uint64(e), 15))
	last := metav1.NewTime(now.Add(-time.Duration(r.IntN(36*60)) * time.Minute))
	first := metav1.NewTime(last.Add(-time.Duration(r.IntN(600)) * time.Minute))
	ev := &corev1.Event{Type: corev1.EventTypeNormal, Count: int32(1 + r.IntN(5)), FirstTimestamp: first, LastTimestamp: last}
	if r.IntN(100) < 60 {
		i := r.IntN(l.p.services)
		svc := l.p.mix().Service(i)
		ev.InvolvedObject = corev1.ObjectReference{APIVersion: "v1", Kind: "Service", Namespace: svc.Namespace, Name: svc.Name, UID: l.uids[i]}
		ev.Source = corev1.EventSource{Component: "hws-cloudprovider"}
		switch n := r.IntN(100); {
		case n < 5:
			ev.Type, ev.Reason, ev.Count = corev1.EventTypeWarning, "UpdateLoadBalancerFailed", int32(1+r.IntN(20))
			ev.Message = fmt.Sprintf(`(combined from similar events):Details:Update member of listener/pool(dc9098a3-e004-4e60-ac6c-%012x/539490e1-51c2-4c09-b4df-%012x) `+
				`error: Failed to create member :{"error_msg":"Quota exceeded for resources: members_per_pool","error_code":"ELB.8905","request_id":"e064fd46211318ff57f455b29c%06x"},status code: 409`, i, i, e)
		case n < 15:
			ev.Type, ev.Reason = corev1.EventTypeWarning, "SyncLoadBalancerFailed"
			ev.Message = fmt.Sprintf(`Error syncing load balancer: failed to ensure load balancer: {"error_msg":"The listener port is already in use.","error_code":"ELB.8902","request_id":"7a1c0e%06x"}`, e)
		case n < 55:
			ev.Reason, ev.Message = "EnsuringLoadBalancer", "Ensuring load balancer"
		default:
			ev.Reason, ev.Message = "EnsuredLoadBalancer", "Ensured load balancer"
		}
	} else {
		i := r.IntN(l.p.services)
		ns, app := nsName(i%l.p.namespaces), fmt.Sprintf("app-%05d", i)
		switch n := r.IntN(100); {
		case n < 30:
			ev.InvolvedObject = corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Namespace: ns, Name: podName(fmt.Sprintf("svc-%05d", i), r.IntN(3))}
			ev.Source, ev.Reason = corev1.EventSource{Component: "default-scheduler"}, "Scheduled"
			ev.Message = fmt.Sprintf("Successfully assigned %s/%s to %s", ns, ev.InvolvedObject.Name, nodeName(r.IntN(max(l.p.nodes, 1))))
		case n < 60:
			ev.InvolvedObject = corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Namespace: ns, Name: podName(fmt.Sprintf("svc-%05d", i), r.IntN(3)), FieldPath: "spec.containers{app}"}
			ev.Source, ev.Reason = corev1.EventSource{Component: "kubelet", Host: nodeName(r.IntN(max(l.p.nodes, 1)))}, "Pulled"
			ev.Message = `Container image "swr.ap-southeast-1.myhuaweicloud.com/shop/` + app + `:1.4.2" already present on machine`
		case n < 80:
			ev.InvolvedObject = corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Namespace: ns, Name: podName(fmt.Sprintf("svc-%05d", i), r.IntN(3)), FieldPath: "spec.containers{app}"}
			ev.Source, ev.Reason, ev.Type = corev1.EventSource{Component: "kubelet", Host: nodeName(r.IntN(max(l.p.nodes, 1)))}, "Unhealthy", corev1.EventTypeWarning
			ev.Message = "Readiness probe failed: Get \"http://" + endpointIP(i, 0) + ":8080/healthz\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
		case n < 95:
			ev.InvolvedObject = corev1.ObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Namespace: ns, Name: app}
			ev.Source, ev.Reason = corev1.EventSource{Component: "deployment-controller"}, "ScalingReplicaSet"
			ev.Message = fmt.Sprintf("Scaled up replica set %s-7c5ddbdf54 from 2 to 3", app)
		default:
			ev.InvolvedObject = corev1.ObjectReference{Kind: "Node", Name: nodeName(r.IntN(max(l.p.nodes, 1)))}
			ev.Source, ev.Reason, ev.Type = corev1.EventSource{Component: "node-problem-detector"}, "NTPIsDown", corev1.EventTypeWarning
			ev.Message = "NTP service is not running"
			ns = metav1.NamespaceDefault
		}
		ev.Namespace = ns
	}
	if ev.Namespace == "" {
		ev.Namespace = ev.InvolvedObject.Namespace
	}
	ev.Name = fmt.Sprintf("%s.%016x", ev.InvolvedObject.Name, uint64(e)*0x9e3779b97f4a7c15)
	return ev
}

// pod is the p-th Pod: Service p%services's (its selector's labels), on one of the Nodes;
// hostNetwork for 10% of the Services.
func (l *loader) pod(p int) *corev1.Pod {
	i, k := p%l.p.services, p/l.p.services
	svc := l.p.mix().Service(i)
	hostNetwork := rand.New(rand.NewPCG(uint64(i), 16)).IntN(10) == 0
	labels := map[string]string{"pod-template-hash": "7c5ddbdf54"}
	for key, v := range svc.Spec.Selector {
		labels[key] = v
	}
	app := svc.Spec.Selector["app"]
	c := corev1.Container{
		Name: "app", Image: "swr.ap-southeast-1.myhuaweicloud.com/shop/" + app + ":1.4.2", ImagePullPolicy: corev1.PullIfNotPresent,
		Env: []corev1.EnvVar{{Name: "APP_NAME", Value: app}, {Name: "LOG_LEVEL", Value: "info"},
			{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}}},
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("512Mi")},
		},
		ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(8080)}},
			PeriodSeconds: 10, TimeoutSeconds: 1, FailureThreshold: 3, SuccessThreshold: 1},
	}
	for _, sp := range svc.Spec.Ports {
		c.Ports = append(c.Ports, corev1.ContainerPort{Name: sp.Name, ContainerPort: sp.TargetPort.IntVal, Protocol: sp.Protocol})
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: svc.Namespace, Name: podName(svc.Name, k), Labels: labels,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: app + "-7c5ddbdf54",
				UID: types.UID(fmt.Sprintf("6f1c2d3e-4b5a-4c6d-8e7f-%012x", i)), Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}}},
		Spec: corev1.PodSpec{NodeName: nodeName((i*7 + k) % l.p.nodes), Containers: []corev1.Container{c}, HostNetwork: hostNetwork},
	}
	if hostNetwork {
		pod.Spec.DNSPolicy = corev1.DNSClusterFirstWithHostNet
	}
	return pod
}
