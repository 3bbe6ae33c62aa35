package cmd

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// serverError turns a failed API call into one sentence that says what failed and what to do.
func serverError(err error, doing string) error {
	var netErr net.Error
	var urlErr *url.Error
	switch {
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("%s: the API server rejected the credentials (401 Unauthorized); check the token or client certificate in your kubeconfig", doing)
	case apierrors.IsForbidden(err):
		return fmt.Errorf("%s: forbidden: %s", doing, statusMessage(err))
	case errors.As(err, &urlErr), errors.As(err, &netErr):
		return fmt.Errorf("%s: cannot reach the API server: %v; check --server, --context or KUBECONFIG", doing, err)
	}
	return fmt.Errorf("%s: %v", doing, err)
}

// refusal reports the server's answer to a patch verbatim, naming the Service.
func refusal(svc *corev1.Service, err error, phase string) error {
	if apierrors.IsForbidden(err) && !isAdmissionDenial(err) {
		return fmt.Errorf("service %s/%s: the %s was forbidden: %s; ask for patch permission on services, or use --dry-run to only look", svc.Namespace, svc.Name, phase, statusMessage(err))
	}
	if apierrors.IsConflict(err) {
		return fmt.Errorf("service %s/%s changed during the %s: %s; run the command again", svc.Namespace, svc.Name, phase, statusMessage(err))
	}
	var st apierrors.APIStatus
	if errors.As(err, &st) {
		return fmt.Errorf("service %s/%s: the API server refused the %s: %s", svc.Namespace, svc.Name, phase, statusMessage(err))
	}
	return serverError(err, fmt.Sprintf("service %s/%s: %s", svc.Namespace, svc.Name, phase))
}

func statusMessage(err error) string {
	var st apierrors.APIStatus
	if errors.As(err, &st) && st.Status().Message != "" {
		return st.Status().Message
	}
	return err.Error()
}

// isAdmissionDenial tells an admission webhook's or plugin's refusal (which may also be 403)
// from an RBAC denial, whose message reads `... is forbidden: User "x" cannot patch resource ...`.
func isAdmissionDenial(err error) bool {
	msg := statusMessage(err)
	return !(strings.Contains(msg, `is forbidden: User "`) && strings.Contains(msg, " cannot "))
}

// reasonOf names why a request failed in a few words: "forbidden", or the server's message.
func reasonOf(err error) string {
	if apierrors.IsForbidden(err) {
		return "forbidden"
	}
	return statusMessage(err)
}
