// Package cloud reads the ground truth the Kubernetes API does not have, from Huawei Cloud's own
// APIs, when the user opts in (--cloud): CCE's cluster facts (category, container network mode,
// kube-proxy mode) as detection evidence, and each Service's ELB as the ELB API has it
// (listeners, pools, members with their health, health monitors, the members_per_pool quota).
//
// It talks through the vendor's official SDK (huaweicloud-sdk-go-v3: signing, credentials,
// models). Credentials come only from what the user configured explicitly: the SDK's
// environment variables or its profile file; the instance-metadata provider only when asked
// for (--cloud-credentials metadata). Every failure (no credentials, 401/403, throttling, a
// timeout, an unreachable endpoint, the request bound) is evidence, never an error, and no
// message carries the access key, secret key or security token.
//
// Bounds: at most MaxRequests HTTP requests per run (IAM included), at most Concurrency at a
// time, each bounded by RequestTimeout; the ELBs of a run are read together, ChunkSize ids per
// request, so the number of requests grows with the number of ELBs / ChunkSize, not with the
// number of Services.
package cloud

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/auth"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/auth/provider"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/config"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/region"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/sdkerr"
	cce "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/cce/v3"
	cceregion "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/cce/v3/region"
	elbv3 "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/elb/v3"
	elbregion "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/elb/v3/region"
	"k8s.io/klog/v2"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/planapi"
)

// EnvCloud turns --cloud on when set to ProviderHuaweiCloud.
const (
	EnvCloud            = "ELBFIX_CLOUD"
	ProviderHuaweiCloud = "huaweicloud"
)

// Where credentials come from (--cloud-credentials).
const (
	CredentialsAuto     = "auto"     // the SDK's environment variables, then its profile file
	CredentialsEnv      = "env"      // HUAWEICLOUD_SDK_AK, HUAWEICLOUD_SDK_SK, ...
	CredentialsProfile  = "profile"  // ~/.huaweicloud/credentials (or HUAWEICLOUD_SDK_CREDENTIALS_FILE)
	CredentialsMetadata = "metadata" // the ECS instance-metadata service: only when asked for
)

// CredentialSources lists the values of --cloud-credentials.
var CredentialSources = []string{CredentialsAuto, CredentialsEnv, CredentialsProfile, CredentialsMetadata}

// Bounds of one run.
const (
	MaxRequests    = 40
	Concurrency    = 4
	ChunkSize      = 20
	PageLimit      = 2000
	RequestTimeout = 10 * time.Second
)

// Signal and source prefix of the evidence.
const (
	SourceCCE = planapi.SignalCloud
	SourceELB = "elb-api"
)

// The SDK's environment variables (provider.EnvCredentialProvider), named in messages.
const (
	envAK        = "HUAWEICLOUD_SDK_AK"
	envSK        = "HUAWEICLOUD_SDK_SK"
	envProjectID = "HUAWEICLOUD_SDK_PROJECT_ID"
)

// Config is what the user asked for.
type Config struct {
	// Credentials is one of CredentialSources ("" is auto).
	Credentials string
	// Region is --region; empty: the nodes' region label.
	Region string
	// ClusterID is --cce-cluster-id; empty: ListClusters and match ServerURL.
	ClusterID string
	// ServerURL is the kubeconfig's API server URL.
	ServerURL string
	// Endpoints override the SDK's region endpoints (private endpoints).
	EndpointCCE, EndpointELB, EndpointIAM string
}

// Client reads the cloud. It is safe for concurrent use; nothing is contacted before the first
// read, and nothing at all without credentials.
type Client struct {
	cfg Config

	mu      sync.Mutex // region, secrets
	region  string
	secrets []string

	buildMu  sync.Mutex // the fields below
	cred     auth.ICredential
	credErr  string
	cce      *cce.CceClient
	elb      *elbv3.ElbClient
	buildErr map[string]string

	sent atomic.Int64 // requests sent (bounded by MaxRequests)
	sem  chan struct{}
	ctx  atomic.Pointer[context.Context]
}

// New returns a client; it reads nothing yet.
func New(cfg Config) *Client {
	if cfg.Credentials == "" {
		cfg.Credentials = CredentialsAuto
	}
	return &Client{cfg: cfg, sem: make(chan struct{}, Concurrency), buildErr: map[string]string{}}
}

// Requests is the number of HTTP requests sent so far.
func (c *Client) Requests() int { return int(c.sent.Load()) }

