package plan

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// EventWindow is how far back from Input.Now an Event counts as recent.
const EventWindow = 24 * time.Hour

// DefaultMembersPerPool is the ELB's default members_per_pool quota (docs/domain.md §7).
const DefaultMembersPerPool = 500

// MembersNearQuota is the member count (80% of the default quota) from which a fix that adds
// members names the count among its costs.
const MembersNearQuota = DefaultMembersPerPool * 8 / 10

// quotaEvents is what the Service's recent member-quota Events say.
type quotaEvents struct {
	n      int           // matching recent Events
	total  int32         // occurrences over all of them
	latest *corev1.Event // the one seen last
	last   time.Time     // when it was seen last (zero: the Event carries no time)
}

// isQuotaMessage: an Event message about the pool's member quota (ELB error ELB.8905,
// "Quota exceeded for resources: members_per_pool"), whatever its source.
func isQuotaMessage(msg string) bool {
	m := strings.ToLower(msg)
	return strings.Contains(m, "members_per_pool") || strings.Contains(m, "elb.8905")
}

// eventLast is the latest time an Event carries: its series' last observation, lastTimestamp,
// eventTime, firstTimestamp or creation time (zero when it has none).
func eventLast(e *corev1.Event) time.Time {
	var t time.Time
	for _, c := range []time.Time{e.LastTimestamp.Time, e.EventTime.Time, e.FirstTimestamp.Time, e.CreationTimestamp.Time} {
		if c.After(t) {
			t = c
		}
	}
	if e.Series != nil && e.Series.LastObservedTime.After(t) {
		t = e.Series.LastObservedTime.Time
	}
	return t
}

// eventCount is how often the Event happened (at least once).
func eventCount(e *corev1.Event) int32 {
	n := e.Count
	if e.Series != nil && e.Series.Count > n {
		n = e.Series.Count
	}
	if n < 1 {
		n = 1
	}
	return n
}

// aboutService: the Event's involvedObject does not name another object than svc (fields left
// empty match; the caller filters, this only guards against a wrong list).
func aboutService(e *corev1.Event, svc *corev1.Service) bool {
	o := e.InvolvedObject
	return (o.Kind == "" || o.Kind == "Service") &&
		(o.Name == "" || o.Name == svc.Name) &&
		(o.Namespace == "" || o.Namespace == namespaceOf(svc)) &&
		(o.UID == "" || svc.UID == "" || o.UID == svc.UID)
}

// readQuotaEvents keeps the recent member-quota Events about svc: seen within EventWindow
// before now (a time after now counts too: clocks differ), or carrying no time at all.
func readQuotaEvents(events []corev1.Event, svc *corev1.Service, now time.Time) quotaEvents {
	var q quotaEvents
	for i := range events {
		e := &events[i]
		if !aboutService(e, svc) || !isQuotaMessage(e.Message) {
			continue
		}
		last := eventLast(e)
		if !last.IsZero() && last.Before(now.Add(-EventWindow)) {
			continue
		}
		q.n++
		q.total += eventCount(e)
		if q.latest == nil || last.After(q.last) {
			q.latest, q.last = e, last
		}
	}
	return q
}

var (
	reErrorMsg  = regexp.MustCompile(`"error_msg"\s*:\s*"([^"]*)"`)
	reErrorCode = regexp.MustCompile(`"error_code"\s*:\s*"([^"]*)"`)
)

// quoteEventError is the ELB's own error in an Event message (error_msg and error_code of the
// JSON body CCE quotes), or the message itself, shortened.
func quoteEventError(msg string) string {
	if m := reErrorMsg.FindStringSubmatch(msg); m != nil {
		s := quote(truncate(m[1], 120))
		if c := reErrorCode.FindStringSubmatch(msg); c != nil {
			s += " (" + truncate(c[1], 40) + ")"
		}
		return s
	}
	return quote(truncate(strings.Join(strings.Fields(msg), " "), 200))
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "\u2026"
}

// describe quotes the latest Event: reason, source, count and last time.
func (q quotaEvents) describe() string {
	e := q.latest
	reason := e.Reason
	if reason == "" {
		reason = "(no reason)"
	}
	source := e.Source.Component
	if source == "" {
		source = e.ReportingController
	}
	if source == "" {
		source = "an unnamed source"
	}
	when := "time unknown"
	if !q.last.IsZero() {
		when = "last " + q.last.UTC().Format(time.RFC3339)
	}
	s := fmt.Sprintf("Event %s from %s (count %d, %s): %s", truncate(reason, 80), truncate(source, 80), eventCount(e), when, quoteEventError(e.Message))
	if q.n > 1 {
		s = fmt.Sprintf("%d recent member-quota Events (%d occurrences); the latest: %s", q.n, q.total, s)
	} else {
		s = "recent " + s
	}
	return s
}

