package main

// Metric names the harness reads from the dispatcher's /metrics.
const (
	mEvents     = "dispatcher_events_total"
	mCompleted  = "dispatcher_recordings_completed_total"
	mApplySum   = "dispatcher_process_duration_seconds_sum"
	mApplyCount = "dispatcher_process_duration_seconds_count"
	mRetries    = "kafka_consumer_batch_retries_total"
	mDead       = "dispatcher_dead_lettered_total"
	mCPU        = "process_cpu_seconds_total"
)
