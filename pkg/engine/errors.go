package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/apply"
)

// causedError is a message for the user that keeps the API error behind it, so that the code
// can still tell a refusal (an API status) from a broken connection.
type causedError struct {
	msg   string
	cause error
}

func (e *causedError) Error() string { return e.msg }
func (e *causedError) Unwrap() error { return e.cause }

// caused is an error that says msg to the user and unwraps to cause.
func caused(cause error, format string, a ...any) error {
	return &causedError{msg: fmt.Sprintf(format, a...), cause: cause}
}

// ServerError turns a failed API call into one sentence that says what failed and what to do.
func ServerError(err error, doing string) error {
	var netErr net.Error
	var urlErr *url.Error
	switch {
	case apierrors.IsUnauthorized(err):
		return caused(err, "%s: the API server rejected the credentials (401 Unauthorized); check the token or client certificate in your kubeconfig", doing)
	case apierrors.IsForbidden(err):
		return caused(err, "%s: forbidden: %s", doing, statusMessage(err))
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()):
		return caused(err, "%s: the API server did not answer in time: %v; raise --request-timeout, or check the server's health", doing, err)
	case errors.As(err, &urlErr), errors.As(err, &netErr):
		return caused(err, "%s: cannot reach the API server: %v; check --server, --context or KUBECONFIG", doing, err)
	}
	return caused(err, "%s: %v", doing, err)
}

// refusal reports the server's answer to a patch verbatim, naming the Service.
func refusal(svc *corev1.Service, err error, phase string) error {
	if apierrors.IsForbidden(err) && !apply.IsRefusal(err) {
		return caused(err, "service %s/%s: the %s was forbidden: %s; ask for patch permission on services, or use --dry-run to only look", svc.Namespace, svc.Name, phase, statusMessage(err))
	}
	if apierrors.IsTimeout(err) {
		return caused(err, "service %s/%s: the API server did not complete the %s in time (504): %s; it may still have made it", svc.Namespace, svc.Name, phase, statusMessage(err))
	}
	if apierrors.IsConflict(err) {
		return caused(err, "service %s/%s changed during the %s: %s; run the command again", svc.Namespace, svc.Name, phase, statusMessage(err))
	}
	var st apierrors.APIStatus
	if errors.As(err, &st) {
		return caused(err, "service %s/%s: the API server refused the %s: %s", svc.Namespace, svc.Name, phase, statusMessage(err))
	}
	return ServerError(err, fmt.Sprintf("service %s/%s: %s", svc.Namespace, svc.Name, phase))
}

// statusMessage is the message of an API status error, else the error's text.
func statusMessage(err error) string {
	var st apierrors.APIStatus
	if errors.As(err, &st) && st.Status().Message != "" {
		return st.Status().Message
	}
	return err.Error()
}

// reasonOf names why a request failed in a few words: "forbidden", or the server's message.
func reasonOf(err error) string {
	if apierrors.IsForbidden(err) {
		return "forbidden"
	}
	return statusMessage(err)
}
