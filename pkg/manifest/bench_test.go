package manifest

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// jsonServices is a JSON v1 List of n LoadBalancer Services, indented as kubectl prints it.
func jsonServices(n int) []byte {
	var b bytes.Buffer
	b.WriteString("{\n    \"apiVersion\": \"v1\",\n    \"kind\": \"List\",\n    \"items\": [\n")
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(",\n")
		}
		fmt.Fprintf(&b, `        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": "svc-%d",
                "namespace": "ns-%d",
                "annotations": {
                    "kubernetes.io/elb.class": "union",
                    "kubernetes.io/elb.id": "8f3a9c1e-%04d-4c1d-9a2b-6e5f4d3c2b1a",
                    "kubernetes.io/elb.health-check-option": "{\"protocol\":\"TCP\",\"delay\":\"5\",\"timeout\":\"10\",\"max_retries\":\"3\"}"
                },
                "labels": {"app": "web-%d"}
            },
            "spec": {
                "type": "LoadBalancer",
                "externalTrafficPolicy": "Local",
                "selector": {"app": "web-%d"},
                "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080, "nodePort": %d}]
            },
            "status": {"loadBalancer": {"ingress": [{"ip": "192.168.%d.%d"}]}}
        }`, i, i%20, i%10000, i, i, 30000+i%2000, i/250%250, i%250)
	}
	b.WriteString("\n    ]\n}\n")
	return b.Bytes()
}

// BenchmarkReadJSONList reads one JSON List of 5,000 Services (the parser keeps every node's
// byte range, for in-place edits).
func BenchmarkReadJSONList(b *testing.B) {
	data := jsonServices(5000)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		if _, err := Read("-", bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseJSONStream splits a stream of 5,000 JSON Services into its values.
func BenchmarkParseJSONStream(b *testing.B) {
	list := string(jsonServices(5000))
	items := list[strings.Index(list, "[")+1 : strings.LastIndex(list, "]")]
	data := []byte(strings.ReplaceAll(items, "\n        },\n", "\n        }\n"))
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		spans, err := parseJSONStream(data)
		if err != nil || len(spans) != 5000 {
			b.Fatal(len(spans), err)
		}
	}
}

// BenchmarkPatchList fixes every Service of one JSON List of 200 (as `kubectl get svc -o json`
// writes it): together (ApplyPatches: one edit and one parse of the List) and one after another
// (ApplyPatch: a parse and a decode of the whole List a Service).
func BenchmarkPatchList(b *testing.B) {
	data := jsonServices(200)
	for _, mode := range []string{"together", "one-after-another"} {
		b.Run(mode, func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				set, err := Read("-", bytes.NewReader(data))
				if err != nil {
					b.Fatal(err)
				}
				var patches []Patch
				for _, r := range set.Services() {
					patches = append(patches, Patch{Ref: r, Patch: []byte(cluster)})
				}
				b.StartTimer()
				if mode == "together" {
					if _, err := set.ApplyPatches(patches); err != nil {
						b.Fatal(err)
					}
					continue
				}
				for _, p := range patches {
					if err := p.Ref.ApplyPatch(p.Patch); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
