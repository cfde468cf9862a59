// Package queue is the queued-conversation domain without Kafka or RPC: the job and reply
// records that travel through eliza.jobs and eliza.replies, and the admission gate that bounds
// how many jobs a stream (QUEUE_LIMIT) and a front-door process (MAX_INFLIGHT) may have
// waiting.
package queue
