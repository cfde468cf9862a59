// Package kafkaqueue carries queued conversations over Kafka: jobs to JOBS_TOPIC (key =
// conversation, acks from all in-sync replicas), replies to REPLIES_TOPIC, and the router that
// brings replies back to the streams waiting for them.
//
// How a reply finds its stream when there are several front doors: every job names the
// front-door process that holds its stream (reply_to, a name unique per process), and workers
// copy it into the reply. Every front door reads every partition of the replies topic, from
// its end at start-up and without a consumer group, and keeps only the replies addressed to
// itself, handing each to the stream of its conversation. Replies are small and the number of
// front doors is small, so reading them all is cheaper than a topic per process, and it needs
// no coordination when front doors come and go. A reply whose stream has gone away (or whose
// process restarted) is counted and dropped.
package kafkaqueue