// Region is the region used ("" before the first read or when none is known).
func (c *Client) Region() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.region
}

// setRegion keeps the first region known: --region, else the nodes' label.
func (c *Client) setRegion(nodeRegion string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.region == "" {
		c.region = c.cfg.Region
		if c.region == "" {
			c.region = nodeRegion
		}
	}
}

// credentials returns the user's credentials, or why there are none. No network call: the env
// and profile providers read the environment and a file; the metadata provider, which fetches
// temporary credentials over the network, is only in the chain when asked for. Callers hold
// buildMu.
func (c *Client) credentials() (auth.ICredential, string) {
	if c.cred != nil || c.credErr != "" {
		return c.cred, c.credErr
	}
	var ps []provider.ICredentialProvider
	var names []string
	switch c.cfg.Credentials {
	case CredentialsEnv:
		ps, names = []provider.ICredentialProvider{provider.BasicCredentialEnvProvider()}, []string{envAK + "/" + envSK}
	case CredentialsProfile:
		ps, names = []provider.ICredentialProvider{provider.BasicCredentialProfileProvider()}, []string{"the profile file"}
	case CredentialsMetadata:
		ps, names = []provider.ICredentialProvider{provider.BasicCredentialMetadataProvider()}, []string{"the instance metadata"}
	default:
		ps = []provider.ICredentialProvider{provider.BasicCredentialEnvProvider(), provider.BasicCredentialProfileProvider()}
		names = []string{envAK + "/" + envSK, "the profile file (~/.huaweicloud/credentials or HUAWEICLOUD_SDK_CREDENTIALS_FILE)"}
	}
	if c.cfg.Credentials == CredentialsMetadata {
		defer c.acquire()()
	}
	cred, err := provider.NewCredentialProviderChain(ps).GetCredentials()
	if err != nil || cred == nil {
		c.credErr = "no credentials: none in " + strings.Join(names, ", nor in ")
		return nil, c.credErr
	}
	if b, ok := cred.(*auth.BasicCredentials); ok {
		c.mu.Lock()
		c.secrets = append(c.secrets, b.AK, b.SK, b.SecurityToken)
		c.mu.Unlock()
		if c.cfg.EndpointIAM != "" {
			b.IamEndpoint = c.cfg.EndpointIAM
		}
	}
	c.cred = cred
	return cred, ""
}

// boundTransport sends the SDK's requests (IAM's included): with the run's context, at most
// MaxRequests in all; over the bound a request fails without being sent. Concurrency is bounded
// by the callers (call, service), which take a slot around each SDK call. (The metadata
// provider, only with --cloud-credentials metadata, uses the SDK's own HTTP client.)
type boundTransport struct {
	c    *Client
	next http.RoundTripper
}

var errBound = errors.New("request bound reached")

func (t boundTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.c.sent.Add(1) > MaxRequests {
		t.c.sent.Add(-1)
		return nil, fmt.Errorf("%w (%d requests per run)", errBound, MaxRequests)
	}
	if p := t.c.ctx.Load(); p != nil {
		req = req.WithContext(*p)
	}
	start := time.Now()
	resp, err := t.next.RoundTrip(req)
	// As client-go logs its requests at -v=6: method, URL (ids only) and status; never a header.
	if klog.V(6).Enabled() {
		status := "error"
		if err == nil {
			status = resp.Status
		}
		klog.Infof("cloud: %s %s %s in %d milliseconds", req.Method, req.URL.Redacted(), status, time.Since(start).Milliseconds())
	}
	return resp, err
}

// acquire takes one of the Concurrency slots.
func (c *Client) acquire() func() {
	c.sem <- struct{}{}
	return func() { <-c.sem }
}

func (c *Client) httpConfig() *config.HttpConfig {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: RequestTimeout}).DialContext
	return config.DefaultHttpConfig().WithTimeout(RequestTimeout).WithRetries(0).
		WithHttpRoundTripper(boundTransport{c: c, next: tr}).WithUserAgent("kubectl-elbfix")
}

