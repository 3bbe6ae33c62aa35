package cluster

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// Names of the objects LoadDemo creates.
const (
	DemoNodeName       = "192.168.0.212"
	DemoSharedService  = "nginx"  // namespace default, shared ELB, externalTrafficPolicy Local
	DemoDedicatedNS    = "shop"   // namespace of DemoDedicatedService
	DemoDedicatedSvc   = "orders" // dedicated ELB bound by id, externalTrafficPolicy Local
	demoSharedELBIP    = "192.168.0.150"
	demoSharedEIP      = "203.0.113.25"
	demoDedicatedELBIP = "192.168.0.147"
	demoDedicatedEIP   = "203.0.113.36"
)

// LoadDemo creates a small CCE-like scene, mirroring the CCE examples (examples/): a CCE
// Standard node (VPC network, podCIDR 10.0.0.0/25), the Service "nginx" in "default" on an
// auto-created shared ELB with externalTrafficPolicy Local and an ingress address, the
// dedicated-ELB Service "orders" in "shop", one running pod and an EndpointSlice for each
// Service, and the CCE controller's member-quota Warning event on "nginx".
func (c *Cluster) LoadDemo(ctx context.Context) error {
	_, err := c.CreateNodeObject(ctx, &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: DemoNodeName, // CCE names nodes by their private IP
			Labels: map[string]string{
				"cce.cloud.com/cce-nodepool":          "pool-general",
				"node.kubernetes.io/subnetid":         "0d9e6b3a-7c51-4f2e-a8b4-1e2f3a4b5c6d",
				"node.kubernetes.io/container-engine": "containerd",
				"node.kubernetes.io/baremetal":        "false",
				"os.name":                             "EulerOS_2.0_SP9x86_64",
				"os.architecture":                     "amd64",
				"topology.kubernetes.io/region":       "ap-southeast-1",
				"topology.kubernetes.io/zone":         "ap-southeast-1a",
				"kubernetes.io/hostname":              DemoNodeName,
			},
		},
		Spec: corev1.NodeSpec{PodCIDR: "10.0.0.0/25", PodCIDRs: []string{"10.0.0.0/25"}},
		Status: corev1.NodeStatus{
			Addresses: []corev1.NodeAddress{
				{Type: corev1.NodeInternalIP, Address: DemoNodeName},
				{Type: corev1.NodeHostName, Address: DemoNodeName},
			},
			NodeInfo: corev1.NodeSystemInfo{
				KubeletVersion:   "v1.28.3-r10-28.0.9",
				KubeProxyVersion: "v1.28.3-r10-28.0.9", //nolint:staticcheck // SA1019: CCE nodes still report it; the demo node is shaped like one
			},
		},
	})
	if err != nil {
		return err
	}

	nginx, err := c.CreateService(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{
			Name:      DemoSharedService,
			Namespace: metav1.NamespaceDefault,
			Labels:    map[string]string{"app": "nginx"},
			Annotations: map[string]string{
				"kubernetes.io/elb.class":      "union",
				"kubernetes.io/elb.autocreate": `{"type":"public","bandwidth_name":"cce-bandwidth","bandwidth_chargemode":"traffic","bandwidth_size":5,"bandwidth_sharetype":"PER","eip_type":"5_bgp","name":"james"}`,
			},
		},
		Spec: corev1.ServiceSpec{
			Type:                  corev1.ServiceTypeLoadBalancer,
			ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal,
			Selector:              map[string]string{"app": "nginx"},
			Ports: []corev1.ServicePort{{
				Name: "service0", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(80),
			}},
		},
		Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{
			Ingress: []corev1.LoadBalancerIngress{{IP: demoSharedELBIP}, {IP: demoSharedEIP}},
		}},
	})
	if err != nil {
		return err
	}
	if err := c.demoBackend(ctx, metav1.NamespaceDefault, "nginx", "nginx-7c5ddbdf54-x8kqz", "10.0.0.10", 80, "service0"); err != nil {
		return err
	}

	if _, err := c.CreateNamespace(ctx, DemoDedicatedNS); err != nil {
		return err
	}
	if _, err := c.CreateService(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{
			Name:      DemoDedicatedSvc,
			Namespace: DemoDedicatedNS,
			Annotations: map[string]string{
				"kubernetes.io/elb.class":               "performance",
				"kubernetes.io/elb.id":                  "2f6d3a8e-1b4c-4d2e-9f7a-5c3b1e0d9a24",
				"kubernetes.io/elb.lb-algorithm":        "ROUND_ROBIN",
				"kubernetes.io/elb.health-check-flag":   "on",
				"kubernetes.io/elb.health-check-option": `{"protocol":"TCP","delay":"5","timeout":"10","max_retries":"3"}`,
			},
		},
		Spec: corev1.ServiceSpec{
			Type:                  corev1.ServiceTypeLoadBalancer,
			ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal,
			Selector:              map[string]string{"app": "orders"},
			Ports: []corev1.ServicePort{{
				Name: "http", Port: 8080, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(8080),
			}},
		},
		Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{
			Ingress: []corev1.LoadBalancerIngress{{IP: demoDedicatedELBIP}, {IP: demoDedicatedEIP}},
		}},
	}); err != nil {
		return err
	}
	if err := c.demoBackend(ctx, DemoDedicatedNS, "orders", "orders-5d8f9c7b6d-2mzqp", "10.0.0.11", 8080, "http"); err != nil {
		return err
	}

	// The CCE cloud controller's event when the ELB pool's member quota is full.
	_, err = c.Client.CoreV1().Events(metav1.NamespaceDefault).Create(ctx, &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{Name: "nginx.quota-example", Namespace: metav1.NamespaceDefault},
		InvolvedObject: corev1.ObjectReference{
			APIVersion: "v1", Kind: "Service", Name: nginx.Name, Namespace: nginx.Namespace, UID: nginx.UID,
		},
		Reason:         "UpdateLoadBalancerFailed",
		Type:           corev1.EventTypeWarning,
		Source:         corev1.EventSource{Component: "hws-cloudprovider"},
		Count:          12,
		FirstTimestamp: metav1.Now(),
		LastTimestamp:  metav1.Now(),
		Message: `(combined from similar events):Details:Update member of listener/pool(dc9098a3-e004-4e60-ac6c-44a9a04bd8f8/539490e1-51c2-4c09-b4df-10730f77e35f) ` +
			`error: Failed to create member :{"error_msg":"Quota exceeded for resources: members_per_pool","error_code":"ELB.8905","request_id":"e064fd46211318ff57f455b29c07c821"},status code: 409`,
	}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("creating demo event: %w", err)
	}
	return nil
}

