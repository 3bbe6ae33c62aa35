// Package kubeversion parses Kubernetes server versions as CCE reports them
// (v1.25.5-r0-25.2.5, v1.17.9-r0-CCE20.7.1.B003-17.36.3) and as upstream does (v1.37.2), and
// compares them with the version gates of docs/domain.md §3.
package kubeversion

import (
	"fmt"
	"strconv"
	"strings"
)

// Version is a parsed server version.
type Version struct {
	Major, Minor, Patch int
	// CCERevision is N of a "-rN" suffix right after the patch, or -1 when there is none.
	CCERevision int
	// Raw is the string that was parsed, as given.
	Raw string
}

// maxComponent bounds each number; real versions are far below it.
const maxComponent = 1 << 20

// Parse reads "[v]MAJOR.MINOR[.PATCH][-rN][-anything|+anything]". The patch is optional (0 when
// absent). Everything after the patch and the optional -rN revision must start with '-' or '+'
// and is kept in Raw only.
func Parse(s string) (Version, error) {
	v := Version{CCERevision: -1, Raw: s}
	rest := strings.TrimSpace(s)
	if rest == "" {
		return Version{}, fmt.Errorf("invalid Kubernetes version %q: empty", s)
	}
	rest = strings.TrimPrefix(rest, "v")
	var err error
	if v.Major, rest, err = number(rest); err != nil {
		return Version{}, fmt.Errorf("invalid Kubernetes version %q: major: %v (want e.g. v1.25.5-r0)", s, err)
	}
	if !strings.HasPrefix(rest, ".") {
		return Version{}, fmt.Errorf("invalid Kubernetes version %q: want MAJOR.MINOR (e.g. v1.25.5-r0)", s)
	}
	if v.Minor, rest, err = number(rest[1:]); err != nil {
		return Version{}, fmt.Errorf("invalid Kubernetes version %q: minor: %v (want e.g. v1.25.5-r0)", s, err)
	}
	if strings.HasPrefix(rest, ".") {
		if v.Patch, rest, err = number(rest[1:]); err != nil {
			return Version{}, fmt.Errorf("invalid Kubernetes version %q: patch: %v (want e.g. v1.25.5-r0)", s, err)
		}
	}
	if strings.HasPrefix(rest, "-r") {
		if n, after, err := number(rest[2:]); err == nil && (after == "" || after[0] == '-' || after[0] == '+') {
			v.CCERevision, rest = n, after
		}
	}
	if rest != "" && rest[0] != '-' && rest[0] != '+' {
		return Version{}, fmt.Errorf("invalid Kubernetes version %q: unexpected %q after the version numbers", s, rest)
	}
	return v, nil
}

// number reads leading decimal digits.
func number(s string) (int, string, error) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, s, fmt.Errorf("not a number")
	}
	n, err := strconv.Atoi(s[:i])
	if err != nil || n > maxComponent {
		return 0, s, fmt.Errorf("number %s out of range", s[:i])
	}
	return n, s[i:], nil
}

// AtLeast reports whether v is MAJOR.MINOR or later.
func (v Version) AtLeast(major, minor int) bool {
	if v.Major != major {
		return v.Major > major
	}
	return v.Minor >= minor
}

// String is the canonical form: vMAJOR.MINOR.PATCH, plus -rN when there is a CCE revision.
func (v Version) String() string {
	s := fmt.Sprintf("v%d.%d.%d", v.Major, v.Minor, v.Patch)
	if v.CCERevision >= 0 {
		s += fmt.Sprintf("-r%d", v.CCERevision)
	}
	return s
}

// MinorString is "v1.25": what version gates are stated in.
func (v Version) MinorString() string { return fmt.Sprintf("v%d.%d", v.Major, v.Minor) }
