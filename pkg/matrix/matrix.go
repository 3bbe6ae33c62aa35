// Package matrix holds the vendor access matrix (docs/domain.md §2) as data: which in-cluster
// client reaches which address of a Service with externalTrafficPolicy Local, per network model
// and kube-proxy mode. The cells live in matrix.yaml (embedded); this package loads, validates
// and looks them up, and applies the derivation of docs/domain.md §2.1 for LoadBalancer
// Services. A later edition of the vendor page is a change to matrix.yaml only.
package matrix

import (
	_ "embed"
	"fmt"
	"strings"
	"sync"

	"sigs.k8s.io/yaml"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/planapi"
)

//go:embed matrix.yaml
var embedded []byte

// Result of one cell.
type Result string

// Cell results.
const (
	OK   Result = "ok"
	Fail Result = "fail"
)

// Client locations and targets: the Plan's own names (pkg/planapi, the one place of the
// vocabulary).
const (
	HostSameNode  = planapi.HostSameNode
	HostOtherNode = planapi.HostOtherNode
	PodSameNode   = planapi.PodSameNode
	PodOtherNode  = planapi.PodOtherNode

	TargetNodePortServerNode = planapi.TargetNodePortServerNode
	TargetNodePortOtherNode  = planapi.TargetNodePortOtherNode
	TargetELBIP              = planapi.TargetELBIP
	TargetELBPrivateIP       = planapi.TargetELBPrivateIP
	TargetELBPublicIP        = planapi.TargetELBPublicIP
	TargetDNATIP             = planapi.TargetDNATIP
)

// Kinds of the "other Service kinds" rows.
const (
	KindDedicatedELB             = "dedicated-elb"
	KindDNATGateway              = "dnat-gateway"
	KindNginxIngressDedicatedELB = "nginx-ingress-dedicated-elb"
)

// Rules behind derived cells (matrix.yaml `rules`).
const (
	RuleShortcut             = "shortcut-own-nodeport"
	RuleTransparentClientIP  = "transparent-client-ip-as-dedicated"
	RulePassThroughKeepsPath = "pass-through-true-keeps-elb-path"
	RuleTurboColumns         = "turbo-proxy-columns"
)

// RuleKeys lists every rule a derived cell can name.
var RuleKeys = []string{RuleShortcut, RuleTransparentClientIP, RulePassThroughKeepsPath, RuleTurboColumns}

// Network models and proxy modes of the columns, and the fact values this package understands
// (pkg/planapi's).
const (
	NetworkTunnel = planapi.NetworkTunnel
	NetworkVPC    = planapi.NetworkVPC
	NetworkTurbo  = planapi.NetworkTurbo
	ProxyIPVS     = planapi.ProxyIPVS
	ProxyIPTables = planapi.ProxyIPTables
	ProxyNFTables = planapi.ProxyNFTables
	Unknown       = planapi.Unknown
)

// Clients lists the client locations in table order.
var Clients = []string{HostSameNode, HostOtherNode, PodSameNode, PodOtherNode}

// NodePortTargets lists the two targets of the NodePort table in cell order.
var NodePortTargets = []string{TargetNodePortServerNode, TargetNodePortOtherNode}

var knownTargets = map[string]bool{
	TargetNodePortServerNode: true, TargetNodePortOtherNode: true, TargetELBIP: true,
	TargetELBPrivateIP: true, TargetELBPublicIP: true, TargetDNATIP: true,
}

// Column is one column of the matrix: a network model and a kube-proxy mode.
type Column struct {
	Network string `json:"network"`
	Proxy   string `json:"proxy"`
}

// String is the column's name in the data file and in the Plan ("tunnel+ipvs").
func (c Column) String() string { return c.Network + "+" + c.Proxy }

// Source says where the data comes from.
type Source struct {
	Title     string   `json:"title"`
	Publisher string   `json:"publisher"`
	Copies    []string `json:"copies"`
	Notes     string   `json:"notes"`
}

// OtherCell is one listed cell of an "other Service kinds" row.
type OtherCell struct {
	Client string `json:"client"`
	Target string `json:"target"`
	Result Result `json:"result"`
	// Columns restricts the cell to some columns; empty means all columns.
	Columns []string `json:"columns,omitempty"`
}

// OtherKind is one "other Service kinds" row group.
type OtherKind struct {
	Kind  string      `json:"kind"`
	Row   string      `json:"row"`
	Cells []OtherCell `json:"cells"`
}

// Derived says which NodePort cell a client of a LoadBalancer Service reads (docs/domain.md §2.1).
type Derived struct {
	// Row is the client row of the NodePort table that is read.
	Row string `json:"row"`
	// Target is the NodePort target that is read (server node or other node).
	Target string `json:"target"`
}

