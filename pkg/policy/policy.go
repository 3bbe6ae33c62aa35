// Package policy writes the admission policies that stop, at create time, the Services elbfix
// would report (issue #15, README "Prevent it"): a ValidatingAdmissionPolicy per severity with
// its binding, the cluster facts in a ConfigMap as their parameter (paramKind), and optionally a
// MutatingAdmissionPolicy that sets pass-through where svc would. It takes the facts
// (planapi.Cluster) and the API versions the server serves, and returns typed objects; it reads
// and writes nothing.
package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	admissionv1beta1 "k8s.io/api/admissionregistration/v1beta1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/elb"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/kubeversion"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/matrix"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/plan"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/planapi"
)

// Modes (--mode): what the bindings do with a failed rule.
const (
	ModeWarn  = "warn"  // every finding is a warning returned to the client
	ModeAudit = "audit" // every finding is an audit annotation only
	ModeDeny  = "deny"  // error findings are refused, the others are warnings
)

// Modes lists the modes, the default first.
var Modes = []string{ModeWarn, ModeAudit, ModeDeny}

// Names of the objects written.
const (
	ParamsNamespace = "kube-system"
	ParamsName      = "elbfix-facts"
	ErrorsName      = "elbfix-errors"
	WarningsName    = "elbfix-warnings"
	MutateName      = "elbfix-pass-through"
)

// Keys of the parameter ConfigMap: the facts, and what pkg/plan derives from them with the
// access matrix (whether a Local Service's ELB short-cut, and its NodePorts, fail for some
// in-cluster client under these facts).
const (
	ParamNetworkModel   = "networkModel"
	ParamProxyMode      = "proxyMode"
	ParamClusterVersion = "clusterVersion"
	ParamShortcutFails  = "shortcutFails"
	ParamNodePortFails  = "nodePortFails"
)

// API versions of admissionregistration.k8s.io.
const (
	V1      = "v1"
	V1beta1 = "v1beta1"
)

// Served is which version of admissionregistration.k8s.io serves each policy kind ("" none).
type Served struct{ Validating, Mutating string }

// ServedFor is what a server of version v serves by default: ValidatingAdmissionPolicy v1 from
// v1.30 (v1beta1 on v1.28–v1.29, behind the ValidatingAdmissionPolicy feature gate), and
// MutatingAdmissionPolicy v1 from v1.36 (v1beta1 on v1.34–v1.35, behind the
// MutatingAdmissionPolicy feature gate).
func ServedFor(v kubeversion.Version) Served {
	var s Served
	switch {
	case v.AtLeast(1, 30):
		s.Validating = V1
	case v.AtLeast(1, 28):
		s.Validating = V1beta1
	}
	switch {
	case v.AtLeast(1, 36):
		s.Mutating = V1
	case v.AtLeast(1, 34):
		s.Mutating = V1beta1
	}
	return s
}

// NotExpressible are the findings a policy on one Service cannot check, and why (the output's
// comment and the README say so): the catalogue's NotInPolicy.
var NotExpressible = func() map[string]string {
	out := map[string]string{}
	for _, e := range plan.Catalog {
		if e.NotInPolicy != "" {
			out[e.ID] = e.NotInPolicy
		}
	}
	return out
}()

// Expressible lists the per-object findings the policies check, errors first.
func Expressible() []string {
	var out []string
	for _, r := range rules() {
		out = append(out, r.id)
	}
	return out
}

// Options are what a policy is generated for.
type Options struct {
	Mode    string
	Mutate  bool
	Cluster planapi.Cluster
	Served  Served
}

// Set is the generated objects with the notes the output prints as comments.
type Set struct {
	Objects []runtime.Object
	Notes   []string
}

