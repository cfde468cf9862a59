package frontdoor_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"connectrpc.com/grpchealth"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/beacon/eventdispatch/internal/eliza"
	"github.com/beacon/eventdispatch/internal/frontdoor"
	"github.com/beacon/eventdispatch/internal/gen/connectrpc/eliza/v1/elizav1connect"
)

// These tests speak to the handler as a browser does for a page on another origin: a
// preflight (OPTIONS with Access-Control-Request-*), then the request with Origin. What the
// browser then lets the page see is what the Access-Control-* headers allow.

const sayPath = "/connectrpc.eliza.v1.ElizaService/Say"

// corsServer serves the front door's handler with origins allowed.
func corsServer(t *testing.T, origins ...string) string {
	t.Helper()
	handler := frontdoor.NewHandler(frontdoor.Options{
		Service:        frontdoor.NewService(func() frontdoor.Responder { return eliza.New(seed) }),
		Health:         grpchealth.NewStaticChecker(elizav1connect.ElizaServiceName),
		Metrics:        frontdoor.NewMetrics(prometheus.NewRegistry()),
		Log:            slog.New(slog.DiscardHandler),
		AllowedOrigins: origins,
	})
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	return srv.URL
}

// preflight sends the OPTIONS request a browser sends before a gRPC-Web call from origin.
func preflight(t *testing.T, url, origin string) *http.Response {
	t.Helper()
	// As browsers send it: lowercase names, sorted, without spaces.
	return preflightAsking(t, url, origin, "connect-protocol-version,connect-timeout-ms,content-type,x-grpc-web,x-user-agent")
}

// preflightAsking sends a preflight from origin asking for the request headers in headers.
func preflightAsking(t *testing.T, url, origin, headers string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx(t), http.MethodOptions, url+sayPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", http.MethodPost)
	req.Header.Set("Access-Control-Request-Headers", headers)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	return res
}

// sayFrom calls Say over gRPC-Web with an invalid (empty) sentence from origin, so the
// answer carries an error status in its trailers, which a page reads only if exposed.
func sayFrom(t *testing.T, url, origin string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx(t), http.MethodPost, url+sayPath, strings.NewReader("\x00\x00\x00\x00\x00"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/grpc-web+proto")
	req.Header.Set("X-Grpc-Web", "1")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	_ = res.Body.Close()
	return res
}

func listed(header string) []string {
	var out []string
	for v := range strings.SplitSeq(header, ",") {
		out = append(out, strings.ToLower(strings.TrimSpace(v)))
	}
	return out
}

func TestCORS_AnAllowedOriginsPreflightIsAnsweredWithConnectsAndGRPCWebsHeaders(t *testing.T) {
	url := corsServer(t, "https://chat.example.com")
	res := preflight(t, url, "https://chat.example.com")
	if res.StatusCode != http.StatusNoContent {
		t.Fatalf("preflight answered %s, want 204", res.Status)
	}
	if got := res.Header.Get("Access-Control-Allow-Origin"); got != "https://chat.example.com" {
		t.Errorf("Access-Control-Allow-Origin %q", got)
	}
	if methods := listed(res.Header.Get("Access-Control-Allow-Methods")); !slices.Contains(methods, "post") {
		t.Errorf("Access-Control-Allow-Methods %v lacks POST", methods)
	}
	allowed := listed(res.Header.Get("Access-Control-Allow-Headers"))
	for _, h := range []string{"content-type", "x-grpc-web", "x-user-agent", "connect-protocol-version", "connect-timeout-ms"} {
		if !slices.Contains(allowed, h) {
			t.Errorf("Access-Control-Allow-Headers %v lacks %s", allowed, h)
		}
	}
	if got := res.Header.Get("Access-Control-Max-Age"); got != "7200" {
		t.Errorf("Access-Control-Max-Age %q, want 7200", got)
	}
}

// A preflight made by hand (curl, a proxy) may list its headers in any order and case, with
// spaces and repeats; it is answered as a browser's sorted list is.
func TestCORS_APreflightsHeadersAreAcceptedInAnyOrderAndCase(t *testing.T) {
	url := corsServer(t, "https://chat.example.com")
	res := preflightAsking(t, url, "https://chat.example.com", "X-Token, Content-Type,connect-protocol-version , content-type,Authorization")
	if res.StatusCode != http.StatusNoContent || res.Header.Get("Access-Control-Allow-Origin") != "https://chat.example.com" {
		t.Fatalf("preflight answered %s with Access-Control-Allow-Origin %q, want 204 and the origin",
			res.Status, res.Header.Get("Access-Control-Allow-Origin"))
	}
	allowed := listed(res.Header.Get("Access-Control-Allow-Headers"))
	for _, h := range []string{"authorization", "connect-protocol-version", "content-type", "x-token"} {
		if !slices.Contains(allowed, h) {
			t.Errorf("Access-Control-Allow-Headers %v lacks %s", allowed, h)
		}
	}
	if res := preflightAsking(t, url, "https://chat.example.com", "Content-Type, X-Secret"); res.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("a preflight asking for a header not allowed was allowed: %v", res.Header)
	}
	// A list far longer than a browser's is not sorted for rs/cors, which refuses it unsorted.
	long := "X-Token" + strings.Repeat(",content-type", 100)
	if res := preflightAsking(t, url, "https://chat.example.com", long); res.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("a preflight asking for 101 headers unsorted was allowed: %v", res.Header)
	}
}