// Derivation is the mapping of docs/domain.md §2.1.
type Derivation struct {
	Inferred bool               `json:"inferred"`
	Rule     string             `json:"rule"`
	Shortcut map[string]Derived `json:"shortcut"`
}

// file is the on-disk shape of matrix.yaml.
type file struct {
	Source     Source            `json:"source"`
	Edition    string            `json:"edition"`
	Columns    []columnDecl      `json:"columns"`
	Clients    map[string]string `json:"clients"`
	NodePort   nodePortDecl      `json:"nodePort"`
	OtherKinds []OtherKind       `json:"otherKinds"`
	Derivation Derivation        `json:"derivation"`
	Rules      map[string]string `json:"rules"`
	Readings   map[string]string `json:"readings"`
}

type columnDecl struct {
	Name    string `json:"name"`
	Network string `json:"network"`
	Proxy   string `json:"proxy"`
}

type nodePortDecl struct {
	Row   string                                  `json:"row"`
	Cells map[string]map[string]map[string]Result `json:"cells"` // client → column → target → result
}

// Matrix is the loaded, validated access matrix.
type Matrix struct {
	Source     Source
	Edition    string
	Derivation Derivation
	// Rules are the rules behind derived cells, by key (RuleShortcut, ...).
	Rules map[string]string
	// Readings are our documented readings where the vendor page has no column (turbo, nftables,
	// unknown facts), keyed by name.
	Readings map[string]string

	columns    []Column
	clientRows map[string]string // client → vendor row text
	npRow      string
	nodePort   map[string]map[Column]map[string]Result
	other      map[string]OtherKind
	otherOrder []string
}

// Load parses and validates the embedded matrix.yaml.
func Load() (*Matrix, error) { return Parse(embedded) }

var (
	defaultOnce sync.Once
	defaultM    *Matrix
	defaultErr  error
)

// MustDefault returns the embedded matrix, loaded once. It panics if the embedded file is invalid,
// which a unit test rules out.
func MustDefault() *Matrix {
	defaultOnce.Do(func() { defaultM, defaultErr = Load() })
	if defaultErr != nil {
		panic(defaultErr)
	}
	return defaultM
}

