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
func endpointCounts(ctx context.Context, client kubernetes.Interface, namespace string) map[string]int {
	c := sliceCounter{seen: map[string]map[string]struct{}{}}
	opts := metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName, Limit: pageSize}
	for {
		req := client.DiscoveryV1().RESTClient().Get().Resource("endpointslices").
			VersionedParams(&opts, scheme.ParameterCodec).SetHeader("Accept", "application/vnd.kubernetes.protobuf, application/json")
		if namespace != "" {
			req = req.Namespace(namespace)
		}
		body, err := req.Do(ctx).Raw()
		if apierrors.IsResourceExpired(err) && opts.Continue != "" {
			// The continue token expired between pages: read the whole list at once, as
			// client-go's pager does.
			c.seen = map[string]map[string]struct{}{}
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
		namespace, service string
		addrs              [][]byte
	)
	err := pbFields(b, func(num protowire.Number, v []byte) error {
		switch num {
		case 1: // metadata: ObjectMeta
			return pbFields(v, func(num protowire.Number, v []byte) error {
				switch num {
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
	c.add(namespace, service, addrs)
	return nil
}

func (c *sliceCounter) add(namespace, service string, addrs [][]byte) {
	key := namespace + "/" + service
	set := c.seen[key]
	if set == nil {
		set = make(map[string]struct{}, len(addrs))
		c.seen[key] = set
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
		c.add(sl.Namespace, sl.Labels[discoveryv1.LabelServiceName], addrs)
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
