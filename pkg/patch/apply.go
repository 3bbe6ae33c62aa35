package patch

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
)

// FieldManager is the field manager the API server records for our writes.
const FieldManager = "kubectl-elbfix"

// Sender sends strategic merge patches to Services.
type Sender struct {
	Services corev1client.ServicesGetter
}

// Send patches the Service with p, guarded by resourceVersion (empty: no precondition). With
// dryRun the server runs admission and validation and answers with the result, writing nothing.
func (s Sender) Send(ctx context.Context, namespace, name string, p []byte, resourceVersion string, dryRun bool) (*corev1.Service, error) {
	guarded, err := WithPrecondition(p, resourceVersion)
	if err != nil {
		return nil, err
	}
	opts := metav1.PatchOptions{FieldManager: FieldManager}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	return s.Services.Services(namespace).Patch(ctx, name, types.StrategicMergePatchType, guarded, opts)
}
