package plan

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// TestCloudFindings: the findings from what the ELB API reports (--cloud).
func TestCloudFindings(t *testing.T) {
	svc := func() *corev1.Service {
		s := mk(svcSpec{cluster: true, ann: ann("kubernetes.io/elb.id", "lb-1",
			"kubernetes.io/elb.health-check-option", `{"protocol":"TCP","delay":"5","timeout":"10","max_retries":"3"}`)})
		s.Spec.Ports[0].NodePort = 30080
		return s
	}
	listener := func(members, unhealthy int, monitorPort int32) CloudListener {
		l := CloudListener{ID: "l1", Protocol: "TCP", Port: 80, PoolID: "pool-1", Members: members, Unhealthy: unhealthy, MemberPorts: []int32{30080},
			Monitor: &CloudMonitor{ID: "hm", Type: "TCP", Port: monitorPort, Delay: 5, Timeout: 10, MaxRetries: 3, AdminStateUp: true}}
		for i := 0; i < unhealthy; i++ {
			l.UnhealthyAddrs = append(l.UnhealthyAddrs, "192.168.0.1:30080")
		}
		return l
	}
	for _, tc := range []struct {
		name      string
		cloud     *CloudELB
		want      []string // finding ids among the cloud ones
		message   string   // in the finding's message or the notes
		noteWants string
	}{
		{name: "healthy, far from quota", cloud: &CloudELB{ID: "lb-1", MembersPerPool: 500, Listeners: []CloudListener{listener(3, 0, 0)}}},
		{name: "unhealthy counted", cloud: &CloudELB{ID: "lb-1", MembersPerPool: 500, Listeners: []CloudListener{listener(10, 3, 0)}},
			want: []string{FindingELBMembersUnhealthy}, message: "3 of 10 members unhealthy"},
		{name: "at the quota", cloud: &CloudELB{ID: "lb-1", MembersPerPool: 10, Listeners: []CloudListener{listener(10, 0, 0)}},
			want: []string{FindingELBMemberQuotaNear}, message: "ELB.8905"},
		{name: "near the quota", cloud: &CloudELB{ID: "lb-1", MembersPerPool: 10, Listeners: []CloudListener{listener(8, 0, 0)}},
			want: []string{FindingELBMemberQuotaNear}, message: "8 members of 10 (80%)"},
		{name: "below near", cloud: &CloudELB{ID: "lb-1", MembersPerPool: 10, Listeners: []CloudListener{listener(7, 0, 0)}}},
		{name: "monitor port nobody listens on", cloud: &CloudELB{ID: "lb-1", MembersPerPool: 500, Listeners: []CloudListener{listener(2, 2, 8081)}},
			want: []string{FindingELBMembersUnhealthy, FindingELBHealthCheckPortMismatch}, message: "probes port 8081"},
		{name: "monitor on the NodePort", cloud: &CloudELB{ID: "lb-1", MembersPerPool: 500, Listeners: []CloudListener{listener(2, 0, 30080)}}},
		{name: "listener of another port", cloud: &CloudELB{ID: "lb-1", MembersPerPool: 10, Listeners: []CloudListener{{Protocol: "TCP", Port: 443, Members: 10, Unhealthy: 10}}},
			noteWants: "no listener for the Service's port TCP/80"},
		{name: "unread", cloud: &CloudELB{ID: "lb-1", Unread: "not read: credentials rejected (403)"}, noteWants: "credentials rejected (403)"},
		{name: "quota unknown", cloud: &CloudELB{ID: "lb-1", Listeners: []CloudListener{listener(1000, 0, 0)}}, noteWants: "members_per_pool quota could not be read"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sp, err := Decide(Input{Service: svc(), Cluster: Cluster{NetworkModel: NetworkVPC, ProxyMode: ProxyIPTables}, EndpointCount: -1, Cloud: tc.cloud}, nil)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			text := ""
			for _, f := range sp.Findings {
				switch f.ID {
				case FindingELBMembersUnhealthy, FindingELBHealthCheckPortMismatch, FindingELBMemberQuotaNear:
					got = append(got, f.ID)
					text += f.Message + "\n"
					if f.Severity != SeverityWarning {
						t.Errorf("%s: severity %s", f.ID, f.Severity)
					}
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("cloud findings %v, want %v\n%s", got, tc.want, text)
			}
			if tc.message != "" && !strings.Contains(text, tc.message) {
				t.Errorf("messages lack %q:\n%s", tc.message, text)
			}
			notes := ""
			for _, n := range sp.Notes {
				notes += n.Message + "\n"
			}
			if tc.noteWants != "" && !strings.Contains(notes, tc.noteWants) {
				t.Errorf("notes lack %q:\n%s", tc.noteWants, notes)
			}
		})
	}
	t.Run("monitor differs from the annotation", func(t *testing.T) {
		l := listener(1, 0, 0)
		l.Monitor.Delay = 7
		sp, _ := Decide(Input{Service: svc(), EndpointCount: -1, Cloud: &CloudELB{ID: "lb-1", MembersPerPool: 500, Listeners: []CloudListener{l}}}, nil)
		found := false
		for _, n := range sp.Notes {
			found = found || strings.Contains(n.Message, "delay 7 on the ELB, 5 in the annotation")
		}
		if !found {
			t.Errorf("no drift note: %+v", sp.Notes)
		}
	})
	t.Run("per-port options are compared with their listener", func(t *testing.T) {
		s := svc()
		delete(s.Annotations, "kubernetes.io/elb.health-check-option")
		s.Annotations["kubernetes.io/elb.health-check-options"] = `[{"protocol":"HTTP","delay":"5","timeout":"10","max_retries":"3","path":"/","target_service_port":"TCP:80"}]`
		sp, _ := Decide(Input{Service: s, EndpointCount: -1, Cloud: &CloudELB{ID: "lb-1", MembersPerPool: 500, Listeners: []CloudListener{listener(1, 0, 0)}}}, nil)
		found := false
		for _, n := range sp.Notes {
			found = found || strings.Contains(n.Message, "health-check-options (TCP:80): type TCP on the ELB, HTTP in the annotation")
		}
		if !found {
			t.Errorf("no drift note: %+v", sp.Notes)
		}
	})
	t.Run("without --cloud nothing changes", func(t *testing.T) {
		sp, _ := Decide(Input{Service: svc(), EndpointCount: -1}, nil)
		for _, n := range sp.Notes {
			if strings.Contains(n.Message, "ELB API") {
				t.Errorf("note without --cloud: %s", n.Message)
			}
		}
	})
}
