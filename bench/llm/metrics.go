package main

// Metric names the harness reads from the front door's and the dispatcher's /metrics.
const (
	mOpenStreams = "frontdoor_rpc_open_streams" // the front door's streams (only QueueConversation here)
	// mAdmissionStages times each stage of an admission (a histogram, by label "stage").
	mAdmissionStages = "frontdoor_admission_stage_seconds"
	mHeapInuse       = "go_memstats_heap_inuse_bytes"
	mStackInuse      = "go_memstats_stack_inuse_bytes"
	mGoroutines      = "go_goroutines"
	mWorkerJobs      = "worker_jobs_total"
	mModelSum        = "worker_model_duration_seconds_sum"
	mModelCount      = "worker_model_duration_seconds_count"
	mLLMCalls        = "llm_calls_total"
	mLLMCallSum      = "llm_call_duration_seconds_sum"
	mLLMCallCount    = "llm_call_duration_seconds_count"
	mRateWaitSum     = "llm_ratelimit_wait_seconds_sum"
	mRateWaitN       = "llm_ratelimit_wait_seconds_count"
	mBusy            = "worker_busy"
	mRetries         = "llm_retries_total"
)
