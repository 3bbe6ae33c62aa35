package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// faultProxy is an HTTPS reverse proxy, served from the test process on 127.0.0.1, in front of
// the harness's real kube-apiserver. kubectl (and the plugin it runs) talks to it through the
// kubeconfig the proxy writes: the proxy's own CA, the admin token, which the proxy forwards in
// the Authorization header as it is. A rule decides, per request, what the client gets:
//
//   - pass: the request goes to the API server and its answer comes back unchanged;
//   - answer: the proxy answers itself with a status (a metav1.Status body) and headers, e.g.
//     429 with Retry-After; the API server never sees the request;
//   - hold: the proxy holds the request until the client gives up (its context is done) or the
//     hold ends, and then passes it; whether the client gave up first is recorded;
//   - drop: the proxy reads the request and closes the connection without an answer (the client
//     sees EOF); the API server never sees it;
//   - dropAnswer: the request goes to the API server, which acts on it, and then the proxy closes
//     the connection instead of sending the answer (a write whose outcome the client can't know).
//
// What it models are faults at the HTTP level, one request at a time. What it cannot model: a
// TCP reset or a stall in the middle of a response body (the proxy answers whole or not at
// all), TLS faults (handshake failures, a certificate the client does not trust, renegotiation),
// HTTP/2 faults (the proxy speaks HTTP/1.1 to the client: GOAWAY, stream resets), failures
// inside the server (etcd unavailable or slow, a server restart that loses state or serves a
// stale cache, admission or storage timeouts), or a server that answers wrongly (corrupt or
// inconsistent objects). Those need faults in the server itself, not in front of it.
type faultProxy struct {
	// URL is the proxy's address, https://127.0.0.1:PORT.
	URL string
	// Kubeconfig is a kubeconfig for the admin user that points at the proxy.
	Kubeconfig string

	srv       *httptest.Server
	rp        *httputil.ReverseProxy
	upstream  *url.URL
	transport *http.Transport
	released  chan struct{} // closed when the test ends: every hold ends at once

	mu       sync.Mutex
	rule     func(faultRequest) faultAction
	seen     map[string]int // requests by kind
	records  []*faultRecord
	inflight int // requests being handled
}

// faultRequest is what a rule sees of one request.
type faultRequest struct {
	Method string
	Path   string
	Query  url.Values
	// Verb is the Kubernetes verb (get, list, watch, create, update, patch, delete,
	// deletecollection) for a resource path, else the method in lower case.
	Verb                  string
	Resource, Subresource string // "" for a path that is not a resource (/version, /metrics)
	Namespace, Name       string
	DryRun                bool // dryRun=All
	// N says that this request is the N-th of its kind (Kind) the proxy has seen, from 1.
	N int
}

// Kind names the request's class, as the proxy counts them: "list services",
// "patch services", "patch services (dry run)", "get nodes/proxy", "get /version".
func (r faultRequest) Kind() string {
	what := r.Resource
	if what == "" {
		what = r.Path
	}
	if r.Subresource != "" {
		what += "/" + r.Subresource
	}
	k := r.Verb + " " + what
	if r.DryRun {
		k += " (dry run)"
	}
	return k
}

// Object is namespace/name of the object the request is about ("" for a collection).
func (r faultRequest) Object() string {
	if r.Name == "" {
		return ""
	}
	if r.Namespace == "" {
		return r.Name
	}
	return r.Namespace + "/" + r.Name
}

func (r faultRequest) String() string {
	s := r.Kind()
	if o := r.Object(); o != "" {
		s += " " + o
	}
	return fmt.Sprintf("%s #%d", s, r.N)
}

type actionKind int

const (
	actPass actionKind = iota
	actAnswer
	actHold
	actDrop
	actDropAnswer
	actTimeoutAnswer
)

// faultAction is what the proxy does with one request; see faultProxy.
type faultAction struct {
	kind   actionKind
	status int
	header http.Header
	hold   time.Duration
	reason metav1.StatusReason // of an answer; "": from the status text
}

var (
	pass       = faultAction{kind: actPass}
	drop       = faultAction{kind: actDrop}
	dropAnswer = faultAction{kind: actDropAnswer}
	// timeoutAnswer: the request goes to the API server, which acts on it; the client gets 504
	// with reason Timeout instead of the answer, as kube-apiserver's own request timeout answers
	// while the handler may still complete (apierrors.NewTimeoutError).
	timeoutAnswer = faultAction{kind: actTimeoutAnswer}
)

