package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/client-go/kubernetes/scheme"
)

// randomSlices is a list of EndpointSlices with every shape the count must handle: ready
// true, false and absent, several addresses an endpoint, addresses repeated across slices of
// a Service, other labels and annotations, ports, hostnames, node names, target refs and
// managed fields around the fields that are read.
func randomSlices(r *rand.Rand, n int) *discoveryv1.EndpointSliceList {
	list := &discoveryv1.EndpointSliceList{ListMeta: metav1.ListMeta{ResourceVersion: "42", Continue: fmt.Sprintf("token-%d", r.IntN(100))}}
	for i := range n {
		svc := fmt.Sprintf("svc-%d", r.IntN(n/2+1))
		sl := discoveryv1.EndpointSlice{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%d", svc, i), Namespace: fmt.Sprintf("ns-%d", r.IntN(3)),
				Labels:        map[string]string{"a": "b", discoveryv1.LabelServiceName: svc, "z": "y"},
				Annotations:   map[string]string{"note": "x"},
				ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "m", Operation: metav1.ManagedFieldsOperationUpdate}}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Name: new("http"), Port: new(int32(8080))}},
		}
		for range r.IntN(6) {
			ep := discoveryv1.Endpoint{Hostname: new("h"), NodeName: new(fmt.Sprintf("node-%d", r.IntN(5))),
				TargetRef: &corev1.ObjectReference{Kind: "Pod", Name: "p"}}
			for range 1 + r.IntN(3) {
				ep.Addresses = append(ep.Addresses, fmt.Sprintf("10.0.%d.%d", r.IntN(2), r.IntN(8)))
			}
			switch r.IntN(3) {
			case 0:
				ep.Conditions.Ready = new(true)
			case 1:
				ep.Conditions.Ready = new(false)
			}
			if r.IntN(2) == 0 {
				ep.Conditions.Serving, ep.Conditions.Terminating = new(true), new(r.IntN(2) == 0)
			}
			sl.Endpoints = append(sl.Endpoints, ep)
		}
		list.Items = append(list.Items, sl)
	}
	return list
}

// typedCounts is the count from whole decoded EndpointSlices: what scan did before.
func typedCounts(list *discoveryv1.EndpointSliceList) map[string]int {
	seen := map[string]map[string]bool{}
	for _, sl := range list.Items {
		key := sl.Namespace + "/" + sl.Labels[discoveryv1.LabelServiceName]
		if seen[key] == nil {
			seen[key] = map[string]bool{}
		}
		for _, ep := range sl.Endpoints {
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				continue
			}
			for _, a := range ep.Addresses {
				seen[key][a] = true
			}
		}
	}
	out := map[string]int{}
	for k, v := range seen {
		out[k] = len(v)
	}
	return out
}

// encodePage is list as the API server sends it: the protobuf serializer's envelope.
func encodePage(t testing.TB, list *discoveryv1.EndpointSliceList) []byte {
	t.Helper()
	list.APIVersion, list.Kind = "discovery.k8s.io/v1", "EndpointSliceList"
	var body bytes.Buffer
	if err := protobuf.NewSerializer(scheme.Scheme, scheme.Scheme).Encode(list, &body); err != nil {
		t.Fatal(err)
	}
	return body.Bytes()
}

func counts(c sliceCounter) map[string]int {
	out := map[string]int{}
	for k, v := range c.seen {
		out[k] = len(v)
	}
	return out
}

// TestSliceCounterMatchesDecoding: the protowire count of a page, as the API server encodes it
// (the protobuf serializer's envelope), and of the same page in JSON, equals the count from
// whole decoded objects, with the continue token.
func TestSliceCounterMatchesDecoding(t *testing.T) {
	for seed := range 200 {
		list := randomSlices(rand.New(rand.NewPCG(uint64(seed), 7)), 1+seed%40)
		body := encodePage(t, list)
		want := typedCounts(list)
		c := sliceCounter{seen: map[string]map[string]struct{}{}}
		cont, err := c.page(body)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if got := counts(c); !maps.Equal(got, want) || cont != list.Continue {
			t.Fatalf("seed %d: protobuf page gave %v, continue %q; decoding gives %v, continue %q", seed, got, cont, want, list.Continue)
		}
		js, err := json.Marshal(list)
		if err != nil {
			t.Fatal(err)
		}
		c = sliceCounter{seen: map[string]map[string]struct{}{}}
		if cont, err = c.page(js); err != nil || !maps.Equal(counts(c), want) || cont != list.Continue {
			t.Fatalf("seed %d: JSON page gave %v, continue %q, %v; want %v", seed, counts(c), cont, err, want)
		}
	}
}

