// Package admin serves the operational endpoints every binary exposes on its admin port:
// /metrics for Prometheus, /healthz (the process is alive), /readyz (it should get traffic) and
// Go's profiles under /debug/pprof/ (`go tool pprof http://ADMIN_ADDR/debug/pprof/profile`).
// Keeping them off the RPC port lets Kubernetes probe and scrape, and people profile, without
// touching the API.
package admin

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/pprof"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewRegistry returns a registry with the Go runtime and process collectors, to which each
// binary adds its own instruments.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// ReadyFunc reports whether the process should receive traffic; a non-nil error says why not.
// ctx is the probe's request: checks that ask another service (a database ping) stop with it.
type ReadyFunc func(ctx context.Context) error

// NewHandler returns the admin mux: metrics from gatherer, liveness, readiness from ready, and
// the runtime's profiles.
func NewHandler(gatherer prometheus.Gatherer, ready ReadyFunc) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := ready(r.Context()); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	// A CPU profile or trace runs for its seconds parameter, which must stay below the
	// server's WriteTimeout (30 s).
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { notTheAPI(mux, w, r) })
	return mux
}

// notHere is what a call that was meant for the API is told: grpcurl or a client pointed at
// the admin port by mistake (a port-forward of the wrong port) gets it at once, not a wait
// for a connection that never speaks its protocol.
const notHere = "this is the admin port, which serves /metrics, /healthz, /readyz and /debug/pprof/ " +
	"over HTTP; the API (Connect, gRPC, gRPC-Web) is on the front door's RPC port, its ADDR (:8080 by default)"

// notTheAPI answers every request mux has no other handler for: one of mux's own paths with
// another method than GET with a 405 (which mux would say, but for this catch-all), a call in
// each of the API's protocols with that protocol's error (failed_precondition: grpcurl would
// read "unimplemented" as a server without reflection and not print the message), anything
// else with a 404 that says where the API is.
func notTheAPI(mux *http.ServeMux, w http.ResponseWriter, r *http.Request) {
	get := r.Clone(r.Context())
	get.Method = http.MethodGet
	_, served := mux.Handler(get)
	ct := r.Header.Get("Content-Type")
	switch {
	case served != "/":
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "405 method not allowed: "+r.URL.Path+" is read with GET", http.StatusMethodNotAllowed)
	case strings.HasPrefix(ct, "application/grpc"): // gRPC and gRPC-Web, trailers-only
		w.Header().Set("Content-Type", ct)
		w.Header().Set("Grpc-Status", "9")
		w.Header().Set("Grpc-Message", url.PathEscape(notHere))
		w.WriteHeader(http.StatusOK)
	case strings.HasPrefix(ct, "application/connect+"): // a Connect stream: its end message
		w.Header().Set("Content-Type", ct)
		end, _ := json.Marshal(map[string]any{"error": connectError})
		w.Write(binary.BigEndian.AppendUint32([]byte{2}, uint32(len(end)))) //nolint:errcheck // the client went away
		w.Write(end)                                                        //nolint:errcheck // the client went away
	case r.Method == http.MethodPost && (ct == "application/json" || ct == "application/proto"): // unary Connect
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(connectError) //nolint:errcheck // the client went away
	default:
		http.Error(w, "404 not found: "+notHere, http.StatusNotFound)
	}
}

// connectError is notHere in the Connect protocol's JSON.
var connectError = map[string]string{"code": "failed_precondition", "message": notHere}

// NewServer returns a server for the admin handler with conservative timeouts. It speaks
// HTTP/1.1, and HTTP/2 without TLS too, only so that a gRPC client pointed here by mistake is
// told so (notTheAPI) instead of waiting out its connect timeout.
func NewServer(addr string, h http.Handler) *http.Server {
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		Protocols:         &protocols,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       time.Minute,
	}
}
