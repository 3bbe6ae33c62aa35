// Command floor is the floor of the scan benchmark (test/bench/scan): what scan must read, and
// nothing else. It reads the LISTs scan makes (pkg/engine/scan.go and reads.go; benchkit.ScanLists:
// the Services; the Events about Services; the node count, one LIST with limit=1; the
// EndpointSlices with the kubernetes.io/service-name label; on CCE Turbo with Local Services,
// the Pods' metadata and the Pods on hostNetwork), with the same selectors and page size (500),
// in protobuf, with no client-side rate
// limit, each collection paged on its own goroutine (all at once: the least wall time those
// reads take in one process), and prints how many objects each held. Detection's few small
// GETs are not in it. Two floors:
//
//	floor -kubeconfig FILE LIST,...       decoded: client-go's typed LISTs through its pager
//	                                      (as scan's), every object kept
//	floor -raw -kubeconfig FILE LIST,...  raw: the same requests, each page's bytes read and
//	                                      kept, nothing decoded: only the protobuf envelope and
//	                                      the List's metadata are walked for the continue token
//	                                      (the items are counted by skipping them)
//
// It is a program of its own, built as the plugin is (benchkit.Build), so that its peak RSS
// compares with the plugin's: only client-go and the standard library are in it.
package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"os"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/pager"

	"github.com/kubectl-elbfix/kubectl-elbfix/test/bench/internal/benchkit"
)

// pageSize is scan's LIST page size (pkg/engine/scan.go).
const pageSize = 500

func main() {
	kubeconfig := flag.String("kubeconfig", "", "the cluster's kubeconfig")
	rawFlag := flag.Bool("raw", false, "keep each page's bytes, decode nothing")
	flag.Parse()
	if flag.NArg() != 1 || *kubeconfig == "" {
		fmt.Fprintln(os.Stderr, "usage: floor [-raw] -kubeconfig FILE LIST[,LIST...]")
		os.Exit(2)
	}
	counts, err := floor(context.Background(), *kubeconfig, strings.Split(flag.Arg(0), ","), *rawFlag)
	if err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
	fmt.Println(counts)
}

// floor reads the named lists at once and returns "name=count ..." (sorted by name).
func floor(ctx context.Context, kubeconfig string, names []string, undecoded bool) (string, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return "", err
	}
	cs, err := benchkit.FastClient(cfg)
	if err != nil {
		return "", err
	}
	mcfg := rest.CopyConfig(cfg)
	mcfg.QPS, mcfg.Burst = -1, 0
	mc, err := metadata.NewForConfig(mcfg)
	if err != nil {
		return "", err
	}
	slices.Sort(names)
	counts := make([]string, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		fl, ok := benchkit.ScanLists[name]
		if !ok {
			return "", fmt.Errorf("no list %q", name)
		}
		wg.Go(func() {
			var n int
			if undecoded {
				n, errs[i] = raw(ctx, cs, fl)
			} else {
				n, errs[i] = decoded(ctx, cs, mc, fl)
			}
			counts[i] = fmt.Sprintf("%s=%d", name, n)
		})
	}
	wg.Wait()
	return strings.Join(counts, " "), errors.Join(errs...)
}

// decoded lists through client-go's pager and keeps every object.
func decoded(ctx context.Context, cs kubernetes.Interface, mc metadata.Interface, fl benchkit.List) (int, error) {
	if fl.One {
		opts := fl.Opts
		opts.Limit = 1
		obj, err := fl.Typed(ctx, cs, opts)
		if err != nil {
			return 0, err
		}
		return benchkit.ListCount(obj)
	}
	var kept []runtime.Object
	p := pager.New(func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
		if fl.Meta {
			return mc.Resource(schema.GroupVersionResource{Version: "v1", Resource: strings.TrimPrefix(fl.Path, "/api/v1/")}).List(ctx, opts)
		}
		return fl.Typed(ctx, cs, opts)
	})
	p.PageSize = pageSize
	err := p.EachListItem(ctx, fl.Opts, func(obj runtime.Object) error {
		kept = append(kept, obj)
		return nil
	})
	return len(kept), err
}

