// Package clouddouble is a local double of the Huawei Cloud endpoints elbfix reads with --cloud:
// CCE (ListClusters, ShowCluster), ELB v3 (load balancers, listeners, pools, members, health
// monitors, quota) and IAM (the project id of a region, KeystoneListProjects). It is an HTTPS
// server on 127.0.0.1 that serves the documented request paths and JSON shapes, checks each
// request's SDK-HMAC-SHA256 signature against the test access key pair (a bad one is a 401),
// and records every request. The real SDK talks to it through elbfix's endpoint flags; the
// tests trust its certificate through SSL_CERT_FILE, which Go honours on Linux.
//
// It is a double, not Huawei Cloud: the shapes are those of the SDK's own models (shape_test.go
// decodes every answer with them), the behaviour only what elbfix relies on.
package clouddouble

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
)

// Test credentials: the double accepts requests signed with these only.
const (
	AK        = "ELBFIXTESTAKEXAMPLE0"
	SK        = "elbfixTestSecretKeyExample0000000000000"
	Token     = "elbfix-test-security-token-example"
	ProjectID = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
	Region    = "ap-southeast-1"
)

// Member is one member of a pool.
type Member struct {
	ID, Address string
	Port        int32
	// Status is the operating_status: ONLINE, OFFLINE, NO_MONITOR.
	Status string
}

// Monitor is a pool's health monitor.
type Monitor struct {
	ID, Type                         string
	Port, Delay, Timeout, MaxRetries int32
}

// Pool is a backend server group.
type Pool struct {
	ID, Protocol string
	Monitor      *Monitor
	Members      []Member
}

// Listener is a listener with its default pool.
type Listener struct {
	ID, Protocol string
	Port         int32
	Pool         *Pool
}

// LoadBalancer is a dedicated (v3) load balancer.
type LoadBalancer struct {
	ID, Name, VIP string
	Listeners     []Listener
}

// Cluster is a CCE cluster.
type Cluster struct {
	ID, Name string
	// Category is CCE or Turbo; NetworkMode overlay_l2, vpc-router or eni; ProxyMode iptables,
	// ipvs or nftables.
	Category, NetworkMode, ProxyMode string
	// Endpoints are the API server URLs (status.endpoints[].url).
	Endpoints []string
}

// State is what the double serves.
type State struct {
	Clusters       []Cluster
	LoadBalancers  []LoadBalancer
	MembersPerPool int32
	// Fail answers requests whose path contains a key with that status code (e.g. 403, 429).
	Fail map[string]int
	// Hang leaves requests whose path contains a key unanswered until the client gives up (its
	// timeout closes the connection), as an endpoint that accepts and never answers.
	Hang []string
	// Token, when set, is the security token the requests must carry (temporary credentials).
	Token string
	// PageSize, when set, caps every ELB list page at that many items (whatever the limit
	// asked), the next page named by page_info.next_marker (the last item's id), as the ELB v3
	// API pages with limit and marker.
	PageSize int
}

// Server is a running double.
type Server struct {
	*httptest.Server
	// CAFile holds the server's certificate (PEM), for SSL_CERT_FILE.
	CAFile string

	mu       sync.Mutex
	state    State
	requests []string
	rejected []string
}

// Start starts a double serving st on 127.0.0.1; it stops when the test ends.
func Start(t testing.TB, st State) *Server {
	t.Helper()
	s := &Server{state: st}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	s.CAFile = filepath.Join(t.TempDir(), "clouddouble-ca.pem")
	if err := os.WriteFile(s.CAFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return s
}

// SetState replaces what the double serves.
func (s *Server) SetState(st State) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state = st
}

// Requests lists the requests received ("GET /path?query"), in order.
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

// Rejected lists the requests whose signature did not verify, with why.
func (s *Server) Rejected() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.rejected...)
}

