package matrix

import (
	"reflect"
	"strings"
	"testing"
)

var (
	tunnelIPVS     = Column{NetworkTunnel, ProxyIPVS}
	vpcIPVS        = Column{NetworkVPC, ProxyIPVS}
	tunnelIPTables = Column{NetworkTunnel, ProxyIPTables}
	vpcIPTables    = Column{NetworkVPC, ProxyIPTables}
	allColumns     = []Column{tunnelIPVS, vpcIPVS, tunnelIPTables, vpcIPTables}
)

func TestEmbeddedLoads(t *testing.T) {
	m, err := Load()
	if err != nil {
		t.Fatalf("embedded matrix.yaml: %v", err)
	}
	if m.Edition != "seed" {
		t.Errorf("edition = %q, want seed", m.Edition)
	}
	if !strings.Contains(m.Source.Title, "cannot be accessed from within the cluster") {
		t.Errorf("source title = %q", m.Source.Title)
	}
	if len(m.Source.Copies) != 3 {
		t.Errorf("source copies = %v, want the Chinese, English and OTC editions", m.Source.Copies)
	}
	if !reflect.DeepEqual(m.Columns(), allColumns) {
		t.Errorf("columns = %v, want %v", m.Columns(), allColumns)
	}
	if !m.Derivation.Inferred {
		t.Error("the derivation (docs/domain.md §2.1) must be marked inferred")
	}
	if MustDefault() == nil {
		t.Fatal("MustDefault returned nil")
	}
	for _, cl := range Clients {
		if m.ClientRow(cl) == "" {
			t.Errorf("no vendor row text for %s", cl)
		}
	}
}

// One row per cell of the vendor NodePort table (docs/domain.md §2): 4 clients × 4 columns × 2 targets.
func TestNodePortCells(t *testing.T) {
	m := MustDefault()
	const S, O = TargetNodePortServerNode, TargetNodePortOtherNode
	tests := []struct {
		client string
		col    Column
		target string
		want   Result
	}{
		// host, same node as a server pod: ok / FAIL everywhere
		{HostSameNode, tunnelIPVS, S, OK},
		{HostSameNode, tunnelIPVS, O, Fail},
		{HostSameNode, vpcIPVS, S, OK},
		{HostSameNode, vpcIPVS, O, Fail},
		{HostSameNode, tunnelIPTables, S, OK},
		{HostSameNode, tunnelIPTables, O, Fail},
		{HostSameNode, vpcIPTables, S, OK},
		{HostSameNode, vpcIPTables, O, Fail},
		// host, other node: ok / FAIL with IPVS, ok / ok with iptables
		{HostOtherNode, tunnelIPVS, S, OK},
		{HostOtherNode, tunnelIPVS, O, Fail},
		{HostOtherNode, vpcIPVS, S, OK},
		{HostOtherNode, vpcIPVS, O, Fail},
		{HostOtherNode, tunnelIPTables, S, OK},
		{HostOtherNode, tunnelIPTables, O, OK},
		{HostOtherNode, vpcIPTables, S, OK},
		{HostOtherNode, vpcIPTables, O, OK},
		// other container on the server pod's node: ok / FAIL tunnel, FAIL / FAIL VPC
		{PodSameNode, tunnelIPVS, S, OK},
		{PodSameNode, tunnelIPVS, O, Fail},
		{PodSameNode, vpcIPVS, S, Fail},
		{PodSameNode, vpcIPVS, O, Fail},
		{PodSameNode, tunnelIPTables, S, OK},
		{PodSameNode, tunnelIPTables, O, Fail},
		{PodSameNode, vpcIPTables, S, Fail},
		{PodSameNode, vpcIPTables, O, Fail},
		// container on another node: ok / FAIL everywhere
		{PodOtherNode, tunnelIPVS, S, OK},
		{PodOtherNode, tunnelIPVS, O, Fail},
		{PodOtherNode, vpcIPVS, S, OK},
		{PodOtherNode, vpcIPVS, O, Fail},
		{PodOtherNode, tunnelIPTables, S, OK},
		{PodOtherNode, tunnelIPTables, O, Fail},
		{PodOtherNode, vpcIPTables, S, OK},
		{PodOtherNode, vpcIPTables, O, Fail},
	}
	if len(tests) != 32 {
		t.Fatalf("table has %d rows, want 32", len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.client+"/"+tt.col.String()+"/"+tt.target, func(t *testing.T) {
			if got := m.NodePortTarget(tt.client, tt.target, tt.col); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			s, o := m.NodePort(tt.client, tt.col)
			got := s
			if tt.target == O {
				got = o
			}
			if got != tt.want {
				t.Errorf("NodePort() got %q, want %q", got, tt.want)
			}
		})
	}
}

