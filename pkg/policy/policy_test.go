package policy

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	admissionv1beta1 "k8s.io/api/admissionregistration/v1beta1"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/kubeversion"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/plan"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/planapi"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.*")

// Every finding id is either checked by the policies or named, with the reason, as not
// expressible per object; never both.
func TestPolicyFindingSplit(t *testing.T) {
	got := Expressible()
	for _, id := range plan.FindingIDs {
		_, not := NotExpressible[id]
		if in := slices.Contains(got, id); in == not {
			t.Errorf("%s: expressible %v, not expressible %v: want exactly one", id, in, not)
		}
	}
	for id := range NotExpressible {
		if !slices.Contains(plan.FindingIDs, id) {
			t.Errorf("NotExpressible names unknown finding %s", id)
		}
	}
	if len(got) != len(plan.FindingIDs)-len(NotExpressible) {
		t.Errorf("Expressible %v has duplicates", got)
	}
}

func TestPolicyServedFor(t *testing.T) {
	for _, tc := range []struct {
		version string
		want    Served
	}{
		{"v1.27.9", Served{}},
		{"v1.28.0", Served{Validating: V1beta1}},
		{"v1.29.5-r0", Served{Validating: V1beta1}},
		{"v1.30.0", Served{Validating: V1}},
		{"v1.33.1", Served{Validating: V1}},
		{"v1.34.0", Served{Validating: V1, Mutating: V1beta1}},
		{"v1.35.2", Served{Validating: V1, Mutating: V1beta1}},
		{"v1.36.0", Served{Validating: V1, Mutating: V1}},
		{"v1.37.2-r0-37.0.1", Served{Validating: V1, Mutating: V1}},
	} {
		v, err := kubeversion.Parse(tc.version)
		if err != nil {
			t.Fatal(err)
		}
		if got := ServedFor(v); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.version, got, tc.want)
		}
	}
}

// The facts' derived keys come from pkg/plan: on CCE Turbo with iptables no in-cluster client
// fails through the ELB short-cut (pods go through the ELB, hosts short-cut to their own
// node's NodePort, which works with iptables), elsewhere some do.
func TestPolicyParams(t *testing.T) {
	for _, tc := range []struct {
		network, proxy   string
		shortcut, nodeNP string
	}{
		{"vpc", "ipvs", "true", "true"},
		{"tunnel", "iptables", "true", "true"},
		{"turbo", "iptables", "false", "true"},
		{"turbo", "ipvs", "true", "true"},
		{"", "", "true", "true"},
	} {
		cm := Params(planapi.Cluster{NetworkModel: tc.network, ProxyMode: tc.proxy, Version: "v1.37.2"})
		if cm.Data[ParamShortcutFails] != tc.shortcut || cm.Data[ParamNodePortFails] != tc.nodeNP {
			t.Errorf("%s+%s: %v", tc.network, tc.proxy, cm.Data)
		}
		if tc.network == "" && (cm.Data[ParamNetworkModel] != planapi.Unknown || cm.Data[ParamProxyMode] != planapi.Unknown) {
			t.Errorf("unknown facts: %v", cm.Data)
		}
		if cm.Namespace != ParamsNamespace || cm.Name != ParamsName {
			t.Errorf("ConfigMap %s/%s", cm.Namespace, cm.Name)
		}
	}
}

