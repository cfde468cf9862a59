// Package queue is the queued-conversation domain without Kafka or RPC: the job record that
// travels through eliza.jobs, and the gate that bounds how many sentences a front-door
// process admits at once (MAX_INFLIGHT). The per-conversation bound (QUEUE_LIMIT) is kept with
// the conversation, in internal/transcript, so that every front door sees it.
package queue
