// Package frontdoor is the RPC front door: the connectrpc.eliza.v1.ElizaService handlers and
// the HTTP server that serves them over Connect, gRPC and gRPC-Web on one unencrypted port
// (HTTP/1.1 and h2c), with gRPC reflection and health beside them.
//
// Conversation logic lives in internal/eliza; this package validates input, maps it to and from
// protobuf messages, and reports each call to Prometheus.
package frontdoor