// Env is the environment of a process that reaches the double with the SDK's environment
// credentials: the test key pair, the project id (unless noProject), and its certificate.
func (s *Server) Env(noProject bool) []string {
	env := []string{"HUAWEICLOUD_SDK_AK=" + AK, "HUAWEICLOUD_SDK_SK=" + SK, "SSL_CERT_FILE=" + s.CAFile}
	if !noProject {
		env = append(env, "HUAWEICLOUD_SDK_PROJECT_ID="+ProjectID)
	}
	return env
}

// Flags are elbfix's flags that point the cloud reads at the double.
func (s *Server) Flags() []string {
	return []string{"--cloud", "--region", Region, "--cloud-endpoint-cce", s.URL, "--cloud-endpoint-elb", s.URL, "--cloud-endpoint-iam", s.URL}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.requests = append(s.requests, r.Method+" "+r.URL.RequestURI())
	st := s.state
	s.mu.Unlock()
	if err := verify(r, body, st.Token); err != nil {
		s.mu.Lock()
		s.rejected = append(s.rejected, r.URL.Path+": "+err.Error())
		s.mu.Unlock()
		writeError(w, http.StatusUnauthorized, "APIGW.0301", "Incorrect IAM authentication information: "+err.Error())
		return
	}
	for _, k := range st.Hang {
		if strings.Contains(r.URL.Path, k) {
			<-r.Context().Done()
			return
		}
	}
	for k, code := range st.Fail {
		if strings.Contains(r.URL.Path, k) {
			writeError(w, code, fmt.Sprintf("TEST.%d", code), "failure injected by the test double")
			return
		}
	}
	if r.Method != http.MethodGet {
		writeError(w, http.StatusMethodNotAllowed, "TEST.405", "the double serves GET only")
		return
	}
	q := r.URL.Query()
	p := strings.TrimSuffix(r.URL.Path, "/")
	cce := "/api/v3/projects/" + ProjectID + "/clusters"
	elb := "/v3/" + ProjectID + "/elb/"
	switch {
	case p == "/v3/projects":
		var projects []map[string]string
		if q.Get("name") == Region {
			projects = append(projects, map[string]string{"id": ProjectID, "name": Region})
		}
		writeJSON(w, map[string]any{"projects": projects})
	case p == cce:
		items := []any{}
		for _, c := range st.Clusters {
			items = append(items, clusterJSON(c))
		}
		writeJSON(w, map[string]any{"kind": "List", "apiVersion": "v3", "items": items})
	case strings.HasPrefix(p, cce+"/"):
		id := strings.TrimPrefix(p, cce+"/")
		for _, c := range st.Clusters {
			if c.ID == id {
				writeJSON(w, clusterJSON(c))
				return
			}
		}
		writeError(w, http.StatusNotFound, "CCE.01404001", "cluster "+id+" not found")
	case strings.HasPrefix(p, elb):
		s.serveELB(w, strings.TrimPrefix(p, elb), q, st)
	default:
		writeError(w, http.StatusNotFound, "TEST.404", "no such path in the double: "+p)
	}
}

func clusterJSON(c Cluster) map[string]any {
	var eps []map[string]string
	for i, u := range c.Endpoints {
		typ := "Internal"
		if i > 0 {
			typ = "External"
		}
		eps = append(eps, map[string]string{"url": u, "type": typ})
	}
	return map[string]any{
		"kind": "Cluster", "apiVersion": "v3",
		"metadata": map[string]any{"name": c.Name, "uid": c.ID},
		"spec": map[string]any{
			"category": c.Category, "type": "VirtualMachine", "flavor": "cce.s1.small", "version": "v1.29",
			"hostNetwork":      map[string]any{"vpc": "vpc-0001", "subnet": "subnet-0001"},
			"containerNetwork": map[string]any{"mode": c.NetworkMode, "cidr": "172.16.0.0/16"},
			"kubeProxyMode":    c.ProxyMode,
		},
		"status": map[string]any{"phase": "Available", "endpoints": eps},
	}
}

