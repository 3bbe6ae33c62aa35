//go:build !linux

package cluster

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
)

func netnsHTTPServer(context.Context, int, http.Handler) (*NetnsServer, error) {
	return nil, fmt.Errorf("%w: not supported on %s", ErrNetnsUnavailable, runtime.GOOS)
}

// Close does nothing on this platform.
func (s *NetnsServer) Close() error { return nil }
