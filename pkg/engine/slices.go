package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
)

// endpointCounts counts every Service's ready endpoint addresses (each once) from one paged
// list of EndpointSlices, by namespace/name; nil when they may not be read.
//
// The pages are read as protobuf and only the four fields the count needs are read from them
// (the slice's namespace and service-name label, each endpoint's addresses and ready
// condition), with protowire, rather than decoding whole EndpointSlices: on a cluster with
// 10,000 Services the EndpointSlices are the largest list scan reads, and decoding them whole
// was the largest part of scan's CPU time above the floor's (see the README's benchmark). A
// page that is not protobuf (a server or proxy that answers JSON) is decoded whole.
//
// done, when not nil, is told of each namespace whose slices have all been read before the list
// ends (sliceCounter.done), so that the Services of the namespaces read first can be planned
// while the rest of the list comes.
func endpointCounts(ctx context.Context, client kubernetes.Interface, namespace string, done func(namespaceDone)) map[string]int {
	c := sliceCounter{seen: map[string]map[string]struct{}{}, done: done}
	opts := metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName, Limit: pageSize}
	for {
		req := client.DiscoveryV1().RESTClient().Get().Resource("endpointslices").
			VersionedParams(&opts, scheme.ParameterCodec).SetHeader("Accept", "application/vnd.kubernetes.protobuf, application/json")
		if namespace != "" {
			req = req.Namespace(namespace)
		}
		res := req.Do(ctx)
		body, err := res.Raw()
		if err != nil {
			// Raw's error is built from the status code alone; Error decodes the Status the
			// server sent, whose reason tells an expired continue token (410 Expired).
			err = res.Error()
		}
		if apierrors.IsResourceExpired(err) && opts.Continue != "" {
			// The continue token expired between pages: read the whole list at once, as
			// client-go's pager does.
			c.seen = map[string]map[string]struct{}{}
			c.stopProgress()
			opts.Continue, opts.Limit = "", 0
			continue
		}
		if err != nil {
			return nil
		}
		cont, err := c.page(body)
		if err != nil {
			return nil
		}
		if cont == "" {
			break
		}
		opts.Continue = cont
	}
	out := make(map[string]int, len(c.seen))
	for key, addrs := range c.seen {
		out[key] = len(addrs)
	}
	return out
}

// sliceCounter collects the ready endpoint addresses of EndpointSlices, by
// namespace/service-name.
type sliceCounter struct {
	seen map[string]map[string]struct{}

	// done, when set, is called as the list moves from one namespace to the next with the
	// counts of the namespace just left, which are final: a paged LIST comes in key order
	// (namespace/name; continue tokens are keys), so the slices of a namespace come together.
	// Should a slice come out of that order, or the list be read again from the start, done is
	// called once with reset and never again: what it said may not hold.
	done func(namespaceDone)
	last string   // the key (namespace/name) of the last slice read
	ns   string   // its namespace
	keys []string // the namespace/service keys of ns so far
}

// namespaceDone is a namespace whose EndpointSlices have all been read.
type namespaceDone struct {
	// counts are the ready endpoint addresses of its Services (namespace/name), and through
	// the key of the first slice after it: every namespace N with N+"0" <= through (all keys
	// of N are below N+"0", '0' following '/') has been read whole, its Services without a
	// slice counting 0.
	counts  map[string]int
	through string
	// reset: forget every count said before; no more will come (the list's end has them).
	reset bool
}

// stopProgress tells done that what it was told may not hold, and tells it nothing more.
func (c *sliceCounter) stopProgress() {
	if c.done != nil {
		c.done(namespaceDone{reset: true})
		c.done = nil
	}
}

// progress follows the list's order before the slice namespace/name is added.
func (c *sliceCounter) progress(namespace, name string) {
	if c.done == nil {
		return
	}
	key := namespace + "/" + name
	if c.last != "" && key <= c.last {
		c.stopProgress()
		return
	}
	if c.last == "" || namespace != c.ns { // the namespaces before this one are read
		counts := make(map[string]int, len(c.keys))
		for _, k := range c.keys {
			counts[k] = len(c.seen[k])
		}
		c.done(namespaceDone{counts: counts, through: key})
		c.keys = c.keys[:0]
	}
	c.last, c.ns = key, namespace
}

// protobufMagic starts a Kubernetes protobuf message (k8s.io/apimachinery's protobuf
// serializer), which is then a runtime.Unknown whose raw field holds the object.
var protobufMagic = []byte{0x6b, 0x38, 0x73, 0x00}

