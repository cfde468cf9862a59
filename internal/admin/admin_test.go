package admin_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/beacon/eventdispatch/internal/admin"
)

func TestHandler_ServesMetricsProbesAndProfiles(t *testing.T) {
	var notReady atomic.Bool
	srv := httptest.NewServer(admin.NewHandler(admin.NewRegistry(), func(context.Context) error {
		if notReady.Load() {
			return errors.New("no database")
		}
		return nil
	}))
	defer srv.Close()
	get := func(path string) (int, string) {
		t.Helper()
		res, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		return res.StatusCode, string(body)
	}
	for _, c := range []struct{ path, want string }{
		{"/metrics", "go_goroutines"},
		{"/healthz", "ok"},
		{"/readyz", "ready"},
		{"/debug/pprof/", "allocs"},
		{"/debug/pprof/heap?debug=1", "heap profile"},
		{"/debug/pprof/goroutine?debug=1", "goroutine profile"},
		{"/debug/pprof/cmdline", ""},
	} {
		code, body := get(c.path)
		if code != http.StatusOK || !strings.Contains(body, c.want) {
			t.Errorf("GET %s: %d %.80q, want 200 with %q", c.path, code, body, c.want)
		}
	}
	// A CPU profile: pprof's protobuf, gzipped.
	if code, body := get("/debug/pprof/profile?seconds=1"); code != http.StatusOK || !strings.HasPrefix(body, "\x1f\x8b") {
		t.Errorf("GET /debug/pprof/profile?seconds=1: %d, %d bytes, want 200 and a gzipped profile", code, len(body))
	}
	notReady.Store(true)
	if code, body := get("/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "no database") {
		t.Errorf("GET /readyz while not ready: %d %q, want 503 with the reason", code, body)
	}
}
