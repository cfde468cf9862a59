package webui_test

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/beacon/eventdispatch/internal/webui"
)

func get(t *testing.T, h http.Handler, method, path string, header ...string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func TestHandler_ServesThePageAndNothingElse(t *testing.T) {
	h := webui.Handler()
	res := get(t, h, http.MethodGet, "/")
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(string(body), `<script type="module" src="app.js">`) {
		t.Fatalf("GET /: %d %q, %.80q; want the page", res.StatusCode, res.Header.Get("Content-Type"), body)
	}
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Fatalf("GET /: Content-Security-Policy %q, want the page's own files only", csp)
	}
	for path, want := range map[string]int{"/app.js": 200, "/style.css": 200, "/index.html": 200, "/nope": 404, "/dist/app.js": 404} {
		if got := get(t, h, http.MethodGet, path).StatusCode; got != want {
			t.Errorf("GET %s: %d, want %d", path, got, want)
		}
	}
	if res := get(t, h, http.MethodPost, "/"); res.StatusCode != http.StatusMethodNotAllowed || res.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /: %d, Allow %q; want 405 with GET, HEAD", res.StatusCode, res.Header.Get("Allow"))
	}
}

func TestHandler_CompressesAndRevalidates(t *testing.T) {
	h := webui.Handler()
	plain := get(t, h, http.MethodGet, "/app.js")
	want, _ := io.ReadAll(plain.Body)

	zipped := get(t, h, http.MethodGet, "/app.js", "Accept-Encoding", "br, gzip;q=0.8")
	if zipped.Header.Get("Content-Encoding") != "gzip" || zipped.Header.Get("ETag") == plain.Header.Get("ETag") {
		t.Fatalf("app.js for a gzip client: encoding %q, ETag %q (plain %q); want gzip with its own ETag",
			zipped.Header.Get("Content-Encoding"), zipped.Header.Get("ETag"), plain.Header.Get("ETag"))
	}
	zr, err := gzip.NewReader(zipped.Body)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(zr)
	if err != nil || string(got) != string(want) {
		t.Fatalf("app.js gunzipped differs from app.js (%v)", err)
	}
	if res := get(t, h, http.MethodGet, "/app.js", "Accept-Encoding", "gzip;q=0"); res.Header.Get("Content-Encoding") != "" {
		t.Fatal("app.js compressed for a client that refuses gzip")
	}

	again := get(t, h, http.MethodGet, "/app.js", "If-None-Match", plain.Header.Get("ETag"))
	if again.StatusCode != http.StatusNotModified || plain.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("app.js revalidated: %d, Cache-Control %q; want 304 and no-cache", again.StatusCode, plain.Header.Get("Cache-Control"))
	}
}
