// Package apply writes fixes to Services safely, with no knowledge of how a fix is decided: a
// patch is first sent as a server-side dry run; the real write carries the resourceVersion the
// patch was planned on, so a concurrent change makes the server answer 409 Conflict instead of
// being overwritten; the engine then re-reads the Service, asks the caller to re-plan, dry-runs
// the new patch and tries again, a bounded number of times. When a run stops half-way, Partial
// names every Service already written, and those whose answer was lost, with the command that
// reverts each.
package apply

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/patch"
)

// DefaultRetries is how many conflicts a write is retried after (4 writes in all).
const DefaultRetries = 3

// Engine sends patches to Services.
type Engine struct {
	Services corev1client.ServicesGetter
	// Retries is the number of times a write is retried after a conflict.
	Retries int
}

// Target is one write: the Service as the patch was planned on (its resourceVersion guards the
// write) and the strategic merge patch.
type Target struct {
	Live  *corev1.Service
	Patch []byte
}

// Replan is asked for the patch to send after a conflict, given the Service as re-read; nil or
// an empty patch means nothing is left to do.
type Replan func(fresh *corev1.Service) ([]byte, error)

// Result is what a write did.
type Result struct {
	// Object is the server's answer to the write, or the Service as re-read when a re-plan
	// left nothing to do.
	Object *corev1.Service
	// Written tells whether this write changed the Service.
	Written bool
	// Conflicts counts the 409 answers met.
	Conflicts int
	// Target is the last write tried (after re-plans, the re-read object and its patch).
	Target Target
}

// RequestError is a request of the engine that failed: Phase says which ("server dry run",
// "patch", "re-read after a conflict"); Err is client-go's error.
type RequestError struct {
	Phase           string
	Namespace, Name string
	Err             error
}

func (e *RequestError) Error() string {
	return fmt.Sprintf("service %s/%s: %s: %v", e.Namespace, e.Name, e.Phase, e.Err)
}

func (e *RequestError) Unwrap() error { return e.Err }

// ConflictsError ends a write that met a conflict on every try.
type ConflictsError struct {
	Namespace, Name string
	Conflicts       int
}

func (e *ConflictsError) Error() string {
	return fmt.Sprintf("service %s/%s kept changing while it was being patched (%d conflicts); nothing was overwritten, run the command again", e.Namespace, e.Name, e.Conflicts)
}

// DryRun sends t's patch with dryRun=All, guarded like the write: the answer is the object the
// write would give; nothing is written.
func (e Engine) DryRun(ctx context.Context, t Target) (*corev1.Service, error) {
	out, err := e.sender().Send(ctx, t.Live.Namespace, t.Live.Name, t.Patch, t.Live.ResourceVersion, true)
	if err != nil {
		return nil, &RequestError{"server dry run", t.Live.Namespace, t.Live.Name, err}
	}
	return out, nil
}

// Write sends t's patch guarded by t.Live's resourceVersion. On 409 Conflict it re-reads the
// Service, asks replan for the patch to send now, runs it as a server dry run, and tries again,
// at most Retries times; it never overwrites the concurrent change. A refusal or a failed request
// ends it with a *RequestError; conflicts on every try with a *ConflictsError.
func (e Engine) Write(ctx context.Context, t Target, replan Replan) (Result, error) {
	res := Result{Target: t}
	for {
		out, err := e.sender().Send(ctx, t.Live.Namespace, t.Live.Name, t.Patch, t.Live.ResourceVersion, false)
		if err == nil {
			res.Object, res.Written, res.Target = out, true, t
			return res, nil
		}
		if !apierrors.IsConflict(err) {
			return res, &RequestError{"patch", t.Live.Namespace, t.Live.Name, err}
		}
		res.Conflicts++
		if res.Conflicts > e.Retries {
			return res, &ConflictsError{t.Live.Namespace, t.Live.Name, res.Conflicts}
		}
		fresh, err := e.Services.Services(t.Live.Namespace).Get(ctx, t.Live.Name, metav1.GetOptions{})
		if err != nil {
			return res, &RequestError{"re-read after a conflict", t.Live.Namespace, t.Live.Name, err}
		}
		next, err := replan(fresh)
		if err != nil {
			return res, err
		}
		t = Target{Live: fresh, Patch: next}
		res.Target = t
		if len(next) == 0 || patch.IsEmpty(next) {
			res.Object = fresh
			return res, nil
		}
		if _, err := e.DryRun(ctx, t); err != nil && !apierrors.IsConflict(err) {
			return res, err
		}
	}
}

func (e Engine) sender() patch.Sender { return patch.Sender{Services: e.Services} }

// IsRefusal tells an admission webhook's or plugin's refusal from anything else: an answer of
// the API server (a Status, not a broken connection), with the codes admission uses (400, 403,
// 422), and a 403 that is not an RBAC denial (whose message reads `... is forbidden: User "x"
// cannot patch resource ...`). Throttling (429), server errors and transport errors are not
// refusals: falling back to another fix on those would change a Service for a glitch.
func IsRefusal(err error) bool {
	var st apierrors.APIStatus
	if !errors.As(err, &st) {
		return false
	}
	switch st.Status().Code {
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		return true
	case http.StatusForbidden:
		msg := st.Status().Message
		return !(strings.Contains(msg, `is forbidden: User "`) && strings.Contains(msg, " cannot "))
	}
	return false
}

// MaybeWritten tells a failed write whose request may still have reached the server: the
// connection broke or timed out, so no answer of the API server arrived, or the answer is 504
// with reason Timeout, which kube-apiserver sends when a request outlives its timeout while the
// handler may still complete the write. Any other Status answer means the server refused it,
// and nothing was written.
func MaybeWritten(err error) bool {
	var st apierrors.APIStatus
	return err != nil && (!errors.As(err, &st) || apierrors.IsTimeout(err))
}

// Written is a Service a run wrote (or may have written): as it was read, and as written.
type Written struct{ Before, After *corev1.Service }

// Partial says which Services were already patched when a later write failed, and which may
// have been (the answer was lost), each with the kubectl command that reverts it (the inverse
// patch), so nobody is left with a silent half state. With neither, it is err.
func Partial(err error, done, maybe []Written) error {
	if len(done) == 0 && len(maybe) == 0 {
		return err
	}
	msg := err.Error()
	if len(done) > 0 {
		names, reverts := revertCommands(done)
		msg += fmt.Sprintf("; already patched before this failure: %s; to revert: %s", strings.Join(names, ", "), strings.Join(reverts, "; "))
	}
	if len(maybe) > 0 {
		names, reverts := revertCommands(maybe)
		msg += fmt.Sprintf("; possibly patched (the request was sent but its answer was lost; check with kubectl get): %s; to revert if it was: %s", strings.Join(names, ", "), strings.Join(reverts, "; "))
	}
	return &partialError{msg: msg, cause: err}
}

type partialError struct {
	msg   string
	cause error
}

func (e *partialError) Error() string { return e.msg }
func (e *partialError) Unwrap() error { return e.cause }

func revertCommands(ws []Written) (names, reverts []string) {
	for _, w := range ws {
		names = append(names, w.Before.Namespace+"/"+w.Before.Name)
		revert, err := patch.Revert(w.Before, w.After)
		if err != nil {
			revert = []byte("?")
		}
		reverts = append(reverts, fmt.Sprintf("kubectl patch service %s -n %s --type strategic -p '%s'", w.Before.Name, w.Before.Namespace, revert))
	}
	return names, reverts
}
