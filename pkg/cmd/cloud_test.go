package cmd

import (
	"strings"
	"testing"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/cloud"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/engine"
)

func TestCloudFlagsValidate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		o       cloudOptions
		env     string
		wantErr string
		enabled bool
	}{
		{name: "off"},
		{name: "on", o: cloudOptions{Cloud: engine.Cloud{Enabled: true, Region: "ap-southeast-1", EndpointELB: "https://elb.example.internal"}}, enabled: true},
		{name: "env turns it on", env: "huaweicloud", enabled: true},
		{name: "env names another cloud", env: "aws", wantErr: `invalid value "aws" for environment variable ELBFIX_CLOUD`},
		{name: "region without --cloud", o: cloudOptions{Cloud: engine.Cloud{Region: "ap-southeast-1"}}, wantErr: "--region is for the cloud reads: add --cloud"},
		{name: "credentials without --cloud", o: cloudOptions{Cloud: engine.Cloud{Credentials: cloud.CredentialsMetadata}}, wantErr: "--cloud-credentials is for the cloud reads"},
		{name: "bad credentials", o: cloudOptions{Cloud: engine.Cloud{Enabled: true, Credentials: "vault"}}, wantErr: `invalid value "vault" for --cloud-credentials`},
		{name: "plain http endpoint", o: cloudOptions{Cloud: engine.Cloud{Enabled: true, EndpointCCE: "http://cce.example"}}, wantErr: "want an https:// URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(cloud.EnvCloud, tc.env)
			o := tc.o
			o.complete()
			err := o.validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("want an error containing %q, got %v", tc.wantErr, err)
			case tc.wantErr == "" && o.Enabled != tc.enabled:
				t.Errorf("enabled %v, want %v", o.Enabled, tc.enabled)
			}
		})
	}
}
