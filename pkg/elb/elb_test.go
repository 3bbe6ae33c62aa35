package elb

import (
	"os"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

func loadService(t *testing.T, path string) *corev1.Service {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var svc corev1.Service
	if err := yaml.UnmarshalStrict(b, &svc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return &svc
}

func TestParseExamples(t *testing.T) {
	t.Run("dedicated", func(t *testing.T) {
		svc := loadService(t, "testdata/service-dedicated-elb.yaml")
		info, probs := Parse(svc)
		if len(probs) != 0 {
			t.Fatalf("problems: %v", probs)
		}
		if info.Class != "performance" || info.Dialect != DialectCCE || !info.Dedicated || info.DNAT {
			t.Errorf("info = %+v", info)
		}
		if info.ID != "2f6d3a8e-1b4c-4d2e-9f7a-5c3b1e0d9a24" {
			t.Errorf("ID = %q", info.ID)
		}
		if info.HealthCheckFlag != "on" {
			t.Errorf("health check flag = %q", info.HealthCheckFlag)
		}
		want := &HealthCheck{Protocol: "TCP", Delay: "5", Timeout: "10", MaxRetries: "3"}
		if !reflect.DeepEqual(info.HealthCheckOption, want) {
			t.Errorf("health check option = %+v", info.HealthCheckOption)
		}
		if info.PassThroughOn || info.PassThrough != "" || !info.PreservesClientIP() {
			t.Errorf("pass-through/preserve = %+v", info)
		}
		ips := IngressIPs(svc)
		wantIPs := []IngressIP{{IP: "192.168.0.147"}, {IP: "203.0.113.36"}}
		if !reflect.DeepEqual(ips, wantIPs) {
			t.Errorf("ingress = %+v", ips)
		}
		if ips[0].Scope() != ScopePrivate || ips[1].Scope() != ScopePublic {
			t.Errorf("scopes = %s %s", ips[0].Scope(), ips[1].Scope())
		}
		if !ips[0].ShortCut() || !ips[1].ShortCut() {
			t.Error("VIP addresses must be short-cut")
		}
	})
	t.Run("shared", func(t *testing.T) {
		svc := loadService(t, "testdata/service-shared-elb-local.yaml")
		info, probs := Parse(svc)
		if len(probs) != 0 {
			t.Fatalf("problems: %v", probs)
		}
		if info.Class != "union" || info.Dialect != DialectCCE || info.Dedicated || !info.Shared() {
			t.Errorf("info = %+v", info)
		}
		a := info.Autocreate
		if a == nil || a.Type != "public" || a.BandwidthSize != "5" || a.EIPType != "5_bgp" ||
			a.BandwidthChargeMode != "traffic" || a.BandwidthShareType != "PER" || a.Name != "james" || a.DedicatedOnly() {
			t.Errorf("autocreate = %+v", a)
		}
		if IngressIPs(svc) != nil {
			t.Errorf("no status expected")
		}
	})
}

func TestParseAnnotations(t *testing.T) {
	T, F := true, false
	tests := []struct {
		name      string
		ann       map[string]string
		check     func(t *testing.T, i Info)
		wantProbs []string // annotation: substring of message
	}{
		{name: "no annotations", ann: nil, check: func(t *testing.T, i Info) {
			if i.Dialect != DialectNone || i.Shared() {
				t.Errorf("%+v", i)
			}
		}},
		{name: "unrelated annotations", ann: map[string]string{"app": "x"}, check: func(t *testing.T, i Info) {
			if i.Dialect != DialectNone {
				t.Errorf("%+v", i)
			}
		}},
		{name: "id without class is CCE shared", ann: map[string]string{AnnID: "abc"}, check: func(t *testing.T, i Info) {
			if i.Dialect != DialectCCE || i.ID != "abc" || !i.Shared() {
				t.Errorf("%+v", i)
			}
		}},
		{name: "autocreate without class, dedicated fields (array AZ)", ann: map[string]string{
			AnnAutocreate: `{"type":"inner","available_zone":["ap-southeast-1a"],"l4_flavor_name":"L4_flavor.elb.s1.small"}`,
		}, check: func(t *testing.T, i Info) {
			if i.Dialect != DialectCCE || !i.Dedicated || i.Autocreate.AvailableZone[0] != "ap-southeast-1a" {
				t.Errorf("%+v", i)
			}
		}},
		{name: "autocreate AZ as a string", ann: map[string]string{
			AnnClass: "performance", AnnAutocreate: `{"type":"public","available_zone":"ap-southeast-1a","bandwidth_size":"10"}`,
		}, check: func(t *testing.T, i Info) {
			if !i.Dedicated || !reflect.DeepEqual([]string(i.Autocreate.AvailableZone), []string{"ap-southeast-1a"}) || i.Autocreate.BandwidthSize != "10" {
				t.Errorf("%+v", i.Autocreate)
			}
		}},
		{name: "dnat", ann: map[string]string{AnnClass: "dnat"}, check: func(t *testing.T, i Info) {
			if !i.DNAT || i.Dialect != DialectCCE || i.Shared() {
				t.Errorf("%+v", i)
			}
		}},
		{name: "open-source shared", ann: map[string]string{AnnClass: "shared"}, check: func(t *testing.T, i Info) {
			if i.Dialect != DialectOpenSourceCCM || i.Dedicated {
				t.Errorf("%+v", i)
			}
		}},
		{name: "open-source dedicated", ann: map[string]string{AnnClass: "dedicated"}, check: func(t *testing.T, i Info) {
			if i.Dialect != DialectOpenSourceCCM || !i.Dedicated {
				t.Errorf("%+v", i)
			}
		}},
		{name: "pass-through true", ann: map[string]string{AnnPassThrough: "true"}, check: func(t *testing.T, i Info) {
			if !i.PassThroughOn || i.PassThrough != "true" {
				t.Errorf("%+v", i)
			}
		}},
		{name: "pass-through onlyLocal", ann: map[string]string{AnnPassThrough: "onlyLocal"}, check: func(t *testing.T, i Info) {
			if !i.PassThroughOn {
				t.Errorf("%+v", i)
			}
		}},
		{name: "pass-through TRUE any case", ann: map[string]string{AnnPassThrough: "TRUE"}, check: func(t *testing.T, i Info) {
			if !i.PassThroughOn {
				t.Errorf("%+v", i)
			}
		}},
		{name: "pass-through false", ann: map[string]string{AnnPassThrough: "false"}, check: func(t *testing.T, i Info) {
			if i.PassThroughOn || i.PassThrough != "false" {
				t.Errorf("%+v", i)
			}
		}},
		{name: "pass-through yes", ann: map[string]string{AnnPassThrough: "yes"}, check: func(t *testing.T, i Info) {
			if i.PassThroughOn || i.PassThrough != "yes" {
				t.Errorf("%+v", i)
			}
		}, wantProbs: []string{AnnPassThrough + `: invalid value "yes"`}},
		{name: "transparent client ip", ann: map[string]string{AnnTransparentClientIP: "true"}, check: func(t *testing.T, i Info) {
			if !i.TransparentClientIP || !i.PreservesClientIP() {
				t.Errorf("%+v", i)
			}
		}},
		{name: "transparent client ip not a bool", ann: map[string]string{AnnTransparentClientIP: "1"}, wantProbs: []string{AnnTransparentClientIP + `: invalid value "1"`}},
		{name: "hostNetwork true", ann: map[string]string{AnnHostNetwork: "true"}, check: func(t *testing.T, i Info) {
			if i.HostNetwork == nil || *i.HostNetwork != T {
				t.Errorf("%+v", i)
			}
		}},
		{name: "hostNetwork false", ann: map[string]string{AnnHostNetwork: "False"}, check: func(t *testing.T, i Info) {
			if i.HostNetwork == nil || *i.HostNetwork != F {
				t.Errorf("%+v", i)
			}
		}},
		{name: "hostNetwork garbage", ann: map[string]string{AnnHostNetwork: "sometimes"}, check: func(t *testing.T, i Info) {
			if i.HostNetwork != nil {
				t.Errorf("%+v", i)
			}
		}, wantProbs: []string{AnnHostNetwork + ": invalid value"}},
		{name: "autocreate invalid JSON", ann: map[string]string{AnnAutocreate: `{"type":"public",`}, check: func(t *testing.T, i Info) {
			if i.Autocreate != nil {
				t.Errorf("%+v", i)
			}
		}, wantProbs: []string{AnnAutocreate + ": invalid JSON: unexpected end of JSON input"}},
		{name: "autocreate wrong type", ann: map[string]string{AnnAutocreate: `{"type":"external"}`}, wantProbs: []string{AnnAutocreate + `: invalid "type" "external"`}},
		{name: "autocreate missing type", ann: map[string]string{AnnAutocreate: `{}`}, wantProbs: []string{AnnAutocreate + `: missing "type"`}},
		{name: "autocreate bandwidth_size not a number", ann: map[string]string{AnnAutocreate: `{"type":"public","bandwidth_size":"lots"}`}, wantProbs: []string{AnnAutocreate + `: invalid "bandwidth_size"`}},
		{name: "autocreate wrong field type", ann: map[string]string{AnnAutocreate: `{"type":5}`}, wantProbs: []string{AnnAutocreate + ": invalid JSON: json: cannot unmarshal number"}},
		{name: "unknown class", ann: map[string]string{AnnClass: "elastic"}, check: func(t *testing.T, i Info) {
			if i.Dialect != DialectCCE || i.Dedicated || i.DNAT {
				t.Errorf("%+v", i)
			}
		}, wantProbs: []string{AnnClass + `: unknown ELB class "elastic"`}},
		{name: "empty class", ann: map[string]string{AnnClass: ""}, wantProbs: []string{AnnClass + ": empty value"}},
		{name: "health check flag bad", ann: map[string]string{AnnHealthCheckFlag: "yes"}, wantProbs: []string{AnnHealthCheckFlag + `: invalid value "yes"`}},
		{name: "health check option numbers", ann: map[string]string{AnnHealthCheckOption: `{"protocol":"HTTP","delay":5,"timeout":10,"max_retries":3,"path":"/healthz"}`}, check: func(t *testing.T, i Info) {
			h := i.HealthCheckOption
			if h == nil || h.Delay != "5" || h.Timeout != "10" || h.MaxRetries != "3" || h.Path != "/healthz" || h.Protocol != "HTTP" {
				t.Errorf("%+v", h)
			}
		}},
		{name: "health check option invalid JSON", ann: map[string]string{AnnHealthCheckOption: `{"protocol":"TCP"`}, wantProbs: []string{AnnHealthCheckOption + ": invalid JSON"}},
		{name: "health check option bad delay", ann: map[string]string{AnnHealthCheckOption: `{"protocol":"TCP","delay":"soon"}`}, wantProbs: []string{AnnHealthCheckOption + `: invalid "delay" "soon"`}},
		{name: "health check option bad protocol", ann: map[string]string{AnnHealthCheckOption: `{"protocol":"ICMP"}`}, wantProbs: []string{AnnHealthCheckOption + `: unknown health check protocol "ICMP"`}},
		{name: "health check options list", ann: map[string]string{AnnHealthCheckOptions: `[{"protocol":"TCP","delay":"5","timeout":"10","max_retries":"3","target_service_port":"TCP:1","monitor_port":"22"},{"protocol":"HTTP","path":"/","target_service_port":"TCP:2"}]`}, check: func(t *testing.T, i Info) {
			if len(i.HealthCheckOptions) != 2 || i.HealthCheckOptions[0].MonitorPort != "22" {
				t.Fatalf("%+v", i.HealthCheckOptions)
			}
			p, n, ok := i.HealthCheckOptions[1].TargetPort()
			if !ok || p != "TCP" || n != 2 {
				t.Errorf("target port %s %d %v", p, n, ok)
			}
		}},
		{name: "health check options single object", ann: map[string]string{AnnHealthCheckOptions: `{"target_service_port":"TCP:80","protocol":"TCP"}`}, check: func(t *testing.T, i Info) {
			if len(i.HealthCheckOptions) != 1 {
				t.Errorf("%+v", i.HealthCheckOptions)
			}
		}},
		{name: "health check options missing target", ann: map[string]string{AnnHealthCheckOptions: `[{"protocol":"TCP"}]`}, wantProbs: []string{AnnHealthCheckOptions + `[0]: missing "target_service_port"`}},
		{name: "health check options bad target", ann: map[string]string{AnnHealthCheckOptions: `[{"protocol":"TCP","target_service_port":"80"}]`}, wantProbs: []string{AnnHealthCheckOptions + `[0]: invalid "target_service_port" "80"`}},
		{name: "health check options duplicate target", ann: map[string]string{AnnHealthCheckOptions: `[{"target_service_port":"TCP:80"},{"target_service_port":"TCP:80"}]`}, wantProbs: []string{AnnHealthCheckOptions + `: target_service_port "TCP:80" appears twice`}},
		// Both at once parse: that they can't work together is the decision's healthcheck-config.
		{name: "health check option and options", ann: map[string]string{AnnHealthCheckOption: `{"protocol":"TCP"}`, AnnHealthCheckOptions: `[{"target_service_port":"TCP:80"}]`}, check: func(t *testing.T, i Info) {
			if i.HealthCheckOption == nil || len(i.HealthCheckOptions) != 1 {
				t.Errorf("%+v", i)
			}
		}},
		// Whole numbers out of range parse (healthcheck-config in pkg/plan); only non-numbers are Problems.
		{name: "health check option negative and zero numbers parse", ann: map[string]string{AnnHealthCheckOption: `{"protocol":"TCP","delay":"-1","timeout":0,"max_retries":"11"}`}, check: func(t *testing.T, i Info) {
			h := i.HealthCheckOption
			if h == nil || h.Delay != "-1" || h.Timeout != "0" || h.MaxRetries != "11" {
				t.Errorf("%+v", h)
			}
		}},
		{name: "health check option fractional number", ann: map[string]string{AnnHealthCheckOption: `{"max_retries":2.5}`}, wantProbs: []string{AnnHealthCheckOption + `: invalid "max_retries" "2.5"`}},
		{name: "health check options invalid JSON", ann: map[string]string{AnnHealthCheckOptions: `[{]`}, wantProbs: []string{AnnHealthCheckOptions + ": invalid JSON: invalid character"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info, probs := ParseAnnotations(tt.ann)
			if tt.check != nil {
				tt.check(t, info)
			}
			if len(probs) != len(tt.wantProbs) {
				t.Fatalf("problems = %v, want %v", probs, tt.wantProbs)
			}
			for i, want := range tt.wantProbs {
				if !strings.HasPrefix(probs[i].String(), want) {
					t.Errorf("problem %d = %q, want prefix %q", i, probs[i].String(), want)
				}
			}
		})
	}
}

func TestHealthCheckOutOfRange(t *testing.T) {
	tests := []struct {
		name string
		h    HealthCheck
		want []string
	}{
		{"documented example", HealthCheck{Protocol: "TCP", Delay: "5", Timeout: "10", MaxRetries: "3"}, nil},
		{"unset", HealthCheck{}, nil},
		{"lower bounds", HealthCheck{Delay: "1", Timeout: "1", MaxRetries: "1"}, nil},
		{"upper bounds", HealthCheck{Delay: "50", Timeout: "50", MaxRetries: "10"}, nil},
		{"zeros", HealthCheck{Delay: "0", Timeout: "0", MaxRetries: "0"}, []string{`"delay" 0 (want 1–50)`, `"timeout" 0 (want 1–50)`, `"max_retries" 0 (want 1–10)`}},
		{"above", HealthCheck{Delay: "51", Timeout: "300", MaxRetries: "11"}, []string{`"delay" 51 (want 1–50)`, `"timeout" 300 (want 1–50)`, `"max_retries" 11 (want 1–10)`}},
		{"negative", HealthCheck{Delay: "-5"}, []string{`"delay" -5 (want 1–50)`}},
		{"not a number: a Parse problem, not here", HealthCheck{Delay: "soon", Timeout: "2.5", MaxRetries: "99999999999999999999999"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.h.OutOfRange(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("OutOfRange = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestAddressScope(t *testing.T) {
	tests := map[string]string{
		"10.1.2.3":         ScopePrivate,
		"172.16.0.1":       ScopePrivate,
		"172.31.255.255":   ScopePrivate,
		"172.32.0.1":       ScopePublic,
		"192.168.0.147":    ScopePrivate,
		"100.64.0.1":       ScopePrivate,
		"100.125.1.1":      ScopePrivate,
		"100.128.0.1":      ScopePublic,
		"127.0.0.1":        ScopePrivate,
		"169.254.1.1":      ScopePrivate,
		"203.0.113.36":     ScopePublic,
		"8.8.8.8":          ScopePublic,
		"fd00::1":          ScopePrivate,
		"2001:db8::1":      ScopePublic,
		"::ffff:10.0.0.1":  ScopePrivate,
		"not-an-ip":        ScopeUnknown,
		"":                 ScopeUnknown,
		"elb.example.test": ScopeUnknown,
	}
	for ip, want := range tests {
		if got := AddressScope(ip); got != want {
			t.Errorf("AddressScope(%q) = %q, want %q", ip, got, want)
		}
	}
}

func TestIngressIPModes(t *testing.T) {
	proxy, vip := corev1.LoadBalancerIPModeProxy, corev1.LoadBalancerIPModeVIP
	svc := &corev1.Service{Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{
		{IP: "192.168.0.10", IPMode: &proxy},
		{IP: "192.168.0.11", IPMode: &vip},
		{IP: "192.168.0.12"},
		{Hostname: "elb.example.test"},
	}}}}
	got := IngressIPs(svc)
	want := []bool{false, true, true, false}
	for i, e := range got {
		if e.ShortCut() != want[i] {
			t.Errorf("entry %d %+v ShortCut = %v", i, e, e.ShortCut())
		}
	}
	if got[0].IPMode != "Proxy" || got[1].IPMode != "VIP" || got[2].IPMode != "" {
		t.Errorf("modes = %+v", got)
	}
	if IngressIPs(nil) != nil {
		t.Error("nil service")
	}
	if i, p := Parse(nil); i.Dialect != "" || p != nil {
		t.Error("nil service")
	}
}

func FuzzParseAnnotations(f *testing.F) {
	f.Add("performance", "true", `{"type":"public","available_zone":["a"]}`, `{"protocol":"TCP","delay":"5"}`, `[{"target_service_port":"TCP:80"}]`, "on", "true")
	f.Add("", "onlyLocal", `{"type":"inner","available_zone":"a","bandwidth_size":5}`, `{`, `{"target_service_port":"UDP:53"}`, "off", "false")
	f.Add("dnat", "yes", `null`, `[]`, `[{"delay":1e400}]`, "x", "\xff")
	f.Fuzz(func(t *testing.T, class, pass, auto, option, options, flag, b string) {
		ann := map[string]string{
			AnnClass: class, AnnPassThrough: pass, AnnAutocreate: auto, AnnHealthCheckOption: option,
			AnnHealthCheckOptions: options, AnnHealthCheckFlag: flag, AnnTransparentClientIP: b, AnnHostNetwork: b,
		}
		info, probs := ParseAnnotations(ann)
		for _, p := range probs {
			if p.Annotation == "" || p.Message == "" {
				t.Fatalf("empty problem %+v", p)
			}
		}
		if info.PassThrough != pass {
			t.Fatalf("raw pass-through lost")
		}
		if info.Dialect == DialectNone {
			t.Fatalf("ELB annotations present but no dialect")
		}
		if info.DNAT && info.Dedicated {
			t.Fatalf("DNAT and dedicated at once: %+v", info)
		}
		_ = info.Shared()
		for _, h := range info.HealthCheckOptions {
			h.TargetPort()
			h.OutOfRange()
		}
		if h := info.HealthCheckOption; h != nil {
			for _, p := range probs {
				// A number is either a Parse problem or checked for its range, never both.
				if p.Annotation == AnnHealthCheckOption && strings.Contains(p.Message, "want a whole number") && len(h.OutOfRange()) == 3 {
					t.Fatalf("reported twice: %v / %v", p, h.OutOfRange())
				}
			}
		}
	})
}
