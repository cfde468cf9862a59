// Package webui serves the chat page: the static files that web/ builds (an HTML page, its
// stylesheet and one JavaScript bundle, talking Connect or gRPC-Web to the front door),
// embedded in the binary so the front door needs nothing beside it. The bundle is committed;
// bundle_test.go rebuilds it from web/ and fails when it is stale.
package webui

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"
)

//go:embed dist
var dist embed.FS

// file is one file of the page, ready to serve.
type file struct {
	body, gzipped []byte
	contentType   string
	etag          string // of body; gzipped has its own, as a different representation
}

// Handler serves the page at "/" (index.html) and its files by name. Anything else is 404
// and methods other than GET and HEAD are 405, so the handler can sit at the root of a mux
// beside the RPC routes without answering for them.
func Handler() http.Handler {
	files, err := load(dist)
	if err != nil {
		panic("webui: the embedded page is unreadable: " + err.Error()) // a broken build, not a runtime condition
	}
	return &handler{files: files}
}

func load(fsys fs.FS) (map[string]*file, error) {
	root, err := fs.Sub(fsys, "dist")
	if err != nil {
		return nil, err
	}
	files := map[string]*file{}
	err = fs.WalkDir(root, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(root, name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		f := &file{
			body:        body,
			contentType: mime.TypeByExtension(path.Ext(name)),
			etag:        `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`,
		}
		if len(body) > 1<<10 {
			f.gzipped, err = compress(body)
			if err != nil {
				return err
			}
		}
		files["/"+name] = f
		return nil
	})
	return files, err
}

func compress(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	w, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(b); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

type handler struct {
	files map[string]*file
}

// contentSecurityPolicy lets the page load only its own files. Its calls may go to any
// server (connect-src): `?server=` points the page at another front door, which decides with
// CORS whether to answer.
const contentSecurityPolicy = "default-src 'self'; connect-src *; img-src 'self' data:; " +
	"object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Path
	if name == "/" {
		name = "/index.html"
	}
	f, ok := h.files[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", f.contentType)
	hdr.Set("ETag", f.etag)
	// Revalidate every time: a new release changes the files under the same names, and the
	// ETag makes an unchanged file a 304.
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("Content-Security-Policy", contentSecurityPolicy)
	hdr.Add("Vary", "Accept-Encoding")
	body := f.body
	if f.gzipped != nil && acceptsGzip(r) {
		hdr.Set("Content-Encoding", "gzip")
		hdr.Set("ETag", strings.TrimSuffix(f.etag, `"`)+`-gzip"`)
		body = f.gzipped
	}
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(body))
}

// acceptsGzip reports whether the request's Accept-Encoding lists gzip with a q above 0.
func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		coding, params, _ := strings.Cut(part, ";")
		if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			continue
		}
		q, ok := strings.CutPrefix(strings.ReplaceAll(params, " ", ""), "q=")
		if !ok {
			return true
		}
		weight, err := strconv.ParseFloat(q, 64)
		return err == nil && weight > 0
	}
	return false
}
