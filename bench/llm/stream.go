package main

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"

	"connectrpc.com/connect"

	elizav1 "github.com/beacon/eventdispatch/internal/gen/connectrpc/eliza/v1"
	"github.com/beacon/eventdispatch/internal/gen/connectrpc/eliza/v1/elizav1connect"
)

// queueStream is the client's side of one QueueConversation.
type queueStream = connect.BidiStreamForClient[elizav1.QueueConversationRequest, elizav1.QueueConversationResponse]

// clientPool spreads streams over HTTP/2 connections: one transport (one h2c connection) per
// perConn streams, since a connection carries at most the server's MaxConcurrentStreams (256).
type clientPool struct {
	perConn    int
	transports []*http.Transport
	clients    []elizav1connect.ElizaServiceClient
}

// newClientPool returns gRPC clients of the front door at addr for streams streams.
func newClientPool(addr string, streams, perConn int) *clientPool {
	n := (streams + perConn - 1) / perConn
	p := &clientPool{perConn: perConn}
	var h2c http.Protocols
	h2c.SetUnencryptedHTTP2(true)
	for range n {
		t := &http.Transport{Protocols: &h2c}
		p.transports = append(p.transports, t)
		p.clients = append(p.clients, elizav1connect.NewElizaServiceClient(&http.Client{Transport: t}, "http://"+addr, connect.WithGRPC()))
	}
	return p
}

// client returns the client for stream i: streams perConn at a time share one connection.
func (p *clientPool) client(i int) elizav1connect.ElizaServiceClient {
	return p.clients[(i/p.perConn)%len(p.clients)]
}

// conns is the number of connections the pool opens.
func (p *clientPool) conns() int { return len(p.clients) }

// close closes the pool's idle connections; call it once its streams are done.
func (p *clientPool) close() {
	for _, t := range p.transports {
		t.CloseIdleConnections()
	}
}

// isReply reports whether res ends a job: its answer, or an error reply (which carries the
// job's id). Everything else answers a sentence just sent: enqueued, refused, or invalid.
func isReply(res *elizav1.QueueConversationResponse) bool {
	switch res.GetKind() {
	case elizav1.QueueConversationResponse_KIND_REPLY:
		return true
	case elizav1.QueueConversationResponse_KIND_ERROR:
		return res.GetJobId() != ""
	default:
		return false
	}
}

// streamCounts are what a run's streams saw, updated as they see it.
type streamCounts struct {
	replies, failed, enqueued, refused, invalid atomic.Int64
}

// count counts res as what it is, and reports whether it is a reply (an answer or an error
// reply): the end of a job, not the acknowledgement of a sentence.
func (c *streamCounts) count(res *elizav1.QueueConversationResponse) bool {
	switch {
	case isReply(res):
		c.replies.Add(1)
		if res.GetKind() == elizav1.QueueConversationResponse_KIND_ERROR {
			c.failed.Add(1)
		}
		return true
	case res.GetKind() == elizav1.QueueConversationResponse_KIND_ENQUEUED:
		c.enqueued.Add(1)
	case res.GetKind() == elizav1.QueueConversationResponse_KIND_QUEUE_FULL:
		c.refused.Add(1)
	default:
		c.invalid.Add(1)
	}
	return false
}

// streamError is nil once ctx has ended (the harness closed the stream), else err described.
func streamError(ctx context.Context, i int, op string, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("stream %d: %s: %w", i, op, err)
}