// One row per cell of the "other Service kinds" table, in every column (the vendor says the four
// columns are identical), plus a few cells that are not listed and so are ok.
func TestOtherKindCells(t *testing.T) {
	m := MustDefault()
	tests := []struct {
		kind, client, target string
		want                 Result
	}{
		{KindDedicatedELB, HostSameNode, TargetELBPrivateIP, Fail},
		{KindDedicatedELB, PodSameNode, TargetELBPrivateIP, Fail},
		{KindDNATGateway, HostSameNode, TargetDNATIP, Fail},
		{KindDNATGateway, HostOtherNode, TargetDNATIP, Fail},
		{KindDNATGateway, PodSameNode, TargetDNATIP, Fail},
		{KindDNATGateway, PodOtherNode, TargetDNATIP, Fail},
		{KindNginxIngressDedicatedELB, HostSameNode, TargetELBPrivateIP, Fail},
		{KindNginxIngressDedicatedELB, PodSameNode, TargetELBPrivateIP, Fail},
		// not listed → ok
		{KindDedicatedELB, HostOtherNode, TargetELBPrivateIP, OK},
		{KindDedicatedELB, PodOtherNode, TargetELBPrivateIP, OK},
		{KindDedicatedELB, HostSameNode, TargetELBPublicIP, OK},
		{KindNginxIngressDedicatedELB, PodOtherNode, TargetELBPrivateIP, OK},
	}
	for _, tt := range tests {
		for _, col := range allColumns {
			t.Run(tt.kind+"/"+tt.client+"/"+tt.target+"/"+col.String(), func(t *testing.T) {
				if got := m.Other(tt.kind, tt.client, tt.target, col); got != tt.want {
					t.Errorf("got %q, want %q", got, tt.want)
				}
			})
		}
	}
	// Every listed cell is covered by the table above.
	listed := 0
	for _, k := range m.Kinds() {
		kind, _ := m.Kind(k)
		listed += len(kind.Cells)
	}
	if listed != 8 {
		t.Errorf("data lists %d other-kind cells, the table tests 8", listed)
	}
}

// docs/domain.md §2.1: a LoadBalancer Service's ELB address read as the client's own node's NodePort.
func TestShortcutDerivation(t *testing.T) {
	m := MustDefault()
	tests := []struct {
		client string
		want   map[Column]Result
		row    string
		target string
	}{
		{HostSameNode, map[Column]Result{tunnelIPVS: OK, vpcIPVS: OK, tunnelIPTables: OK, vpcIPTables: OK}, HostSameNode, TargetNodePortServerNode},
		{HostOtherNode, map[Column]Result{tunnelIPVS: Fail, vpcIPVS: Fail, tunnelIPTables: OK, vpcIPTables: OK}, HostOtherNode, TargetNodePortOtherNode},
		{PodSameNode, map[Column]Result{tunnelIPVS: OK, vpcIPVS: Fail, tunnelIPTables: OK, vpcIPTables: Fail}, PodSameNode, TargetNodePortServerNode},
		{PodOtherNode, map[Column]Result{tunnelIPVS: Fail, vpcIPVS: Fail, tunnelIPTables: Fail, vpcIPTables: Fail}, PodOtherNode, TargetNodePortOtherNode},
	}
	for _, tt := range tests {
		for col, want := range tt.want {
			t.Run(tt.client+"/"+col.String(), func(t *testing.T) {
				got, d := m.Shortcut(tt.client, col)
				if got != want {
					t.Errorf("got %q, want %q", got, want)
				}
				if d.Row != tt.row || d.Target != tt.target {
					t.Errorf("derived from %+v, want %s/%s", d, tt.row, tt.target)
				}
			})
		}
	}
}

