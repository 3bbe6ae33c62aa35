package kubeversion

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in                  string
		major, minor, patch int
		rev                 int
		str                 string
	}{
		{"v1.25.5-r0-25.2.5", 1, 25, 5, 0, "v1.25.5-r0"},
		{"v1.17.9-r0-CCE20.7.1.B003-17.36.3", 1, 17, 9, 0, "v1.17.9-r0"},
		{"v1.28.3-r10-28.0.9", 1, 28, 3, 10, "v1.28.3-r10"},
		{"v1.37.2", 1, 37, 2, -1, "v1.37.2"},
		{"1.19", 1, 19, 0, -1, "v1.19.0"},
		{"v1.19", 1, 19, 0, -1, "v1.19.0"},
		{"v1.15.11-r1", 1, 15, 11, 1, "v1.15.11-r1"},
		{"v1.29.0-rc.1", 1, 29, 0, -1, "v1.29.0"},
		{"v1.30.2+k3s1", 1, 30, 2, -1, "v1.30.2"},
		{"v1.27.4-eks-2d98532", 1, 27, 4, -1, "v1.27.4"},
		{" v1.23.8-r0 ", 1, 23, 8, 0, "v1.23.8-r0"},
		{"v1.19-r2", 1, 19, 0, 2, "v1.19.0-r2"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			v, err := Parse(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if v.Major != tt.major || v.Minor != tt.minor || v.Patch != tt.patch || v.CCERevision != tt.rev {
				t.Errorf("got %+v", v)
			}
			if v.Raw != tt.in {
				t.Errorf("Raw = %q", v.Raw)
			}
			if v.String() != tt.str {
				t.Errorf("String() = %q, want %q", v.String(), tt.str)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	for _, in := range []string{"", "  ", "v", "latest", "v1", "1.", "v1.x", "v1.19.x", "1.19abc", "v1.2.3.4", "va.b.c", "v1.99999999999999999999", "v-1.2"} {
		t.Run(in, func(t *testing.T) {
			_, err := Parse(in)
			if err == nil {
				t.Fatalf("accepted %q", in)
			}
			if !strings.Contains(err.Error(), "invalid Kubernetes version") {
				t.Errorf("unclear error: %v", err)
			}
		})
	}
}

func TestAtLeast(t *testing.T) {
	tests := []struct {
		in           string
		major, minor int
		want         bool
	}{
		{"v1.15.11", 1, 16, false},
		{"v1.16.0", 1, 16, true},
		{"v1.18.20-r1", 1, 19, false},
		{"v1.19.16-r5", 1, 19, true},
		{"v1.25.5-r0", 1, 19, true},
		{"v2.0.0", 1, 19, true},
		{"v0.99.0", 1, 19, false},
	}
	for _, tt := range tests {
		v, err := Parse(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := v.AtLeast(tt.major, tt.minor); got != tt.want {
			t.Errorf("%s AtLeast(%d,%d) = %v", tt.in, tt.major, tt.minor, got)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"v1.25.5-r0-25.2.5", "v1.17.9-r0-CCE20.7.1.B003-17.36.3", "v1.37.2", "1.19", "v1.19", "garbage", "v1.2.3-r", "v1.2.3-rx", "+", "v1.2+"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := Parse(s)
		if err != nil {
			return
		}
		if v.Raw != s {
			t.Fatalf("Raw %q != input %q", v.Raw, s)
		}
		if v.Major < 0 || v.Minor < 0 || v.Patch < 0 || v.CCERevision < -1 {
			t.Fatalf("negative component: %+v", v)
		}
		// The canonical form parses back to the same numbers.
		w, err := Parse(v.String())
		if err != nil {
			t.Fatalf("String() %q does not parse: %v", v.String(), err)
		}
		if w.Major != v.Major || w.Minor != v.Minor || w.Patch != v.Patch || w.CCERevision != v.CCERevision {
			t.Fatalf("round trip %q → %q: %+v != %+v", s, v.String(), w, v)
		}
		if w.String() != v.String() {
			t.Fatalf("String not stable: %q vs %q", w.String(), v.String())
		}
		if !v.AtLeast(v.Major, v.Minor) {
			t.Fatalf("%v not AtLeast itself", v)
		}
	})
}