// demoBackend creates a running, ready pod on the demo node and the EndpointSlice the
// endpointslice controller would make for it.
func (c *Cluster) demoBackend(ctx context.Context, ns, app, podName, podIP string, port int32, portName string) error {
	pod, err := c.CreatePod(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: podName, Namespace: ns, Labels: map[string]string{"app": app}},
		Spec: corev1.PodSpec{
			NodeName: DemoNodeName,
			Containers: []corev1.Container{{
				Name: app, Image: "nginx:1.27",
				Ports: []corev1.ContainerPort{{ContainerPort: port, Protocol: corev1.ProtocolTCP}},
			}},
		},
		Status: corev1.PodStatus{
			Phase:  corev1.PodRunning,
			HostIP: DemoNodeName,
			PodIP:  podIP,
			PodIPs: []corev1.PodIP{{IP: podIP}},
			Conditions: []corev1.PodCondition{
				{Type: corev1.PodScheduled, Status: corev1.ConditionTrue},
				{Type: corev1.PodInitialized, Status: corev1.ConditionTrue},
				{Type: corev1.ContainersReady, Status: corev1.ConditionTrue},
				{Type: corev1.PodReady, Status: corev1.ConditionTrue},
			},
			ContainerStatuses: []corev1.ContainerStatus{{
				Name:    app,
				Image:   "nginx:1.27",
				Ready:   true,
				Started: ptr.To(true),
				State:   corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}},
			}},
		},
	})
	if err != nil {
		return err
	}
	_, err = c.CreateEndpointSlice(ctx, &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Name:      app + "-demo",
			Namespace: ns,
			Labels: map[string]string{
				discoveryv1.LabelServiceName: app,
				discoveryv1.LabelManagedBy:   "endpointslice-controller.k8s.io",
			},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{
			Addresses:  []string{podIP},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true), Serving: ptr.To(true), Terminating: ptr.To(false)},
			NodeName:   ptr.To(DemoNodeName),
			Zone:       ptr.To("ap-southeast-1a"),
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: pod.Name, UID: pod.UID},
		}},
		Ports: []discoveryv1.EndpointPort{{Name: ptr.To(portName), Port: ptr.To(port), Protocol: ptr.To(corev1.ProtocolTCP)}},
	})
	return err
}
