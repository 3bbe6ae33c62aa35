package engine

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/apply"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/plan"
)

// The apply state machine (server dry run, fallback on an admission refusal, the write guarded
// by the resourceVersion, re-read and re-plan on 409, bounded retries, companions, the failure
// report) driven through client-go's fake clientset with reactors that play the server's
// answers. The fake ignores dry run and admission: these tests pin the machine's decisions; the
// end-to-end tests (test/e2e: conflict_test, faults_test, webhook_test) prove them on a real
// API server.

var svcResource = schema.GroupResource{Resource: "services"}

// applyFixture is a shared-ELB Local Service whose auto fix is pass-through, its plan, and a
// fake API server whose PATCH answers the test decides.
type applyFixture struct {
	t       *testing.T
	cs      *fake.Clientset
	o       *Svc
	p       *Planned
	dryRuns int
	writes  int
}

func newApplyFixture(t *testing.T, answer func(f *applyFixture, dryRun bool) error) *applyFixture {
	t.Helper()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "nginx", Namespace: "default", ResourceVersion: "10",
			Annotations: map[string]string{"kubernetes.io/elb.class": "union"}},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal,
			Ports: []corev1.ServicePort{{Port: 80}}},
	}
	f := &applyFixture{t: t, cs: fake.NewClientset(svc.DeepCopy())}
	f.cs.PrependReactor("patch", "services", func(a k8stesting.Action) (bool, runtime.Object, error) {
		pa := a.(k8stesting.PatchActionImpl)
		dry := len(pa.PatchOptions.DryRun) > 0
		if dry {
			f.dryRuns++
		} else {
			f.writes++
		}
		if err := answer(f, dry); err != nil {
			return true, nil, err
		}
		if dry {
			// The fake cannot dry-run: answer with the object merged locally, write nothing.
			live, err := f.cs.Tracker().Get(schema.GroupVersionResource{Version: "v1", Resource: "services"}, "default", "nginx")
			if err != nil {
				return true, nil, err
			}
			merged, err := mergeLocally(live.(*corev1.Service), pa.Patch)
			return true, merged, err
		}
		return false, nil, nil // the tracker applies the patch
	})
	f.o = &Svc{client: f.cs, Strategy: plan.StrategyAuto, DryRun: DryRunNone, Warnings: io.Discard}
	in := plan.Input{Cluster: plan.Cluster{NetworkModel: "vpc", ProxyMode: "ipvs", Version: "v1.25.5-r0"},
		Service: svc, Strategy: plan.StrategyAuto, EndpointCount: -1}
	p, err := planOne(in, nil)
	if err != nil || p.Plan.Fix == nil || p.Plan.Fix.Strategy != plan.StrategyPassThrough {
		t.Fatalf("fixture plan: %v %+v", err, p.Plan.Fix)
	}
	f.p = p
	return f
}

func (f *applyFixture) sender() apply.Engine {
	return apply.Engine{Services: f.cs.CoreV1(), Retries: apply.DefaultRetries}
}

// concurrentWrite changes the stored Service as another writer would.
func (f *applyFixture) concurrentWrite(change func(*corev1.Service)) {
	f.t.Helper()
	gvr := schema.GroupVersionResource{Version: "v1", Resource: "services"}
	obj, err := f.cs.Tracker().Get(gvr, "default", "nginx")
	if err != nil {
		f.t.Fatal(err)
	}
	svc := obj.(*corev1.Service).DeepCopy()
	change(svc)
	if err := f.cs.Tracker().Update(gvr, svc, "default"); err != nil {
		f.t.Fatal(err)
	}
}

