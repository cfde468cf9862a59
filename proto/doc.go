// Package proto holds the API's protobuf sources (connectrpc/eliza/v1). Go code generated from
// them lives in internal/gen; this package's test fails when that code is stale.
package proto