// TestSliceCounterMalformed: a cut or corrupted page is an error (the counts are then
// unknown), never a panic.
func TestSliceCounterMalformed(t *testing.T) {
	b := encodePage(t, randomSlices(rand.New(rand.NewPCG(1, 2)), 20))
	errs := 0
	for cut := len(protobufMagic); cut < len(b); cut += 7 {
		c := sliceCounter{seen: map[string]map[string]struct{}{}}
		if _, err := c.page(b[:cut]); err != nil {
			errs++
		}
	}
	if errs == 0 {
		t.Error("no cut page was an error")
	}
}

// FuzzSliceCounter: no input panics the page reader.
func FuzzSliceCounter(f *testing.F) {
	f.Add(encodePage(f, randomSlices(rand.New(rand.NewPCG(3, 4)), 4)))
	f.Add(append([]byte{}, protobufMagic...))
	f.Fuzz(func(t *testing.T, b []byte) {
		c := sliceCounter{seen: map[string]map[string]struct{}{}}
		_, _ = c.page(b)
	})
}

// TestSliceCounterProgress: on a list in key order (namespace/name), each namespace is told as
// the list moves past it, with its final counts, and a namespace N is told complete (N+"0" at
// or below through) only once all its slices are read; namespaces that prefix each other
// ("a", "a-b", "a.b", "ab") order by key, not by name. On a list out of order, done is told
// reset once and nothing after (what it was told before may be wrong: the reset takes it back).
func TestSliceCounterProgress(t *testing.T) {
	for seed := range 100 {
		r := rand.New(rand.NewPCG(uint64(seed), 11))
		list := randomSlices(r, 1+r.IntN(60))
		nss := []string{"a", "a-b", "a.b", "ab"}
		for i := range list.Items {
			list.Items[i].Namespace = nss[r.IntN(len(nss))]
		}
		want := typedCounts(list)
		ordered := seed%4 != 0
		key := func(i int) string { return list.Items[i].Namespace + "/" + list.Items[i].Name }
		if ordered {
			sort.Slice(list.Items, func(i, j int) bool { return key(i) < key(j) })
		} else {
			sort.Slice(list.Items, func(i, j int) bool { return key(i) > key(j) })
		}
		var got []namespaceDone
		c := sliceCounter{seen: map[string]map[string]struct{}{}, done: func(d namespaceDone) { got = append(got, d) }}
		for start := 0; start < len(list.Items); {
			end := min(len(list.Items), start+1+r.IntN(10))
			page := &discoveryv1.EndpointSliceList{Items: list.Items[start:end]}
			body := encodePage(t, page)
			if seed%2 == 1 {
				var err error
				if body, err = json.Marshal(page); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := c.page(body); err != nil {
				t.Fatal(err)
			}
			start = end
		}
		told := map[string]int{}
		for i, d := range got {
			if d.reset {
				if ordered || i != len(got)-1 {
					t.Fatalf("seed %d: reset at message %d of %d (ordered %v)", seed, i, len(got), ordered)
				}
				continue
			}
			if !ordered {
				continue // told before the disorder was seen: the reset takes it back
			}
			maps.Copy(told, d.counts)
			for k, n := range d.counts {
				if want[k] != n {
					t.Fatalf("seed %d: %s told %d, the whole list counts %d", seed, k, n, want[k])
				}
			}
			for k, n := range want {
				if ns := strings.SplitN(k, "/", 2)[0]; ns+"0" <= d.through && told[k] != n {
					t.Fatalf("seed %d: namespace %s told complete (through %q) before %s was told (%d)", seed, ns, d.through, k, n)
				}
			}
		}
		switch resets := len(got) > 0 && got[len(got)-1].reset; {
		case ordered && resets:
			t.Fatalf("seed %d: reset on an ordered list", seed)
		case !ordered && !resets && len(list.Items) > 1 && key(0) != key(len(list.Items)-1):
			t.Fatalf("seed %d: no reset on a list out of order: %v", seed, got)
		}
		if !maps.Equal(counts(c), want) {
			t.Fatalf("seed %d: the counts changed with progress on", seed)
		}
	}
}