// Params is the parameter ConfigMap for the facts: the facts as given ("unknown" when not
// known), and what pkg/plan decides under them for a Local Service.
func Params(c planapi.Cluster) *corev1.ConfigMap {
	fact := func(s string) string {
		if strings.TrimSpace(s) == "" {
			return planapi.Unknown
		}
		return s
	}
	return &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ParamsNamespace, Name: ParamsName, Labels: labels()},
		Data: map[string]string{
			ParamNetworkModel:   fact(c.NetworkModel),
			ParamProxyMode:      fact(c.ProxyMode),
			ParamClusterVersion: fact(c.Version),
			ParamShortcutFails:  fmt.Sprint(fires(c, corev1.ServiceTypeLoadBalancer, plan.FindingInClusterELBShortcut)),
			ParamNodePortFails:  fmt.Sprint(fires(c, corev1.ServiceTypeNodePort, plan.FindingNodePortLocalUnreachable)),
		},
	}
}

// fires asks pkg/plan whether a plain Local Service of type t (no annotations, no status) has
// finding id under the facts c.
func fires(c planapi.Cluster, t corev1.ServiceType, id string) bool {
	probe := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "probe", Namespace: "default"},
		Spec: corev1.ServiceSpec{Type: t, ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal,
			Ports: []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP}}}}
	sp, err := plan.Decide(plan.Input{Cluster: c, Service: probe, Offline: true, EndpointCount: -1}, matrix.MustDefault())
	if err != nil {
		return false
	}
	for _, f := range sp.Findings {
		if f.ID == id {
			return true
		}
	}
	return false
}

func labels() map[string]string {
	return map[string]string{"app.kubernetes.io/managed-by": "kubectl-elbfix"}
}

// Generate writes the objects for o.
func Generate(o Options) (*Set, error) {
	switch o.Mode {
	case ModeWarn, ModeAudit, ModeDeny:
	case "":
		o.Mode = ModeWarn
	default:
		return nil, fmt.Errorf("unknown mode %q; want %s", o.Mode, strings.Join(Modes, ", "))
	}
	if o.Served.Validating == "" {
		return nil, fmt.Errorf("the cluster does not serve ValidatingAdmissionPolicy: it needs Kubernetes v1.30 (admissionregistration.k8s.io/v1), or v1.28–v1.29 with the ValidatingAdmissionPolicy feature gate and admissionregistration.k8s.io/v1beta1 enabled")
	}
	if o.Mutate && o.Served.Mutating == "" {
		return nil, fmt.Errorf("--mutate: the cluster does not serve MutatingAdmissionPolicy: it needs Kubernetes v1.36 (admissionregistration.k8s.io/v1), or v1.34–v1.35 with the MutatingAdmissionPolicy feature gate and admissionregistration.k8s.io/v1beta1 enabled")
	}
	s := &Set{}
	s.Notes = append(s.Notes,
		fmt.Sprintf("kubectl-elbfix admission policies, mode %s, for network model %s, kube-proxy %s, version %s (the facts are in ConfigMap %s/%s: change them there, not in the policies)",
			o.Mode, Params(o.Cluster).Data[ParamNetworkModel], Params(o.Cluster).Data[ParamProxyMode], Params(o.Cluster).Data[ParamClusterVersion], ParamsNamespace, ParamsName),
		"Per-Service findings checked: "+strings.Join(Expressible(), ", ")+"; exceptions: annotation "+ignoreAnnotation+": \"<finding-id>[,...]: <reason>\".")
	var ids []string
	for id := range NotExpressible {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		s.Notes = append(s.Notes, fmt.Sprintf("Not checked here: %s %s.", id, NotExpressible[id]))
	}
	s.Notes = append(s.Notes, "JSON annotations are checked for a subset of JSON (objects of scalars and arrays of scalars, scalars only in health checks, keys without escapes): a value outside it is reported as annotation-invalid.")
	if o.Served.Validating == V1beta1 {
		s.Notes = append(s.Notes, "admissionregistration.k8s.io/v1beta1: this server is older than v1.30; ValidatingAdmissionPolicy needs its feature gate and the v1beta1 API enabled (--feature-gates=ValidatingAdmissionPolicy=true --runtime-config=admissionregistration.k8s.io/v1beta1=true).")
	}
	if o.Mutate && o.Served.Mutating == V1beta1 {
		s.Notes = append(s.Notes, "MutatingAdmissionPolicy admissionregistration.k8s.io/v1beta1: this server is older than v1.36; it needs the MutatingAdmissionPolicy feature gate and the v1beta1 API enabled.")
	}

	s.Objects = append(s.Objects, Params(o.Cluster))
	errorsAction, warningsAction := admissionv1.Warn, admissionv1.Warn
	failure := admissionv1.Ignore
	switch o.Mode {
	case ModeAudit:
		errorsAction, warningsAction = admissionv1.Audit, admissionv1.Audit
	case ModeDeny:
		errorsAction, failure = admissionv1.Deny, admissionv1.Fail
	}
	var errs, warns []rule
	for _, r := range rules() {
		if Severity(r.id) == plan.SeverityError {
			errs = append(errs, r)
		} else {
			warns = append(warns, r)
		}
	}
	for _, p := range []struct {
		name   string
		rules  []rule
		action admissionv1.ValidationAction
	}{{ErrorsName, errs, errorsAction}, {WarningsName, warns, warningsAction}} {
		vap, binding := validating(p.name, p.rules, p.action, failure)
		objs, err := versioned(o.Served.Validating, vap, binding)
		if err != nil {
			return nil, err
		}
		s.Objects = append(s.Objects, objs...)
	}
	if o.Mutate {
		m, b := mutating()
		objs, err := versioned(o.Served.Mutating, m, b)
		if err != nil {
			return nil, err
		}
		s.Objects = append(s.Objects, objs...)
	}
	return s, nil
}