// answer makes the proxy answer with status and the headers given as name, value pairs.
func answer(status int, header ...string) faultAction {
	h := http.Header{}
	for i := 0; i+1 < len(header); i += 2 {
		h.Add(header[i], header[i+1])
	}
	return faultAction{kind: actAnswer, status: status, header: h}
}

// answerAfter is answer(status) with the Status reason given ("": from the status text),
// once d has passed (or the client went away): time for the client to act on what it read
// before, when a test needs that to happen first.
func answerAfter(d time.Duration, status int, reason metav1.StatusReason) faultAction {
	a := answer(status)
	a.hold, a.reason = d, reason
	return a
}

// hold makes the proxy hold the request until the client goes away or d passes, then pass it.
func hold(d time.Duration) faultAction { return faultAction{kind: actHold, hold: d} }

func (a faultAction) String() string {
	switch a.kind {
	case actAnswer:
		if a.hold > 0 {
			return fmt.Sprintf("answer %d after %s", a.status, a.hold)
		}
		return fmt.Sprintf("answer %d", a.status)
	case actHold:
		return fmt.Sprintf("hold %s", a.hold)
	case actDrop:
		return "drop"
	case actDropAnswer:
		return "drop answer"
	case actTimeoutAnswer:
		return "504 Timeout after forwarding"
	}
	return "pass"
}

// faultRecord is one request the proxy saw and what became of it.
type faultRecord struct {
	faultRequest
	Action faultAction
	// Forwarded: the API server got the request (pass, dropAnswer, or a hold that ended).
	Forwarded bool
	// Code is the status the client got (the server's or the proxy's); 0 when it got none.
	Code int
	// Cancelled: during a hold, the client went away (its request context was done) before the
	// hold ended.
	Cancelled bool
	// Arrived is when the proxy got the request; Held is how long a hold lasted. For logs only:
	// tests assert on what happened, never on time.
	Arrived time.Time
	Held    time.Duration
	// ServerCode is the status the API server answered a dropAnswer request with (the client
	// never got it).
	ServerCode int
	// Err is what went wrong forwarding the request, if anything.
	Err string
	// Finished: the proxy is done with the request (false: still in flight after Settle).
	Finished bool
}

func (r *faultRecord) String() string {
	s := fmt.Sprintf("%s: %s", r.faultRequest, r.Action)
	switch {
	case !r.Finished:
		s += ", still in flight"
	case r.Action.kind == actHold && r.Cancelled:
		s += fmt.Sprintf(", cancelled by the client after %s", r.Held.Round(time.Millisecond))
	case r.Action.kind == actHold:
		s += fmt.Sprintf(", outlived the hold (%s)", r.Held.Round(time.Millisecond))
	}
	if r.Forwarded {
		s += ", forwarded"
	}
	if r.Code != 0 {
		s += fmt.Sprintf(", answered %d", r.Code)
	}
	if r.ServerCode != 0 {
		s += fmt.Sprintf(", the server answered %d (not delivered)", r.ServerCode)
	}
	if r.Err != "" {
		s += ", error: " + r.Err
	}
	return s
}

// newFaultProxy starts a proxy in front of kc.Server that applies rule (nil: pass everything).
// It stops when the test ends.
func newFaultProxy(t *testing.T, rule func(faultRequest) faultAction) *faultProxy {
	t.Helper()
	upstream, err := url.Parse(kc.Server)
	if err != nil {
		t.Fatal(err)
	}
	// Trust the API server's CA, as the harness's own client does.
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(kc.Config.TLSClientConfig.CAData) {
		t.Fatal("the harness's rest.Config holds no CA certificate")
	}
	p := &faultProxy{
		upstream: upstream,
		transport: &http.Transport{
			TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
			MaxIdleConnsPerHost: 16,
		},
		released: make(chan struct{}),
		seen:     map[string]int{},
	}
	p.SetRule(rule)
	p.rp = &httputil.ReverseProxy{
		// SetURL keeps every header of the client's request but the hop-by-hop ones: the
		// Authorization header reaches the API server as the client sent it.
		Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(upstream) },
		Transport: p.transport,
		ErrorLog:  log.New(io.Discard, "", 0),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if rec, ok := r.Context().Value(recordKey{}).(*faultRecord); ok {
				p.mu.Lock()
				rec.Err = err.Error()
				p.mu.Unlock()
			}
			w.WriteHeader(http.StatusBadGateway)
		},
	}
	p.srv = httptest.NewUnstartedServer(p)
	p.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // TLS handshake errors of clients that went away
	p.srv.StartTLS()                                   // HTTP/1.1 only: EnableHTTP2 is false
	p.URL = p.srv.URL
	t.Cleanup(func() {
		close(p.released)
		p.srv.CloseClientConnections()
		p.srv.Close()
		p.transport.CloseIdleConnections()
	})

	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.srv.Certificate().Raw})
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["fault-proxy"] = &clientcmdapi.Cluster{Server: p.URL, CertificateAuthorityData: caPEM}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{Token: kc.AdminToken}
	cfg.Contexts["fault-proxy"] = &clientcmdapi.Context{Cluster: "fault-proxy", AuthInfo: "admin", Namespace: "default"}
	cfg.CurrentContext = "fault-proxy"
	p.Kubeconfig = filepath.Join(t.TempDir(), "fault-proxy.kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, p.Kubeconfig); err != nil {
		t.Fatal(err)
	}
	return p
}