func (s *Server) serveELB(w http.ResponseWriter, what string, q map[string][]string, st State) {
	in := func(key, v string) bool {
		vs, ok := q[key]
		if !ok {
			return true
		}
		for _, x := range vs {
			if x == v {
				return true
			}
		}
		return false
	}
	lbRef := func(id string) []map[string]string { return []map[string]string{{"id": id}} }
	var items []any
	switch what {
	case "quotas":
		writeJSON(w, map[string]any{"request_id": "req-quota", "quota": map[string]any{
			"project_id": ProjectID, "loadbalancer": 50, "listener": 1500, "pool": 5000, "member": 10000,
			"members_per_pool": st.MembersPerPool, "healthmonitor": 5000, "listeners_per_pool": 50}})
		return
	case "loadbalancers":
		for _, lb := range st.LoadBalancers {
			if in("id", lb.ID) && in("vip_address", lb.VIP) {
				var ls, ps []map[string]string
				for _, l := range lb.Listeners {
					ls = append(ls, map[string]string{"id": l.ID})
					if l.Pool != nil {
						ps = append(ps, map[string]string{"id": l.Pool.ID})
					}
				}
				items = append(items, map[string]any{"id": lb.ID, "name": lb.Name, "vip_address": lb.VIP, "provisioning_status": "ACTIVE",
					"operating_status": "ONLINE", "admin_state_up": true, "project_id": ProjectID, "listeners": ls, "pools": ps})
			}
		}
	case "listeners":
		for _, lb := range st.LoadBalancers {
			for _, l := range lb.Listeners {
				if in("loadbalancer_id", lb.ID) && in("id", l.ID) {
					pool := ""
					if l.Pool != nil {
						pool = l.Pool.ID
					}
					items = append(items, map[string]any{"id": l.ID, "protocol": l.Protocol, "protocol_port": l.Port, "default_pool_id": pool,
						"admin_state_up": true, "project_id": ProjectID, "loadbalancers": lbRef(lb.ID)})
				}
			}
		}
	case "pools":
		for _, lb := range st.LoadBalancers {
			for _, l := range lb.Listeners {
				if p := l.Pool; p != nil && in("loadbalancer_id", lb.ID) {
					hm := ""
					if p.Monitor != nil {
						hm = p.Monitor.ID
					}
					var ms []map[string]string
					for _, m := range p.Members {
						ms = append(ms, map[string]string{"id": m.ID})
					}
					items = append(items, map[string]any{"id": p.ID, "protocol": p.Protocol, "lb_algorithm": "ROUND_ROBIN", "healthmonitor_id": hm,
						"admin_state_up": true, "project_id": ProjectID, "loadbalancers": lbRef(lb.ID), "listeners": []map[string]string{{"id": l.ID}}, "members": ms})
				}
			}
		}
	case "members":
		for _, lb := range st.LoadBalancers {
			for _, l := range lb.Listeners {
				if l.Pool == nil || !in("loadbalancer_id", lb.ID) || !in("pool_id", l.Pool.ID) {
					continue
				}
				for _, m := range l.Pool.Members {
					items = append(items, map[string]any{"id": m.ID, "address": m.Address, "protocol_port": m.Port, "operating_status": m.Status,
						"pool_id": l.Pool.ID, "loadbalancer_id": lb.ID, "admin_state_up": true, "weight": 1, "project_id": ProjectID, "ip_version": "v4"})
				}
			}
		}
	case "healthmonitors":
		for _, lb := range st.LoadBalancers {
			for _, l := range lb.Listeners {
				if l.Pool == nil || l.Pool.Monitor == nil || !in("id", l.Pool.Monitor.ID) {
					continue
				}
				m := l.Pool.Monitor
				items = append(items, map[string]any{"id": m.ID, "type": m.Type, "monitor_port": m.Port, "delay": m.Delay, "timeout": m.Timeout,
					"max_retries": m.MaxRetries, "max_retries_down": 3, "admin_state_up": true, "project_id": ProjectID, "pools": []map[string]string{{"id": l.Pool.ID}}})
			}
		}
	default:
		writeError(w, http.StatusNotFound, "ELB.8902", "no such resource in the double: "+what)
		return
	}
	if items == nil {
		items = []any{}
	}
	page := map[string]any{}
	if m := q["marker"]; len(m) > 0 { // the page after the item with that id
		for i, it := range items {
			if it.(map[string]any)["id"] == m[0] {
				items = items[i+1:]
				page["previous_marker"] = m[0]
				break
			}
		}
	}
	if n := st.PageSize; n > 0 && len(items) > n {
		items = items[:n]
		page["next_marker"] = items[n-1].(map[string]any)["id"]
	}
	page["current_count"] = len(items)
	writeJSON(w, map[string]any{"request_id": "req-" + what, what: items, "page_info": page})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, errCode, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error_code": errCode, "error_msg": msg, "request_id": "req-error"})
}