// Severity is the severity a finding has in the policies: the catalogue's (error for an error
// that is a warning on old clusters), except dedicated-elb-hairpin, a warning with the DNS-name
// advice (issue #15): a dedicated ELB with Local is the usual way to keep client addresses, only
// clients on a backend's own node fail, and no patch clears it when pass-through is "true", so
// the policies never refuse it.
func Severity(id string) string {
	if id == plan.FindingDedicatedELBHairpin {
		return plan.SeverityWarning
	}
	return severityOf(id)
}

func severityOf(id string) string {
	for _, e := range plan.Catalog {
		if e.ID == id {
			if strings.HasPrefix(e.Severity, plan.SeverityError) {
				return plan.SeverityError
			}
			return e.Severity
		}
	}
	return ""
}

// Message is what the API server returns for a failed rule: the finding id, what it means and
// the fix, from plan.Catalog (as svc names them).
func Message(id string) string {
	for _, e := range plan.Catalog {
		if e.ID == id {
			return fmt.Sprintf("%s (%s): %s. Fix: %s.", e.ID, Severity(id), e.When, e.Remedy)
		}
	}
	return id
}

// nameExpr is the Service's name in CEL ("" for a generated name, not known at admission).
const nameExpr = "(has(object.metadata.name) ? object.metadata.name : '')"

// messageExpression is Message(id) with the Service's namespace and name after the severity
// (and for annotation-invalid, the annotations that do not parse).
func messageExpression(id string) string {
	sev := Severity(id)
	rest := strings.TrimPrefix(Message(id), fmt.Sprintf("%s (%s)", id, sev))
	which, dns := "", ""
	switch id {
	case plan.FindingAnnotationInvalid:
		which = " + ' (' + " + badAnnotationNames() + ".substring(2) + ')'"
	case plan.FindingDedicatedELBHairpin, plan.FindingInClusterELBShortcut, plan.FindingDNATInClusterUnreachable:
		// The no-patch remedy with the Service's own DNS name.
		dns = " + ' Inside the cluster, call ' + " + nameExpr + " + '.' + request.namespace + '.svc (the DNS name of the Service) or its ClusterIP: it works from every node and pod.'"
	}
	return fmt.Sprintf("%s + request.namespace + '/' + %s%s + %s%s",
		lit(fmt.Sprintf("%s (%s) on service ", id, sev)), nameExpr, which, lit(rest), dns)
}