func TestPossibleColumns(t *testing.T) {
	m := MustDefault()
	tests := []struct {
		network, proxy   string
		want             []string
		inferred         bool
		unknownNet, unkP bool
	}{
		{"tunnel", "ipvs", []string{"tunnel+ipvs"}, false, false, false},
		{"vpc", "iptables", []string{"vpc+iptables"}, false, false, false},
		{"unknown", "ipvs", []string{"tunnel+ipvs", "vpc+ipvs"}, false, true, false},
		{"", "iptables", []string{"tunnel+iptables", "vpc+iptables"}, false, true, false},
		{"vpc", "unknown", []string{"vpc+ipvs", "vpc+iptables"}, false, false, true},
		{"unknown", "unknown", []string{"tunnel+ipvs", "vpc+ipvs", "tunnel+iptables", "vpc+iptables"}, false, true, true},
		{"tunnel", "nftables", []string{"tunnel+ipvs", "tunnel+iptables"}, true, false, true},
		{"turbo", "ipvs", []string{"tunnel+ipvs", "vpc+ipvs"}, true, false, false},
		{"turbo", "iptables", []string{"tunnel+iptables", "vpc+iptables"}, true, false, false},
		{"turbo", "unknown", []string{"tunnel+ipvs", "vpc+ipvs", "tunnel+iptables", "vpc+iptables"}, true, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.network+"/"+tt.proxy, func(t *testing.T) {
			p := m.PossibleColumns(tt.network, tt.proxy)
			if !reflect.DeepEqual(p.Names(), tt.want) {
				t.Errorf("columns = %v, want %v", p.Names(), tt.want)
			}
			if p.Inferred != tt.inferred || p.UnknownNetwork != tt.unknownNet || p.UnknownProxy != tt.unkP {
				t.Errorf("inferred/unknownNetwork/unknownProxy = %v/%v/%v, want %v/%v/%v",
					p.Inferred, p.UnknownNetwork, p.UnknownProxy, tt.inferred, tt.unknownNet, tt.unkP)
			}
			if tt.proxy == "nftables" && !strings.Contains(strings.Join(p.Notes, " "), "nftables") {
				t.Errorf("notes %q do not mention nftables", p.Notes)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	good := string(embedded)
	tests := []struct {
		name, from, to, wantErr string
	}{
		{"unknown client in nodePort", "    pod-other-node:\n      tunnel+ipvs:", "    pod-far-away:\n      tunnel+ipvs:", "unknown client"},
		{"unknown target", "{nodeport-server-node: ok, nodeport-other-node: fail}", "{nodeport-server-node: ok, nodeport-third-node: fail}", "unknown target"},
		{"unknown result", "{nodeport-server-node: ok, nodeport-other-node: fail}", "{nodeport-server-node: maybe, nodeport-other-node: fail}", "unknown result"},
		{"unknown column in cells", "      vpc+iptables:    {nodeport-server-node: ok, nodeport-other-node: ok}", "      vpc+nft:    {nodeport-server-node: ok, nodeport-other-node: ok}", "unknown column"},
		{"unknown other target", "{client: host-same-node, target: dnat-ip, result: fail}", "{client: host-same-node, target: dnat-port, result: fail}", "unknown target"},
		{"unknown other client", "{client: pod-other-node, target: dnat-ip, result: fail}", "{client: pod-nowhere, target: dnat-ip, result: fail}", "unknown client"},
		{"unknown field", "edition: seed", "edition: seed\nflavour: x", "unknown field"},
		{"bad column network", "{name: vpc+iptables, network: vpc, proxy: iptables}", "{name: vpc+iptables, network: vpcx, proxy: iptables}", "unknown network"},
		{"derivation row", "host-other-node: {row: host-other-node, target: nodeport-other-node}", "host-other-node: {row: nobody, target: nodeport-other-node}", "unknown row"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(good, tt.from) {
				t.Fatalf("fixture text %q not in matrix.yaml", tt.from)
			}
			_, err := Parse([]byte(strings.Replace(good, tt.from, tt.to, 1)))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
	if _, err := Parse([]byte("{")); err == nil {
		t.Error("invalid YAML accepted")
	}
}

func TestFailingIn(t *testing.T) {
	m := MustDefault()
	f := func(c Column) Result { r, _ := m.Shortcut(HostOtherNode, c); return r }
	failing, all := FailingIn(allColumns, f)
	if all || !reflect.DeepEqual(ColumnNames(failing), []string{"tunnel+ipvs", "vpc+ipvs"}) {
		t.Errorf("failing = %v all = %v", ColumnNames(failing), all)
	}
}
