// Package proto holds the API's protobuf sources (connectrpc/eliza/v1, eventdispatch/usage/v1).
// Go code generated from them lives in internal/gen (and the chat page's TypeScript in
// web/src/gen); this package's test fails when the Go code is stale.
package proto