// SetRule replaces the rule (nil: pass everything), e.g. when the server "comes back".
func (p *faultProxy) SetRule(rule func(faultRequest) faultAction) {
	if rule == nil {
		rule = func(faultRequest) faultAction { return pass }
	}
	p.mu.Lock()
	p.rule = rule
	p.mu.Unlock()
}

// Env is the environment that makes kubectl() talk to the proxy.
func (p *faultProxy) Env() []string { return []string{"KUBECONFIG=" + p.Kubeconfig} }

// Reset forgets the counts and records (not the rule).
func (p *faultProxy) Reset() {
	p.Settle()
	p.mu.Lock()
	p.seen = map[string]int{}
	p.records = nil
	p.mu.Unlock()
}

// Settle waits until every request the proxy took is finished and recorded: a client that
// exits closes its connections, and the proxy's handler may notice only a moment later. It
// gives up after 35 s (longer than any hold the tests use), which it reports as a request
// still in flight.
func (p *faultProxy) Settle() {
	for deadline := time.Now().Add(35 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		p.mu.Lock()
		n := p.inflight
		p.mu.Unlock()
		if n == 0 {
			return
		}
	}
}

// Records returns what the proxy saw, in the order the requests arrived, after Settle.
func (p *faultProxy) Records() []faultRecord {
	p.Settle()
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]faultRecord, len(p.records))
	for i, r := range p.records {
		out[i] = *r
	}
	return out
}

// Count is the number of requests of a kind (faultRequest.Kind) the proxy saw.
func (p *faultProxy) Count(kind string) int {
	p.Settle()
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seen[kind]
}

// Summary lists the counts by kind, for logs.
func (p *faultProxy) Summary() string {
	p.Settle()
	p.mu.Lock()
	defer p.mu.Unlock()
	var kinds []string
	for k, n := range p.seen {
		kinds = append(kinds, fmt.Sprintf("%s: %d", k, n))
	}
	sort.Strings(kinds)
	return strings.Join(kinds, "; ")
}

// Log is every record, one a line, for failure messages.
func (p *faultProxy) Log() string {
	var b strings.Builder
	for _, r := range p.Records() {
		fmt.Fprintf(&b, "  %s\n", &r)
	}
	return b.String()
}

type recordKey struct{}