func matchServices(ops ...admissionv1.OperationType) *admissionv1.MatchResources {
	return &admissionv1.MatchResources{
		ResourceRules: []admissionv1.NamedRuleWithOperations{{RuleWithOperations: admissionv1.RuleWithOperations{
			Operations: ops,
			Rule: admissionv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"services"},
				Scope: ptr.To(admissionv1.NamespacedScope)},
		}}},
	}
}

// applicable: svc plans LoadBalancer and NodePort Services only (plan.NotApplicable).
var applicable = []admissionv1.MatchCondition{{Name: "loadbalancer-or-nodeport",
	Expression: "object.spec.type in ['LoadBalancer', 'NodePort']"}}

func paramKind() *admissionv1.ParamKind {
	return &admissionv1.ParamKind{APIVersion: "v1", Kind: "ConfigMap"}
}

func paramRef() *admissionv1.ParamRef {
	return &admissionv1.ParamRef{Name: ParamsName, Namespace: ParamsNamespace,
		ParameterNotFoundAction: ptr.To(admissionv1.AllowAction)}
}

func celVariables() []admissionv1.Variable {
	var out []admissionv1.Variable
	for _, v := range variables() {
		out = append(out, admissionv1.Variable{Name: v.name, Expression: v.expr})
	}
	return out
}

func validating(name string, rs []rule, action admissionv1.ValidationAction, failure admissionv1.FailurePolicyType) (*admissionv1.ValidatingAdmissionPolicy, *admissionv1.ValidatingAdmissionPolicyBinding) {
	var vs []admissionv1.Validation
	for _, r := range rs {
		vs = append(vs, admissionv1.Validation{
			Expression: fmt.Sprintf("'%s' in variables.ignored || !(%s)", r.id, r.cond),
			// The message names the Service (kubectl prints a warning it saw before only once).
			MessageExpression: messageExpression(r.id),
			Message:           Message(r.id), // when the expression above cannot be evaluated
			Reason:            ptr.To(metav1.StatusReasonInvalid),
		})
	}
	vap := &admissionv1.ValidatingAdmissionPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: admissionv1.SchemeGroupVersion.String(), Kind: "ValidatingAdmissionPolicy"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels()},
		Spec: admissionv1.ValidatingAdmissionPolicySpec{
			ParamKind:        paramKind(),
			MatchConstraints: matchServices(admissionv1.Create, admissionv1.Update),
			MatchConditions:  applicable,
			FailurePolicy:    ptr.To(failure),
			Variables:        celVariables(),
			Validations:      vs,
		},
	}
	b := &admissionv1.ValidatingAdmissionPolicyBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: admissionv1.SchemeGroupVersion.String(), Kind: "ValidatingAdmissionPolicyBinding"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels()},
		Spec: admissionv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        name,
			ParamRef:          paramRef(),
			ValidationActions: []admissionv1.ValidationAction{action},
		},
	}
	return vap, b
}

// wantPassThrough is when svc (auto) fixes a Service just created with pass-through: a
// LoadBalancer Service the annotation applies to, Local, pass-through off, whose ELB address is
// short-cut (incluster-elb-shortcut), where pass-through adds no hairpin (a shared ELB keeping
// client addresses, CCE Standard) and leaves nothing that externalTrafficPolicy Cluster would
// clear (CCE Turbo without hostNetwork backends).
const wantPassThrough = "variables.shortcut && variables.ptApplies && !variables.ptOn && !(variables.tcip && !variables.turbo) && !(variables.turbo && !variables.hostNet)"