// What each mode does with the two severities.
func TestPolicyModes(t *testing.T) {
	for _, tc := range []struct {
		mode             string
		errors, warnings admissionv1.ValidationAction
		failure          admissionv1.FailurePolicyType
	}{
		{ModeWarn, admissionv1.Warn, admissionv1.Warn, admissionv1.Ignore},
		{ModeAudit, admissionv1.Audit, admissionv1.Audit, admissionv1.Ignore},
		{ModeDeny, admissionv1.Deny, admissionv1.Warn, admissionv1.Fail},
	} {
		set, err := Generate(Options{Mode: tc.mode, Cluster: planapi.Cluster{Version: "v1.37.2"}, Served: Served{Validating: V1}})
		if err != nil {
			t.Fatal(err)
		}
		actions := map[string]admissionv1.ValidationAction{}
		for _, o := range set.Objects {
			switch o := o.(type) {
			case *admissionv1.ValidatingAdmissionPolicyBinding:
				actions[o.Name] = o.Spec.ValidationActions[0]
			case *admissionv1.ValidatingAdmissionPolicy:
				if *o.Spec.FailurePolicy != tc.failure {
					t.Errorf("%s: %s failurePolicy %s", tc.mode, o.Name, *o.Spec.FailurePolicy)
				}
				for _, v := range o.Spec.Validations {
					id, _, _ := strings.Cut(strings.TrimPrefix(v.MessageExpression, "r'"), " ")
					want := plan.SeverityError
					if o.Name == WarningsName {
						want = "warning|info"
					}
					if sev := Severity(id); !strings.Contains(want, sev) {
						t.Errorf("%s: %s holds %s (%s)", tc.mode, o.Name, id, sev)
					}
				}
			}
		}
		if actions[ErrorsName] != tc.errors || actions[WarningsName] != tc.warnings {
			t.Errorf("%s: actions %v", tc.mode, actions)
		}
	}
}

func TestPolicyGenerateErrors(t *testing.T) {
	c := planapi.Cluster{Version: "v1.33.0"}
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{Cluster: c}, "needs Kubernetes v1.30"},
		{Options{Cluster: c, Served: Served{Validating: V1}, Mutate: true}, "needs Kubernetes v1.36"},
		{Options{Cluster: c, Served: Served{Validating: V1}, Mode: "block"}, `unknown mode "block"`},
	} {
		if _, err := Generate(tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: want an error containing %q, got %v", tc.o, tc.want, err)
		}
	}
}

// v1beta1 objects carry the same fields as the v1 ones.
func TestPolicyV1beta1(t *testing.T) {
	set, err := Generate(Options{Mode: ModeDeny, Mutate: true, Cluster: planapi.Cluster{Version: "v1.35.0"}, Served: Served{Validating: V1beta1, Mutating: V1beta1}})
	if err != nil {
		t.Fatal(err)
	}
	kinds := 0
	for _, o := range set.Objects {
		switch o := o.(type) {
		case *admissionv1beta1.ValidatingAdmissionPolicy:
			kinds++
			if o.APIVersion != "admissionregistration.k8s.io/v1beta1" || len(o.Spec.Variables) == 0 || len(o.Spec.Validations) == 0 || o.Spec.ParamKind == nil {
				t.Errorf("%s: %+v", o.Name, o.TypeMeta)
			}
		case *admissionv1beta1.ValidatingAdmissionPolicyBinding, *admissionv1beta1.MutatingAdmissionPolicyBinding:
			kinds++
		case *admissionv1beta1.MutatingAdmissionPolicy:
			kinds++
			if len(o.Spec.Mutations) != 1 || o.Spec.Mutations[0].ApplyConfiguration == nil {
				t.Errorf("%s: %+v", o.Name, o.Spec.Mutations)
			}
		}
	}
	if kinds != 6 {
		t.Errorf("%d v1beta1 objects, want 6", kinds)
	}
	if !strings.Contains(strings.Join(set.Notes, "\n"), "older than v1.30") {
		t.Errorf("no v1beta1 note: %v", set.Notes)
	}
}

// The printed policies, as golden files (go test ./pkg/policy -update rewrites them).
func TestPolicyGolden(t *testing.T) {
	set, err := Generate(Options{Mode: ModeWarn, Mutate: true,
		Cluster: planapi.Cluster{NetworkModel: "vpc", ProxyMode: "ipvs", Version: "v1.37.2"}, Served: Served{Validating: V1, Mutating: V1}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		file  string
		write func(*bytes.Buffer) error
	}{
		{"warn-vpc-ipvs-mutate.golden.yaml", func(b *bytes.Buffer) error { return set.WriteYAML(b) }},
		{"warn-vpc-ipvs-mutate.golden.json", func(b *bytes.Buffer) error { return set.WriteJSON(b) }},
	} {
		var b bytes.Buffer
		if err := tc.write(&b); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join("testdata", tc.file)
		if *update {
			if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test ./pkg/policy -update)", err)
		}
		if !bytes.Equal(b.Bytes(), want) {
			t.Errorf("%s differs from the golden file (go test ./pkg/policy -update rewrites it)", path)
		}
	}
}