// verify checks the request's SDK-HMAC-SHA256 signature as the SDK computes it
// (core/auth/signer): the canonical request (method, path with a trailing slash, sorted query,
// the signed headers, the body's SHA-256), its hash with the X-Sdk-Date, keyed with the SK.
func verify(r *http.Request, body []byte, token string) error {
	const alg = "SDK-HMAC-SHA256"
	h := r.Header.Get("Authorization")
	if !strings.HasPrefix(h, alg+" ") {
		return fmt.Errorf("no %s Authorization header", alg)
	}
	fields := map[string]string{}
	for _, kv := range strings.Split(strings.TrimPrefix(h, alg+" "), ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		fields[k] = v
	}
	if fields["Access"] != AK {
		return fmt.Errorf("unknown access key")
	}
	if token != "" && r.Header.Get("X-Security-Token") != token {
		return fmt.Errorf("security token missing or wrong")
	}
	date := r.Header.Get("X-Sdk-Date")
	if date == "" {
		return fmt.Errorf("no X-Sdk-Date")
	}
	signed := strings.Split(fields["SignedHeaders"], ";")
	if !contains(signed, "x-sdk-date") {
		return fmt.Errorf("x-sdk-date is not signed")
	}
	var segs []string
	for _, seg := range strings.Split(r.URL.Path, "/") {
		segs = append(segs, escape(seg))
	}
	uri := strings.Join(segs, "/")
	if !strings.HasSuffix(uri, "/") {
		uri += "/"
	}
	q := r.URL.Query()
	var keys []string
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var qs []string
	for _, k := range keys {
		vs := append([]string(nil), q[k]...)
		sort.Strings(vs)
		for _, v := range vs {
			qs = append(qs, escape(k)+"="+escape(v))
		}
	}
	var hs []string
	for _, k := range signed {
		if k == "host" {
			hs = append(hs, "host:"+r.Host)
			continue
		}
		vs := append([]string(nil), r.Header.Values(k)...)
		sort.Strings(vs)
		for _, v := range vs {
			hs = append(hs, k+":"+strings.TrimSpace(v))
		}
	}
	payload := r.Header.Get("X-Sdk-Content-Sha256")
	if payload == "" {
		sum := sha256.Sum256(body)
		payload = hex.EncodeToString(sum[:])
	}
	canonical := strings.Join([]string{r.Method, uri, strings.Join(qs, "&"), strings.Join(hs, "\n") + "\n", strings.Join(signed, ";"), payload}, "\n")
	sum := sha256.Sum256([]byte(canonical))
	toSign := alg + "\n" + date + "\n" + hex.EncodeToString(sum[:])
	mac := hmac.New(sha256.New, []byte(SK))
	mac.Write([]byte(toSign))
	if want := hex.EncodeToString(mac.Sum(nil)); !hmac.Equal([]byte(want), []byte(fields["Signature"])) {
		return fmt.Errorf("signature does not match")
	}
	return nil
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// escape is the SDK signer's escaping: every byte but letters, digits and -_.~ as %XX.
func escape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '~' || c == '.' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}