func (p *faultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req := classify(r)
	rec := &faultRecord{Arrived: time.Now()}
	p.mu.Lock()
	p.inflight++
	p.seen[req.Kind()]++
	req.N = p.seen[req.Kind()]
	act := p.rule(req)
	rec.faultRequest, rec.Action = req, act
	p.records = append(p.records, rec)
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.inflight--
		rec.Finished = true
		p.mu.Unlock()
	}()
	set := func(f func()) { p.mu.Lock(); f(); p.mu.Unlock() }

	switch act.kind {
	case actAnswer:
		if act.hold > 0 {
			select {
			case <-time.After(act.hold):
			case <-r.Context().Done():
				set(func() { rec.Cancelled = true })
				return
			}
		}
		for k, vs := range act.header {
			for _, v := range vs {
				w.Header().Add(k, v)
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(act.status)
		reason := act.reason
		if reason == "" {
			reason = metav1.StatusReason(strings.ReplaceAll(http.StatusText(act.status), " ", ""))
		}
		_ = json.NewEncoder(w).Encode(&metav1.Status{
			TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
			Status:   metav1.StatusFailure, Code: int32(act.status),
			Reason:  reason,
			Message: fmt.Sprintf("fault proxy: %d %s", act.status, http.StatusText(act.status)),
		})
		set(func() { rec.Code = act.status })
		return
	case actDrop:
		_, _ = io.Copy(io.Discard, r.Body)
		hangUp(w)
		return
	case actDropAnswer:
		code, err := p.forwardAndDiscard(r)
		set(func() {
			rec.Forwarded, rec.ServerCode = err == nil, code
			if err != nil {
				rec.Err = err.Error()
			}
		})
		hangUp(w)
		return
	case actTimeoutAnswer:
		code, err := p.forwardAndDiscard(r)
		set(func() {
			rec.Forwarded, rec.ServerCode, rec.Code = err == nil, code, http.StatusGatewayTimeout
			if err != nil {
				rec.Err = err.Error()
			}
		})
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusGatewayTimeout)
		_ = json.NewEncoder(w).Encode(&metav1.Status{
			TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
			Status:   metav1.StatusFailure, Code: http.StatusGatewayTimeout, Reason: metav1.StatusReasonTimeout,
			Message: "Timeout: request did not complete within the allotted timeout",
		})
		return
	case actHold:
		start := time.Now()
		timer := time.NewTimer(act.hold)
		defer timer.Stop()
		select {
		case <-r.Context().Done():
			set(func() { rec.Cancelled, rec.Held = true, time.Since(start) })
			return
		case <-p.released:
			set(func() { rec.Held, rec.Err = time.Since(start), "the test ended during the hold" })
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		case <-timer.C:
			set(func() { rec.Held = time.Since(start) })
		}
	}
	sw := &statusWriter{ResponseWriter: w}
	p.rp.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), recordKey{}, rec)))
	set(func() { rec.Forwarded, rec.Code = rec.Err == "", sw.code })
}

// forwardAndDiscard sends r to the API server and reads its whole answer, which it returns the
// status of and throws away.
func (p *faultProxy) forwardAndDiscard(r *http.Request) (int, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return 0, err
	}
	u := *p.upstream
	u.Path, u.RawPath, u.RawQuery = r.URL.Path, r.URL.RawPath, r.URL.RawQuery
	out, err := http.NewRequestWithContext(context.WithoutCancel(r.Context()), r.Method, u.String(), strings.NewReader(string(body)))
	if err != nil {
		return 0, err
	}
	out.Header = r.Header.Clone()
	resp, err := p.transport.RoundTrip(out)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// hangUp closes the client's connection without an answer.
func hangUp(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler) // not HTTP/1.1: abort the stream instead
	}
	_ = conn.Close()
}

// statusWriter records the status the client got through the reverse proxy.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// classify reads the Kubernetes verb, resource and object of a request from its method and path
// (/api/v1/..., /apis/GROUP/VERSION/...), as the API server's request info does.
func classify(r *http.Request) faultRequest {
	q := r.URL.Query()
	req := faultRequest{Method: r.Method, Path: r.URL.Path, Query: q, Verb: strings.ToLower(r.Method)}
	for _, v := range q["dryRun"] {
		req.DryRun = req.DryRun || v == metav1.DryRunAll
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	var rest []string
	switch {
	case len(parts) >= 3 && parts[0] == "api":
		rest = parts[2:]
	case len(parts) >= 4 && parts[0] == "apis":
		rest = parts[3:]
	default:
		return req // not a resource path
	}
	if len(rest) >= 3 && rest[0] == "namespaces" {
		req.Namespace, rest = rest[1], rest[2:]
	}
	req.Resource = rest[0]
	if len(rest) >= 2 {
		req.Name = rest[1]
	}
	if len(rest) >= 3 {
		req.Subresource = strings.Join(rest[2:], "/")
		if req.Resource == "nodes" && rest[2] == "proxy" {
			req.Subresource = "proxy" // nodes/NAME:PORT/proxy/PATH...
		}
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		switch {
		case q.Get("watch") == "true" || q.Get("watch") == "1":
			req.Verb = "watch"
		case req.Name == "":
			req.Verb = "list"
		default:
			req.Verb = "get"
		}
	case http.MethodPost:
		req.Verb = "create"
	case http.MethodPut:
		req.Verb = "update"
	case http.MethodPatch:
		req.Verb = "patch"
	case http.MethodDelete:
		req.Verb = "delete"
		if req.Name == "" {
			req.Verb = "deletecollection"
		}
	}
	return req
}