func mutating() (*admissionv1.MutatingAdmissionPolicy, *admissionv1.MutatingAdmissionPolicyBinding) {
	expr := fmt.Sprintf(`%s ? Object{metadata: Object.metadata{annotations: {"%s": "%s"}}} : Object{}`, wantPassThrough, elb.AnnPassThrough, elb.PassThroughTrue)
	m := &admissionv1.MutatingAdmissionPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: admissionv1.SchemeGroupVersion.String(), Kind: "MutatingAdmissionPolicy"},
		ObjectMeta: metav1.ObjectMeta{Name: MutateName, Labels: labels()},
		Spec: admissionv1.MutatingAdmissionPolicySpec{
			ParamKind:          paramKind(),
			MatchConstraints:   matchServices(admissionv1.Create),
			MatchConditions:    applicable,
			FailurePolicy:      ptr.To(admissionv1.Ignore),
			Variables:          celVariables(),
			ReinvocationPolicy: admissionv1.NeverReinvocationPolicy,
			Mutations: []admissionv1.Mutation{{PatchType: admissionv1.PatchTypeApplyConfiguration,
				ApplyConfiguration: &admissionv1.ApplyConfiguration{Expression: expr}}},
		},
	}
	b := &admissionv1.MutatingAdmissionPolicyBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: admissionv1.SchemeGroupVersion.String(), Kind: "MutatingAdmissionPolicyBinding"},
		ObjectMeta: metav1.ObjectMeta{Name: MutateName, Labels: labels()},
		Spec:       admissionv1.MutatingAdmissionPolicyBindingSpec{PolicyName: MutateName, ParamRef: paramRef()},
	}
	return m, b
}

// versioned returns the objects in API version v: v1 as they are, v1beta1 converted field for
// field (the two versions have the same fields).
func versioned(v string, objs ...runtime.Object) ([]runtime.Object, error) {
	if v == V1 {
		return objs, nil
	}
	var out []runtime.Object
	for _, o := range objs {
		var into runtime.Object
		switch o.(type) {
		case *admissionv1.ValidatingAdmissionPolicy:
			into = &admissionv1beta1.ValidatingAdmissionPolicy{}
		case *admissionv1.ValidatingAdmissionPolicyBinding:
			into = &admissionv1beta1.ValidatingAdmissionPolicyBinding{}
		case *admissionv1.MutatingAdmissionPolicy:
			into = &admissionv1beta1.MutatingAdmissionPolicy{}
		case *admissionv1.MutatingAdmissionPolicyBinding:
			into = &admissionv1beta1.MutatingAdmissionPolicyBinding{}
		default:
			return nil, fmt.Errorf("policy: no %s form for %T", v, o)
		}
		b, err := json.Marshal(o)
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(b, into); err != nil {
			return nil, err
		}
		into.GetObjectKind().SetGroupVersionKind(admissionv1beta1.SchemeGroupVersion.WithKind(o.GetObjectKind().GroupVersionKind().Kind))
		out = append(out, into)
	}
	return out, nil
}

// WriteYAML writes the notes as comments, then each object as a YAML document.
func (s *Set) WriteYAML(w io.Writer) error {
	var b bytes.Buffer
	for _, n := range s.Notes {
		b.WriteString("# " + n + "\n")
	}
	for _, o := range s.Objects {
		y, err := yaml.Marshal(o)
		if err != nil {
			return err
		}
		b.WriteString("---\n")
		b.Write(stripCreation(y))
	}
	_, err := w.Write(b.Bytes())
	return err
}

// WriteJSON writes the objects as a v1 List (JSON has no comments: the notes are left out).
func (s *Set) WriteJSON(w io.Writer) error {
	list := struct {
		APIVersion string           `json:"apiVersion"`
		Kind       string           `json:"kind"`
		Items      []runtime.Object `json:"items"`
	}{"v1", "List", s.Objects}
	b, err := json.MarshalIndent(list, "", "  ")
	if err != nil {
		return err
	}
	b = bytes.ReplaceAll(b, []byte("\"creationTimestamp\": null,\n"), nil)
	_, err = w.Write(append(b, '\n'))
	return err
}

// stripCreation drops the empty creationTimestamp the typed objects marshal.
func stripCreation(y []byte) []byte {
	return bytes.ReplaceAll(y, []byte("  creationTimestamp: null\n"), nil)
}