const quotaRemedy = "Remedy: give the health check a correct protocol and port (" +
	"kubernetes.io/elb.health-check-option(s)), then check the members' health check result on the ELB; and raise the members_per_pool quota"

// memberModel says what the ELB's members are for this Service: nodes (a shared ELB, and a
// dedicated ELB on CCE Standard) or pods (a dedicated ELB on CCE Turbo), per the vendor page
// "Configuring IP Addresses as Backend Servers"; "" when the Service has no ELB pool.
func (f *facts) memberModel() string {
	switch {
	case !f.lb || f.info.DNAT || f.info.Dialect == "":
		return ""
	case f.turbo && f.info.Dedicated:
		return "pods"
	}
	return "nodes"
}

// members is the number of members of each listener's pool in state st (n < 0 when unknown;
// upTo when it is an upper bound) and why they are the members.
func (f *facts) members(st state) (n int, upTo bool, why string) {
	switch f.memberModel() {
	case "pods":
		if f.endpoints < 0 {
			return -1, false, ""
		}
		return f.endpoints, false, "CCE Turbo with a dedicated ELB: the Service's pods are the members, whatever the policy"
	case "nodes":
		where := "on CCE Standard"
		switch {
		case f.turbo:
			where = "on a shared ELB"
		case f.network == Unknown && f.info.Dedicated:
			where = "on CCE Standard; on CCE Turbo a dedicated ELB's members are the pods instead"
		}
		if !st.local {
			if f.nodes <= 0 {
				return -1, false, ""
			}
			return f.nodes, false, "externalTrafficPolicy Cluster: every node is a member " + where
		}
		if f.endpoints < 0 {
			return -1, false, ""
		}
		n = f.endpoints
		if f.nodes > 0 && f.nodes < n {
			n = f.nodes
		}
		return n, true, fmt.Sprintf("externalTrafficPolicy Local: only the nodes that run one of the %d endpoints, %s (inferred)", f.endpoints, where)
	}
	return -1, false, ""
}

// memberQuota is the elb-member-quota-exceeded finding in state st: recent quota Events, and a
// member count at or over the default quota.
func (f *facts) memberQuota(st state) *Finding {
	var parts []string
	if f.quota.n > 0 {
		parts = append(parts, f.quota.describe()+
			". A listener's pool is at its member quota (members_per_pool; default 500 members per pool). CCE updates a Service's ELB members by adding the new ones before removing the old ones; with a full pool it changes members in place instead, and if the health check is wrong the pool ends up half old, half new")
	}
	n, upTo, why := f.members(st)
	if n >= DefaultMembersPerPool {
		if cur, _, _ := f.members(f.cur); n != cur {
			parts = append(parts, fmt.Sprintf("the fix makes %s%d %s members of each listener's pool (%s); the default quota is %d members per pool: CCE's update then fails with ELB.8905 and may leave the pool half updated",
				upToWord(upTo), n, f.memberModel(), why, DefaultMembersPerPool))
		} else {
			parts = append(parts, fmt.Sprintf("each listener's pool has %s%d %s as members (%s): at or over the default quota of %d members per pool, so CCE cannot add new members before removing old ones (ELB.8905)",
				upToWord(upTo), n, f.memberModel(), why, DefaultMembersPerPool))
		}
	}
	if len(parts) == 0 {
		return nil
	}
	remedy := quotaRemedy
	if f.quota.n == 0 {
		remedy = "Remedy: raise the members_per_pool quota first, and make sure the health check has a correct protocol and port, so that an update that changes members in place does not leave unhealthy ones"
	}
	return &Finding{ID: FindingELBMemberQuotaExceeded, Severity: SeverityWarning,
		Message: strings.Join(parts, ". Also, ") + ". " + remedy + "."}
}

// memberCost is the cost line of a fix that takes the member count near or over the quota ("" when
// it does not, or when the count is not known).
func (f *facts) memberCost(after state) string {
	n, upTo, why := f.members(after)
	if n < MembersNearQuota {
		return ""
	}
	if cur, _, _ := f.members(f.cur); cur >= 0 && n <= cur {
		return ""
	}
	s := fmt.Sprintf("the fix makes %s%d %s members of each listener's pool (%s); the default quota is %d members per pool (%d%% of it)",
		upToWord(upTo), n, f.memberModel(), why, DefaultMembersPerPool, n*100/DefaultMembersPerPool)
	if n >= DefaultMembersPerPool {
		s += ": over it, CCE's update fails with ELB.8905 (members_per_pool) and may leave the pool half updated; raise the quota first"
	}
	return s
}

func upToWord(upTo bool) string {
	if upTo {
		return "up to "
	}
	return ""
}