// page adds the slices of one EndpointSliceList page and returns its continue token.
func (c *sliceCounter) page(body []byte) (string, error) {
	if !bytes.HasPrefix(body, protobufMagic) {
		return c.decoded(body)
	}
	var raw []byte
	err := pbFields(body[len(protobufMagic):], func(num protowire.Number, v []byte) error {
		if num == 2 { // runtime.Unknown.raw
			raw = v
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	var cont string
	err = pbFields(raw, func(num protowire.Number, v []byte) error {
		switch num {
		case 1: // EndpointSliceList.metadata: ListMeta
			return pbFields(v, func(num protowire.Number, v []byte) error {
				if num == 3 { // ListMeta.continue
					cont = string(v)
				}
				return nil
			})
		case 2: // EndpointSliceList.items
			return c.slice(v)
		}
		return nil
	})
	return cont, err
}

// slice adds one EndpointSlice (protobuf).
func (c *sliceCounter) slice(b []byte) error {
	var (
		namespace, name, service string
		addrs                    [][]byte
	)
	err := pbFields(b, func(num protowire.Number, v []byte) error {
		switch num {
		case 1: // metadata: ObjectMeta
			return pbFields(v, func(num protowire.Number, v []byte) error {
				switch num {
				case 1: // name
					name = string(v)
				case 3: // namespace
					namespace = string(v)
				case 11: // labels: map entries, key 1 and value 2
					var key, value []byte
					if err := pbFields(v, func(num protowire.Number, v []byte) error {
						switch num {
						case 1:
							key = v
						case 2:
							value = v
						}
						return nil
					}); err != nil {
						return err
					}
					if string(key) == discoveryv1.LabelServiceName {
						service = string(value)
					}
				}
				return nil
			})
		case 2: // endpoints: Endpoint
			var mine [][]byte
			ready := true // no ready condition: ready, as the API documents
			err := pbFields(v, func(num protowire.Number, v []byte) error {
				switch num {
				case 1: // addresses
					mine = append(mine, v)
				case 2: // conditions: EndpointConditions
					return pbVarints(v, func(num protowire.Number, x uint64) {
						if num == 1 { // ready
							ready = x != 0
						}
					})
				}
				return nil
			})
			if err == nil && ready {
				addrs = append(addrs, mine...)
			}
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	c.add(namespace, name, service, addrs)
	return nil
}

// add counts the slice namespace/name of Service namespace/service.
func (c *sliceCounter) add(namespace, name, service string, addrs [][]byte) {
	c.progress(namespace, name)
	key := namespace + "/" + service
	set := c.seen[key]
	if set == nil {
		set = make(map[string]struct{}, len(addrs))
		c.seen[key] = set
		if c.done != nil {
			c.keys = append(c.keys, key)
		}
	}
	for _, a := range addrs {
		set[string(a)] = struct{}{}
	}
}

// decoded adds the slices of a page that is not protobuf, decoded whole.
func (c *sliceCounter) decoded(body []byte) (string, error) {
	obj, err := runtime.Decode(scheme.Codecs.UniversalDeserializer(), body)
	if err != nil {
		return "", err
	}
	list, ok := obj.(*discoveryv1.EndpointSliceList)
	if !ok {
		return "", fmt.Errorf("listing EndpointSlices: got %T", obj)
	}
	c.decodedSlices(list.Items)
	return list.Continue, nil
}

// decodedSlices adds decoded EndpointSlices: each ready address (no ready condition is ready,
// as the API documents) once.
func (c *sliceCounter) decodedSlices(slices []discoveryv1.EndpointSlice) {
	for _, sl := range slices {
		var addrs [][]byte
		for _, ep := range sl.Endpoints {
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				continue
			}
			for _, a := range ep.Addresses {
				addrs = append(addrs, []byte(a))
			}
		}
		c.add(sl.Namespace, sl.Name, sl.Labels[discoveryv1.LabelServiceName], addrs)
	}
}

var errProtobuf = errors.New("malformed protobuf in the EndpointSlice list")

// pbFields calls f with each length-delimited field of the protobuf message b (nested messages,
// strings, bytes) and skips the others.
func pbFields(b []byte, f func(protowire.Number, []byte) error) error {
	return pbWalk(b, f, nil)
}

// pbVarints calls f with each varint field of the protobuf message b and skips the others.
func pbVarints(b []byte, f func(protowire.Number, uint64)) error {
	return pbWalk(b, nil, f)
}

// pbWalk reads the fields of the protobuf message b: the length-delimited ones go to bytesFn,
// the varints to varintFn (either may be nil), the others are skipped.
func pbWalk(b []byte, bytesFn func(protowire.Number, []byte) error, varintFn func(protowire.Number, uint64)) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return errProtobuf
		}
		b = b[n:]
		switch {
		case typ == protowire.BytesType && bytesFn != nil:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return errProtobuf
			}
			if err := bytesFn(num, v); err != nil {
				return err
			}
			b = b[n:]
		case typ == protowire.VarintType && varintFn != nil:
			x, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return errProtobuf
			}
			varintFn(num, x)
			b = b[n:]
		default:
			if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
				return errProtobuf
			}
			b = b[n:]
		}
	}
	return nil
}