func TestCORS_AnAllowedOriginSeesGRPCWebsStatusAndMessage(t *testing.T) {
	url := corsServer(t, "https://chat.example.com", "http://localhost:5173")
	res := sayFrom(t, url, "http://localhost:5173")
	if got := res.Header.Get("Access-Control-Allow-Origin"); got != "http://localhost:5173" {
		t.Fatalf("Access-Control-Allow-Origin %q", got)
	}
	exposed := listed(res.Header.Get("Access-Control-Expose-Headers"))
	for _, h := range []string{"grpc-status", "grpc-message", "grpc-status-details-bin"} {
		if !slices.Contains(exposed, h) {
			t.Errorf("Access-Control-Expose-Headers %v lacks %s: a browser's gRPC-Web client would see \"missing trailer\"", exposed, h)
		}
	}
	// And where a Watch's history ends, for a page on another origin.
	if !slices.ContainsFunc(exposed, func(h string) bool { return strings.EqualFold(h, frontdoor.HeaderLastSerial) }) {
		t.Errorf("Access-Control-Expose-Headers %v lacks %s", exposed, frontdoor.HeaderLastSerial)
	}
}

func TestCORS_AnotherOriginGetsNoCORSHeadersAndTheSameAnswer(t *testing.T) {
	url := corsServer(t, "https://chat.example.com")
	if res := preflight(t, url, "https://evil.example.com"); res.Header.Get("Access-Control-Allow-Origin") != "" ||
		res.Header.Get("Access-Control-Allow-Methods") != "" {
		t.Errorf("a preflight from another origin got CORS headers: %v", res.Header)
	}
	other, none := sayFrom(t, url, "https://evil.example.com"), sayFrom(t, url, "")
	if other.Header.Get("Access-Control-Allow-Origin") != "" || other.Header.Get("Access-Control-Expose-Headers") != "" {
		t.Errorf("a request from another origin got CORS headers: %v", other.Header)
	}
	if other.StatusCode != none.StatusCode || other.Header.Get("Grpc-Status") != none.Header.Get("Grpc-Status") {
		t.Errorf("from another origin %s grpc-status %q; without an origin %s grpc-status %q: want the same",
			other.Status, other.Header.Get("Grpc-Status"), none.Status, none.Header.Get("Grpc-Status"))
	}
}

func TestCORS_StarAllowsAnyOriginAndNoneAllowsNone(t *testing.T) {
	if got := preflight(t, corsServer(t, "*"), "http://anything.test:8000").Header.Get("Access-Control-Allow-Origin"); got == "" {
		t.Error("with * a preflight got no Access-Control-Allow-Origin")
	}
	url := corsServer(t)
	if res := preflight(t, url, "https://chat.example.com"); res.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("with no origins allowed a preflight got %v", res.Header)
	}
	if res := sayFrom(t, url, "https://chat.example.com"); res.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("with no origins allowed a request got %v", res.Header)
	}
}