// raw makes the same requests and keeps each page's bytes, undecoded.
func raw(ctx context.Context, cs kubernetes.Interface, fl benchkit.List) (int, error) {
	rc := cs.CoreV1().RESTClient()
	var kept [][]byte // as the decoded floor keeps its objects
	defer goruntime.KeepAlive(&kept)
	n, cont := 0, ""
	for {
		limit := pageSize
		if fl.One {
			limit = 1
		}
		req := rc.Get().AbsPath(fl.Path).Param("limit", strconv.Itoa(limit))
		if fl.Opts.LabelSelector != "" {
			req.Param("labelSelector", fl.Opts.LabelSelector)
		}
		if fl.Opts.FieldSelector != "" {
			req.Param("fieldSelector", fl.Opts.FieldSelector)
		}
		if cont != "" {
			req.Param("continue", cont)
		}
		if fl.Meta {
			req.SetHeader("Accept", "application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1")
		}
		body, err := req.DoRaw(ctx)
		if err != nil {
			return n, fmt.Errorf("GET %s: %w", fl.Path, err)
		}
		kept = append(kept, body)
		pg, err := readPage(body)
		if err != nil {
			return n, fmt.Errorf("GET %s: %w", fl.Path, err)
		}
		n += pg.items
		if fl.One {
			return n + int(pg.remaining), nil
		}
		if pg.cont == "" {
			return n, nil
		}
		cont = pg.cont
	}
}

// page is what paging needs from a protobuf LIST response.
type page struct {
	cont      string
	remaining int64
	items     int
}

// protobufMagic starts every protobuf body of the API server (k8s.io/apimachinery's
// runtime/serializer/protobuf), followed by a runtime.Unknown whose field 2 is the object.
var protobufMagic = []byte("k8s\x00")

// readPage walks the envelope and the List (field 1 its ListMeta: 3 continue, 4
// remainingItemCount; field 2 each item) without decoding the items.
func readPage(body []byte) (page, error) {
	var pg page
	if !bytes.HasPrefix(body, protobufMagic) {
		return pg, errors.New("not a protobuf response")
	}
	var list, meta []byte
	err := protoFields(body[len(protobufMagic):], func(num int, b []byte, _ uint64) {
		if num == 2 {
			list = b
		}
	})
	if err == nil {
		err = protoFields(list, func(num int, b []byte, _ uint64) {
			switch num {
			case 1:
				meta = b
			case 2:
				pg.items++
			}
		})
	}
	if err == nil {
		err = protoFields(meta, func(num int, b []byte, v uint64) {
			switch num {
			case 3:
				pg.cont = string(b)
			case 4:
				pg.remaining = int64(v)
			}
		})
	}
	return pg, err
}

var errTruncated = errors.New("truncated protobuf")

// protoFields calls f with each field of a protobuf message: its number, and its bytes
// (length-delimited) or value (varint); fixed-size fields are skipped.
func protoFields(b []byte, f func(num int, b []byte, v uint64)) error {
	for len(b) > 0 {
		tag, n := binary.Uvarint(b)
		if n <= 0 {
			return errTruncated
		}
		b = b[n:]
		num := int(tag >> 3)
		switch tag & 7 {
		case 0:
			v, n := binary.Uvarint(b)
			if n <= 0 {
				return errTruncated
			}
			f(num, nil, v)
			b = b[n:]
		case 1, 5:
			size := 8
			if tag&7 == 5 {
				size = 4
			}
			if len(b) < size {
				return errTruncated
			}
			b = b[size:]
		case 2:
			l, n := binary.Uvarint(b)
			if n <= 0 || uint64(len(b)-n) < l {
				return errTruncated
			}
			f(num, b[n:n+int(l)], 0)
			b = b[n+int(l):]
		default:
			return fmt.Errorf("protobuf wire type %d not expected", tag&7)
		}
	}
	return nil
}