// Parse parses and validates matrix data in the format of matrix.yaml.
func Parse(data []byte) (*Matrix, error) {
	var f file
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		return nil, fmt.Errorf("matrix data: %w", err)
	}
	m := &Matrix{
		Source:     f.Source,
		Edition:    f.Edition,
		Derivation: f.Derivation,
		Rules:      f.Rules,
		Readings:   f.Readings,
		clientRows: map[string]string{},
		npRow:      f.NodePort.Row,
		nodePort:   map[string]map[Column]map[string]Result{},
		other:      map[string]OtherKind{},
	}
	if f.Edition == "" {
		return nil, fmt.Errorf("matrix data: edition is empty")
	}
	if f.Source.Title == "" {
		return nil, fmt.Errorf("matrix data: source.title is empty")
	}
	byName := map[string]Column{}
	for _, c := range f.Columns {
		if c.Network != NetworkTunnel && c.Network != NetworkVPC {
			return nil, fmt.Errorf("matrix data: column %q: unknown network %q", c.Name, c.Network)
		}
		if c.Proxy != ProxyIPVS && c.Proxy != ProxyIPTables {
			return nil, fmt.Errorf("matrix data: column %q: unknown proxy mode %q", c.Name, c.Proxy)
		}
		col := Column{Network: c.Network, Proxy: c.Proxy}
		if c.Name != col.String() {
			return nil, fmt.Errorf("matrix data: column %q must be named %q", c.Name, col.String())
		}
		if _, dup := byName[c.Name]; dup {
			return nil, fmt.Errorf("matrix data: column %q declared twice", c.Name)
		}
		byName[c.Name] = col
		m.columns = append(m.columns, col)
	}
	if len(m.columns) == 0 {
		return nil, fmt.Errorf("matrix data: no columns")
	}
	for _, cl := range Clients {
		if f.Clients[cl] == "" {
			return nil, fmt.Errorf("matrix data: clients: missing vendor row text for %q", cl)
		}
	}
	for cl, text := range f.Clients {
		if !isClient(cl) {
			return nil, fmt.Errorf("matrix data: clients: unknown client %q", cl)
		}
		m.clientRows[cl] = text
	}

	// NodePort table: every client × column × target must be given, nothing else.
	for cl, cols := range f.NodePort.Cells {
		if !isClient(cl) {
			return nil, fmt.Errorf("matrix data: nodePort: unknown client %q", cl)
		}
		for name, targets := range cols {
			col, ok := byName[name]
			if !ok {
				return nil, fmt.Errorf("matrix data: nodePort: client %q: unknown column %q", cl, name)
			}
			for t, r := range targets {
				if t != TargetNodePortServerNode && t != TargetNodePortOtherNode {
					return nil, fmt.Errorf("matrix data: nodePort: %s/%s: unknown target %q", cl, name, t)
				}
				if r != OK && r != Fail {
					return nil, fmt.Errorf("matrix data: nodePort: %s/%s/%s: unknown result %q", cl, name, t, r)
				}
			}
			if m.nodePort[cl] == nil {
				m.nodePort[cl] = map[Column]map[string]Result{}
			}
			m.nodePort[cl][col] = targets
		}
	}
	for _, cl := range Clients {
		for _, col := range m.columns {
			for _, t := range NodePortTargets {
				if _, ok := m.nodePort[cl][col][t]; !ok {
					return nil, fmt.Errorf("matrix data: nodePort: missing cell %s/%s/%s", cl, col, t)
				}
			}
		}
	}

	for _, k := range f.OtherKinds {
		if k.Kind == "" || k.Row == "" {
			return nil, fmt.Errorf("matrix data: otherKinds: kind and row are required")
		}
		if _, dup := m.other[k.Kind]; dup {
			return nil, fmt.Errorf("matrix data: otherKinds: kind %q declared twice", k.Kind)
		}
		for _, c := range k.Cells {
			if !isClient(c.Client) {
				return nil, fmt.Errorf("matrix data: otherKinds %s: unknown client %q", k.Kind, c.Client)
			}
			if !knownTargets[c.Target] {
				return nil, fmt.Errorf("matrix data: otherKinds %s: unknown target %q", k.Kind, c.Target)
			}
			if c.Result != OK && c.Result != Fail {
				return nil, fmt.Errorf("matrix data: otherKinds %s: unknown result %q", k.Kind, c.Result)
			}
			for _, name := range c.Columns {
				if _, ok := byName[name]; !ok {
					return nil, fmt.Errorf("matrix data: otherKinds %s: unknown column %q", k.Kind, name)
				}
			}
		}
		m.other[k.Kind] = k
		m.otherOrder = append(m.otherOrder, k.Kind)
	}
	for _, kind := range []string{KindDedicatedELB, KindDNATGateway} {
		if _, ok := m.other[kind]; !ok {
			return nil, fmt.Errorf("matrix data: otherKinds: missing kind %q", kind)
		}
	}

	for _, r := range RuleKeys {
		if strings.TrimSpace(f.Rules[r]) == "" {
			return nil, fmt.Errorf("matrix data: rules: missing rule %q", r)
		}
	}
	for r := range f.Rules {
		if !containsString(RuleKeys, r) {
			return nil, fmt.Errorf("matrix data: rules: unknown rule %q", r)
		}
	}
	for _, cl := range Clients {
		d, ok := f.Derivation.Shortcut[cl]
		if !ok {
			return nil, fmt.Errorf("matrix data: derivation: missing client %q", cl)
		}
		if !isClient(d.Row) {
			return nil, fmt.Errorf("matrix data: derivation %s: unknown row %q", cl, d.Row)
		}
		if d.Target != TargetNodePortServerNode && d.Target != TargetNodePortOtherNode {
			return nil, fmt.Errorf("matrix data: derivation %s: unknown target %q", cl, d.Target)
		}
	}
	for cl := range f.Derivation.Shortcut {
		if !isClient(cl) {
			return nil, fmt.Errorf("matrix data: derivation: unknown client %q", cl)
		}
	}
	return m, nil
}

func isClient(s string) bool {
	for _, c := range Clients {
		if c == s {
			return true
		}
	}
	return false
}

// Columns lists the columns of the data in their declared order.
func (m *Matrix) Columns() []Column { return append([]Column(nil), m.columns...) }

// ClientRow is the vendor's wording of a client row ("host, other node").
func (m *Matrix) ClientRow(client string) string { return m.clientRows[client] }

// NodePortRow names the NodePort table ("NodePort Service").
func (m *Matrix) NodePortRow() string { return m.npRow }

// NodePort is the NodePort table cell for client in column: the result towards the server node's
// IP:NodePort and towards another node's IP:NodePort. Unknown client or column gives "", "".
func (m *Matrix) NodePort(client string, col Column) (serverNode, otherNode Result) {
	cells := m.nodePort[client][col]
	return cells[TargetNodePortServerNode], cells[TargetNodePortOtherNode]
}