func (f *applyFixture) stored() *corev1.Service {
	f.t.Helper()
	svc, err := f.cs.CoreV1().Services("default").Get(context.Background(), "nginx", metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return svc
}

func conflict() error {
	return apierrors.NewConflict(svcResource, "nginx", errors.New("the object has been modified"))
}

// A concurrent writer fixes the Service itself (policy Cluster) before elbfix's write: 409, then
// the re-read and re-plan find nothing to do, and nothing is written over it.
func TestApplyConflictReplansToNothing(t *testing.T) {
	f := newApplyFixture(t, func(f *applyFixture, dry bool) error {
		if !dry && f.writes == 1 {
			f.concurrentWrite(func(s *corev1.Service) { s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster })
			return conflict()
		}
		return nil
	})
	p, err := f.o.apply(context.Background(), f.sender(), f.p)
	if err != nil {
		t.Fatal(err)
	}
	if p.Plan.Applied || p.Plan.Changed || f.writes != 1 {
		t.Errorf("applied=%v changed=%v writes=%d: want the re-plan to find nothing to write", p.Plan.Applied, p.Plan.Changed, f.writes)
	}
	if s := f.stored(); s.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyCluster || s.Annotations["kubernetes.io/elb.pass-through"] != "" {
		t.Errorf("the concurrent change was overwritten: %v %v", s.Spec.ExternalTrafficPolicy, s.Annotations)
	}
	if len(p.Plan.Notes) == 0 || !strings.Contains(p.Plan.Notes[len(p.Plan.Notes)-1].Message, "409 Conflict") {
		t.Errorf("the plan does not say it was re-planned: %+v", p.Plan.Notes)
	}
}

// A concurrent writer changes something else: 409, re-read, re-plan, server dry run again, then
// the write; both changes stand.
func TestApplyConflictThenWrites(t *testing.T) {
	f := newApplyFixture(t, func(f *applyFixture, dry bool) error {
		if !dry && f.writes == 1 {
			f.concurrentWrite(func(s *corev1.Service) { s.Labels = map[string]string{"team": "payments"} })
			return conflict()
		}
		return nil
	})
	p, err := f.o.apply(context.Background(), f.sender(), f.p)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Plan.Applied || f.writes != 2 || f.dryRuns != 1 {
		t.Errorf("applied=%v writes=%d dry runs=%d: want a dry run of the re-planned patch, then the write", p.Plan.Applied, f.writes, f.dryRuns)
	}
	s := f.stored()
	if s.Labels["team"] != "payments" || s.Annotations["kubernetes.io/elb.pass-through"] != "true" {
		t.Errorf("want both changes: labels %v, annotations %v", s.Labels, s.Annotations)
	}
}

// A writer that never stops: 4 writes (the first and 3 retries), then one sentence, nothing
// written.
func TestApplyConflictRetriesAreBounded(t *testing.T) {
	n := 0
	f := newApplyFixture(t, func(f *applyFixture, dry bool) error {
		if !dry {
			n++
			f.concurrentWrite(func(s *corev1.Service) { s.Labels = map[string]string{"n": strings.Repeat("x", n)} })
			return conflict()
		}
		return nil
	})
	_, err := f.o.apply(context.Background(), f.sender(), f.p)
	if err == nil || err.Error() != "service default/nginx kept changing while it was being patched (4 conflicts); nothing was overwritten, run the command again" {
		t.Fatalf("err = %v", err)
	}
	if f.writes != apply.DefaultRetries+1 {
		t.Errorf("%d writes, want %d", f.writes, apply.DefaultRetries+1)
	}
	if f.stored().Annotations["kubernetes.io/elb.pass-through"] != "" {
		t.Error("a write went through")
	}
}

// RBAC refuses the write: one sentence that says what to ask for; a refusal is an answer, so
// nothing is "possibly patched".
func TestApplyForbidden(t *testing.T) {
	f := newApplyFixture(t, func(f *applyFixture, dry bool) error {
		if !dry {
			return apierrors.NewForbidden(svcResource, "nginx", errors.New(`User "viewer" cannot patch resource "services"`))
		}
		return nil
	})
	_, err := f.o.apply(context.Background(), f.sender(), f.p)
	if err == nil || !strings.Contains(err.Error(), "ask for patch permission on services") || apply.MaybeWritten(err) {
		t.Fatalf("err = %v (maybe written: %v)", err, apply.MaybeWritten(err))
	}
}

// The connection breaks during the write: the Service is named as possibly patched, with the
// command that reverts it.
func TestApplyBrokenConnectionIsPossiblyWritten(t *testing.T) {
	f := newApplyFixture(t, func(f *applyFixture, dry bool) error {
		if !dry {
			return errors.New("read tcp 127.0.0.1:1->127.0.0.1:2: connection reset by peer")
		}
		return nil
	})
	_, err := f.o.apply(context.Background(), f.sender(), f.p)
	if err == nil || !apply.MaybeWritten(err) {
		t.Fatalf("err = %v, want a possibly-written error", err)
	}
	msg := apply.Partial(err, nil, []apply.Written{{Before: f.p.Live, After: f.p.Result}}).Error()
	if !strings.Contains(msg, "possibly patched (the request was sent but its answer was lost; check with kubectl get): default/nginx; to revert if it was: kubectl patch service nginx -n default --type strategic -p ") {
		t.Errorf("message: %s", msg)
	}
}

// The write is answered 504 Timeout (kube-apiserver's request timeout, while the write may
// still complete): not a refusal; the Service is named as possibly patched, with its revert.
func TestApplyTimeoutIsPossiblyWritten(t *testing.T) {
	f := newApplyFixture(t, func(f *applyFixture, dry bool) error {
		if !dry {
			return apierrors.NewTimeoutError("request did not complete within the allotted timeout", 0)
		}
		return nil
	})
	_, err := f.o.apply(context.Background(), f.sender(), f.p)
	if err == nil || !apply.MaybeWritten(err) || strings.Contains(err.Error(), "refused") {
		t.Fatalf("err = %v, want a possibly-written error that is not a refusal", err)
	}
	if f.writes != 1 {
		t.Errorf("%d writes: a timeout is not retried", f.writes)
	}
	msg := apply.Partial(err, nil, []apply.Written{{Before: f.p.Live, After: f.p.Result}}).Error()
	if !strings.Contains(msg, "did not complete the patch in time") || !strings.Contains(msg, "possibly patched") {
		t.Errorf("message: %s", msg)
	}
}

// An admission refusal in the server dry run (a 403 that is not RBAC) makes auto fall back to the
// other fix, quoting the server; throttling (429) and a broken connection are not refusals.
func TestServerDryRunFallback(t *testing.T) {
	for _, tc := range []struct {
		name     string
		err      error
		fallback bool
	}{
		{"webhook refusal", apierrors.NewForbidden(svcResource, "nginx", errors.New(`admission webhook "cce" denied the request: kubernetes.io/elb.* annotations cannot be changed`)), true},
		{"invalid", apierrors.NewInvalid(schema.GroupKind{Kind: "Service"}, "nginx", nil), true},
		{"throttled", apierrors.NewTooManyRequests("slow down", 1), false},
		{"server error", apierrors.NewInternalError(errors.New("etcd")), false},
		{"broken connection", errors.New("unexpected EOF"), false},
		{"RBAC", apierrors.NewForbidden(svcResource, "nginx", errors.New(`User "viewer" cannot patch resource "services"`)), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newApplyFixture(t, func(f *applyFixture, dry bool) error {
				if dry && f.dryRuns == 1 {
					return tc.err
				}
				return nil
			})
			err := f.o.serverDryRun(context.Background(), f.sender(), f.p)
			if tc.fallback {
				if err != nil || f.p.Plan.Fix.Strategy != plan.StrategyCluster || !strings.Contains(f.p.Plan.Fix.Reason, "the server refused pass-through") || f.dryRuns != 2 {
					t.Errorf("err %v, fix %+v, dry runs %d: want the Cluster fallback, dry-run too", err, f.p.Plan.Fix, f.dryRuns)
				}
				return
			}
			if err == nil || f.p.Plan.Fix.Strategy != plan.StrategyPassThrough || f.dryRuns != 1 {
				t.Errorf("err %v, fix %s, dry runs %d: want an error and no fallback", err, f.p.Plan.Fix.Strategy, f.dryRuns)
			}
			if f.writes != 0 {
				t.Error("a server dry run wrote")
			}
		})
	}
}