// service builds one SDK client (CCE or ELB) for the region, once. Building it asks IAM for
// the project id when the credentials name none (KeystoneListProjects).
func (c *Client) service(ctx context.Context, name string) (any, string) {
	c.buildMu.Lock()
	defer c.buildMu.Unlock()
	cred, why := c.credentials()
	if cred == nil {
		return nil, why
	}
	switch {
	case name == "cce" && c.cce != nil:
		return c.cce, ""
	case name == "elb" && c.elb != nil:
		return c.elb, ""
	case c.buildErr[name] != "":
		return nil, c.buildErr[name]
	}
	reg := c.Region()
	if reg == "" {
		return nil, "no region: pass --region (no node read has the topology.kubernetes.io/region label)"
	}
	endpoint, values := c.cfg.EndpointCCE, cceregion.SafeValueOf
	if name == "elb" {
		endpoint, values = c.cfg.EndpointELB, elbregion.SafeValueOf
	}
	r := region.NewRegion(reg, endpoint)
	if endpoint == "" {
		var err error
		if r, err = values(reg); err != nil {
			return nil, fmt.Sprintf("region %s: the SDK knows no %s endpoint for it; pass --cloud-endpoint-%s", reg, strings.ToUpper(name), name)
		}
	}
	c.ctx.Store(&ctx)
	release := c.acquire()
	var built any
	var err error
	if name == "cce" {
		var hc *core.HcHttpClient
		if hc, err = cce.CceClientBuilder().WithRegion(r).WithCredential(cred).WithHttpConfig(c.httpConfig()).SafeBuild(); err == nil {
			c.cce = cce.NewCceClient(hc)
			built = c.cce
		}
	} else {
		var hc *core.HcHttpClient
		if hc, err = elbv3.ElbClientBuilder().WithRegion(r).WithCredential(cred).WithHttpConfig(c.httpConfig()).SafeBuild(); err == nil {
			c.elb = elbv3.NewElbClient(hc)
			built = c.elb
		}
	}
	release()
	if err != nil {
		why := "the project id of region " + reg + " could not be read from IAM (" + envProjectID + " is not set): " + c.describe(err)
		c.buildErr[name] = why
		return nil, why
	}
	return built, ""
}

// call runs one SDK call within the bounds.
func (c *Client) call(ctx context.Context, f func() error) string {
	if err := ctx.Err(); err != nil {
		return "not read: " + err.Error()
	}
	c.ctx.Store(&ctx)
	release := c.acquire()
	defer release()
	if err := f(); err != nil {
		return c.describe(err)
	}
	return ""
}

// describe says in words why a read failed: rejected credentials, throttling, a timeout, an
// unreachable endpoint, the request bound. Every credential string is removed from it (the
// SDK's errors quote responses, not secrets, but no message is trusted not to).
func (c *Client) describe(err error) string {
	var se *sdkerr.ServiceResponseError
	var ue *url.Error
	var msg string
	switch {
	case errors.As(err, &se):
		detail := strings.TrimSpace(se.ErrorCode + " " + se.ErrorMessage)
		switch se.StatusCode {
		case http.StatusUnauthorized:
			msg = "credentials rejected (401)"
		case http.StatusForbidden:
			msg = "forbidden (403): the credentials may not read this"
		case http.StatusTooManyRequests:
			msg = "throttled (429)"
		case http.StatusNotFound:
			msg = "not found (404)"
		default:
			msg = fmt.Sprintf("answered %d", se.StatusCode)
		}
		if detail != "" {
			msg += ": " + truncate(detail, 160)
		}
	case errors.Is(err, errBound):
		msg = fmt.Sprintf("not read: the run's bound of %d cloud requests was reached", MaxRequests)
	case errors.As(err, &ue) && ue.Timeout(), errors.Is(err, context.DeadlineExceeded):
		msg = fmt.Sprintf("timed out (%s)", RequestTimeout)
	case errors.As(err, &ue):
		msg = "unreachable: " + truncate(ue.Err.Error(), 160)
	default:
		msg = truncate(err.Error(), 200)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, v := range c.secrets {
		if len(v) >= 4 {
			msg = strings.ReplaceAll(msg, v, "[redacted]")
		}
	}
	return msg
}

func truncate(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "\u2026"
	}
	return s
}

// Enabled reports whether the cloud is asked: the flag, or ELBFIX_CLOUD=huaweicloud. err is set
// when ELBFIX_CLOUD names something else (only huaweicloud is known).
func Enabled(flag bool) (bool, error) {
	v := os.Getenv(EnvCloud)
	switch {
	case v == "":
		return flag, nil
	case strings.EqualFold(v, ProviderHuaweiCloud):
		return true, nil
	}
	return flag, fmt.Errorf("invalid value %q for environment variable %s: must be %s (or unset)", v, EnvCloud, ProviderHuaweiCloud)
}
