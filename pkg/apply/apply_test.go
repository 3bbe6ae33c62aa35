package apply

import (
	"context"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// The engine alone, with client-go's fake clientset and a reactor playing the server's answers
// to real writes (the fake ignores dry run; pkg/cmd's apply_test drives the engine with the
// planner, test/e2e proves both on a real API server).

var gr = schema.GroupResource{Resource: "services"}

const annotate = `{"metadata":{"annotations":{"x":"y"}}}`

func engine(t *testing.T, retries int, answer func(write int) error) (Engine, *fake.Clientset, *int) {
	t.Helper()
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", ResourceVersion: "7"}}
	cs := fake.NewClientset(svc)
	writes := 0
	cs.PrependReactor("patch", "services", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if len(a.(k8stesting.PatchActionImpl).PatchOptions.DryRun) > 0 {
			return true, svc.DeepCopy(), nil
		}
		writes++
		if err := answer(writes); err != nil {
			return true, nil, err
		}
		return false, nil, nil
	})
	return Engine{Services: cs.CoreV1(), Retries: retries}, cs, &writes
}

func target(t *testing.T, cs *fake.Clientset) Target {
	svc, err := cs.CoreV1().Services("shop").Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return Target{Live: svc, Patch: []byte(annotate)}
}

func TestWrite(t *testing.T) {
	conflict := apierrors.NewConflict(gr, "web", errors.New("modified"))
	for _, tc := range []struct {
		name      string
		retries   int
		answer    func(write int) error
		replan    Replan
		writes    int
		written   bool
		conflicts int
		err       string
	}{
		{name: "written at once", retries: 3, answer: func(int) error { return nil },
			writes: 1, written: true},
		{name: "a conflict, the re-plan still wants the patch", retries: 3,
			answer: func(w int) error {
				if w == 1 {
					return conflict
				}
				return nil
			},
			replan: func(*corev1.Service) ([]byte, error) { return []byte(annotate), nil },
			writes: 2, written: true, conflicts: 1},
		{name: "a conflict, nothing left to do", retries: 3, answer: func(int) error { return conflict },
			replan: func(*corev1.Service) ([]byte, error) { return nil, nil },
			writes: 1, conflicts: 1},
		{name: "conflicts beyond the retries", retries: 1, answer: func(int) error { return conflict },
			replan: func(*corev1.Service) ([]byte, error) { return []byte(annotate), nil },
			writes: 2, conflicts: 2, err: "service shop/web kept changing while it was being patched (2 conflicts); nothing was overwritten, run the command again"},
		{name: "a refusal is not retried", retries: 3,
			answer: func(int) error {
				return apierrors.NewForbidden(gr, "web", errors.New(`admission webhook "x" denied the request`))
			},
			writes: 1, err: "service shop/web: patch: "},
		{name: "the re-plan fails", retries: 3, answer: func(int) error { return conflict },
			replan: func(*corev1.Service) ([]byte, error) { return nil, errors.New("plan failed") },
			writes: 1, conflicts: 1, err: "plan failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, cs, writes := engine(t, tc.retries, tc.answer)
			res, err := e.Write(context.Background(), target(t, cs), tc.replan)
			switch {
			case tc.err == "" && err != nil:
				t.Fatal(err)
			case tc.err != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.err)):
				t.Fatalf("err = %v, want %q", err, tc.err)
			}
			if *writes != tc.writes || res.Written != tc.written || res.Conflicts != tc.conflicts {
				t.Errorf("writes %d written %v conflicts %d, want %d %v %d", *writes, res.Written, res.Conflicts, tc.writes, tc.written, tc.conflicts)
			}
		})
	}
}

func TestIsRefusalAndMaybeWritten(t *testing.T) {
	for _, tc := range []struct {
		name           string
		err            error
		refusal, maybe bool
	}{
		{"webhook 403", apierrors.NewForbidden(gr, "web", errors.New(`admission webhook "cce" denied the request`)), true, false},
		{"RBAC 403", apierrors.NewForbidden(gr, "web", errors.New(`User "v" cannot patch resource "services"`)), false, false},
		{"422", apierrors.NewInvalid(schema.GroupKind{Kind: "Service"}, "web", nil), true, false},
		{"400", apierrors.NewBadRequest("bad"), true, false},
		{"429", apierrors.NewTooManyRequests("slow", 1), false, false},
		{"500", apierrors.NewInternalError(errors.New("etcd")), false, false},
		{"504 Timeout", apierrors.NewTimeoutError("request did not complete within the allotted timeout", 0), false, true},
		{"EOF", errors.New("unexpected EOF"), false, true},
		{"wrapped EOF", &RequestError{"patch", "shop", "web", errors.New("EOF")}, false, true},
		{"wrapped 403", &RequestError{"patch", "shop", "web", apierrors.NewForbidden(gr, "web", errors.New("denied"))}, true, false},
	} {
		if got := IsRefusal(tc.err); got != tc.refusal {
			t.Errorf("%s: IsRefusal %v, want %v", tc.name, got, tc.refusal)
		}
		if got := MaybeWritten(tc.err); got != tc.maybe {
			t.Errorf("%s: MaybeWritten %v, want %v", tc.name, got, tc.maybe)
		}
	}
}

func TestPartial(t *testing.T) {
	svc := func(name string, ann map[string]string) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", Annotations: ann}}
	}
	cause := errors.New("service shop/c: patch: EOF")
	if err := Partial(cause, nil, nil); err != cause {
		t.Errorf("nothing written: %v, want the error itself", err)
	}
	err := Partial(cause,
		[]Written{{Before: svc("a", nil), After: svc("a", map[string]string{"kubernetes.io/elb.pass-through": "true"})}},
		[]Written{{Before: svc("c", nil), After: svc("c", map[string]string{"kubernetes.io/elb.pass-through": "true"})}})
	want := `service shop/c: patch: EOF; already patched before this failure: shop/a; to revert: kubectl patch service a -n shop --type strategic -p '{"metadata":{"annotations":{"kubernetes.io/elb.pass-through":null}}}'; possibly patched (the request was sent but its answer was lost; check with kubectl get): shop/c; to revert if it was: kubectl patch service c -n shop --type strategic -p '{"metadata":{"annotations":{"kubernetes.io/elb.pass-through":null}}}'`
	if err.Error() != want {
		t.Errorf("got  %s\nwant %s", err, want)
	}
	if !errors.Is(err, cause) {
		t.Error("the cause is lost")
	}
}
