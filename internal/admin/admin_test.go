package admin_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/beacon/eventdispatch/internal/admin"
	elizav1 "github.com/beacon/eventdispatch/internal/gen/connectrpc/eliza/v1"
	"github.com/beacon/eventdispatch/internal/gen/connectrpc/eliza/v1/elizav1connect"
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

// A client pointed at the admin port by mistake is told where the API is, in its own protocol,
// at once: before, a gRPC client's HTTP/2 preface was refused and grpcurl waited out its
// connect timeout ("context deadline exceeded").
func TestServer_TellsAClientOfTheAPIThatThisIsTheAdminPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := admin.NewServer(ln.Addr().String(), admin.NewHandler(admin.NewRegistry(), func(context.Context) error { return nil }))
	go srv.Serve(ln) //nolint:errcheck // ends with Close
	defer srv.Close()
	var h2c http.Protocols
	h2c.SetUnencryptedHTTP2(true)
	httpClient := &http.Client{Transport: &http.Transport{Protocols: &h2c}}
	base := "http://" + ln.Addr().String()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	told := func(what string, err error) {
		t.Helper()
		if connect.CodeOf(err) != connect.CodeFailedPrecondition || !strings.Contains(err.Error(), "this is the admin port") {
			t.Errorf("%s: %v, want failed_precondition saying this is the admin port", what, err)
		}
	}
	for name, opts := range map[string][]connect.ClientOption{
		"gRPC": {connect.WithGRPC()}, "gRPC-Web": {connect.WithGRPCWeb()}, "Connect": nil,
	} {
		eliza := elizav1connect.NewElizaServiceClient(httpClient, base, opts...)
		_, err := eliza.Say(ctx, connect.NewRequest(&elizav1.SayRequest{Sentence: "hello"}))
		told(name+" Say", err)
		stream, err := eliza.Introduce(ctx, connect.NewRequest(&elizav1.IntroduceRequest{Name: "Ada"}))
		if err == nil {
			for stream.Receive() {
				t.Errorf("%s Introduce: an answer %v", name, stream.Msg())
			}
			err = stream.Err()
		}
		told(name+" Introduce", err)
	}
	res, err := httpClient.Get(base + "/connectrpc.eliza.v1.ElizaService/Say")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "the API (Connect, gRPC, gRPC-Web) is on the front door's RPC port") {
		t.Errorf("GET of a procedure: %d %q, want 404 saying where the API is", res.StatusCode, body)
	}
	// The admin's own paths, with another method: 405, as the mux said before "/" took the rest.
	res, err = httpClient.Post(base+"/metrics", "text/plain", strings.NewReader(""))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusMethodNotAllowed || res.Header.Get("Allow") == "" {
		t.Errorf("POST /metrics: %d (Allow %q), want 405 with Allow", res.StatusCode, res.Header.Get("Allow"))
	}
}