// NodePortTarget is the NodePort cell for one target (nodeport-server-node or nodeport-other-node).
func (m *Matrix) NodePortTarget(client, target string, col Column) Result {
	return m.nodePort[client][col][target]
}

// Kinds lists the "other Service kinds" in their declared order.
func (m *Matrix) Kinds() []string { return append([]string(nil), m.otherOrder...) }

// Kind returns one "other Service kinds" row group.
func (m *Matrix) Kind(kind string) (OtherKind, bool) {
	k, ok := m.other[kind]
	return k, ok
}

// Other is the result of an "other Service kinds" cell. The vendor lists only failing cells, so a
// cell that is not listed is OK.
func (m *Matrix) Other(kind, client, target string, col Column) Result {
	for _, c := range m.other[kind].Cells {
		if c.Client != client || c.Target != target {
			continue
		}
		if len(c.Columns) == 0 || containsString(c.Columns, col.String()) {
			return c.Result
		}
	}
	return OK
}

// Shortcut is the derivation of docs/domain.md §2.1 for a LoadBalancer Service whose ELB
// address kube-proxy short-cuts: the client reads its own node's IP:NodePort. It returns the
// result in col and the NodePort cell it was read from. The derivation is inferred (m.Derivation.Inferred).
func (m *Matrix) Shortcut(client string, col Column) (Result, Derived) {
	d, ok := m.Derivation.Shortcut[client]
	if !ok {
		return "", Derived{}
	}
	return m.NodePortTarget(d.Row, d.Target, col), d
}

// Possible is the set of columns that can apply given the known cluster facts.
type Possible struct {
	Columns []Column
	// Inferred is true when the set rests on our reading rather than on the vendor table
	// (CCE Turbo, nftables).
	Inferred bool
	// UnknownNetwork / UnknownProxy say which fact is open (evaluated over every value).
	UnknownNetwork bool
	UnknownProxy   bool
	// Notes explain each reading applied, in plain words.
	Notes []string
}

// Names lists the column names.
func (p Possible) Names() []string {
	out := make([]string, len(p.Columns))
	for i, c := range p.Columns {
		out[i] = c.String()
	}
	return out
}

// PossibleColumns lists the columns that can apply for a network model (tunnel, vpc, turbo,
// unknown) and proxy mode (ipvs, iptables, nftables, unknown). Readings (documented in
// matrix.yaml):
//   - unknown (or empty, or unrecognized) network on CCE Standard: tunnel and vpc;
//   - turbo: neither column is Turbo's; host cells are evaluated over every column of the proxy
//     mode (conservative), marked inferred;
//   - unknown proxy: ipvs and iptables;
//   - nftables: the matrix has no nftables column; treated as an unknown proxy mode, marked inferred.
func (m *Matrix) PossibleColumns(network, proxy string) Possible {
	var p Possible
	nets := map[string]bool{}
	switch network {
	case NetworkTunnel, NetworkVPC:
		nets[network] = true
	case NetworkTurbo:
		p.Inferred = true
		p.Notes = append(p.Notes, m.reading("turbo", "CCE Turbo has no column: host cells are evaluated over every column of the proxy mode (inferred)"))
	default:
		p.UnknownNetwork = true
		p.Notes = append(p.Notes, m.reading("unknownNetwork", "unknown network model: tunnel and VPC columns evaluated"))
	}
	proxies := map[string]bool{}
	switch proxy {
	case ProxyIPVS, ProxyIPTables:
		proxies[proxy] = true
	case ProxyNFTables:
		p.UnknownProxy = true
		p.Inferred = true
		p.Notes = append(p.Notes, m.reading("nftables", "the matrix has no nftables column: treated as an unknown proxy mode"))
	default:
		p.UnknownProxy = true
		p.Notes = append(p.Notes, m.reading("unknownProxy", "unknown proxy mode: IPVS and iptables columns evaluated"))
	}
	for _, c := range m.columns {
		if (len(nets) == 0 || nets[c.Network]) && (len(proxies) == 0 || proxies[c.Proxy]) {
			p.Columns = append(p.Columns, c)
		}
	}
	return p
}

func (m *Matrix) reading(key, fallback string) string {
	if s := strings.TrimSpace(m.Readings[key]); s != "" {
		return s
	}
	return fallback
}

// FailingIn returns the subset of cols in which f reports Fail, and whether that is every column
// of cols.
func FailingIn(cols []Column, f func(Column) Result) (failing []Column, all bool) {
	for _, c := range cols {
		if f(c) == Fail {
			failing = append(failing, c)
		}
	}
	return failing, len(failing) == len(cols) && len(cols) > 0
}

// ColumnNames returns the names of cols, sorted as given.
func ColumnNames(cols []Column) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = c.String()
	}
	return out
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
