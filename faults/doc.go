// Package faults is the fault suite (make test-faults): each scenario breaks one part of the
// running system — kill -9 or SIGSTOP of Kafka, kill -9 of Postgres, of Kafka Connect, of a
// dispatcher with jobs in flight or of a front door, replicas going 2→3→2 — under steady CDC
// load (the headband simulator: complete and incomplete recordings) and queued conversations
// (clients sending sentences through Send), then checks what users of the system are promised:
// every complete recording processed exactly once (counted by an audit trigger on
// process_record's table, not only by its primary key), no incomplete one processed, every
// sentence answered "enqueued" answered exactly once, no sentence refused with "queue
// unavailable" reaching the model, and the system back within the scenario's bound. It prints
// a table of recovery times and extra model calls (docs/reliability.md keeps the last run's).
//
// The scenarios run on the local stack (make stack-up) and signal its processes by pid
// (deploy/local/stack.sh pid); the binaries are built from this checkout and run as processes
// of their own. The tests carry the build tag "faults", so that `go test ./...` (make test)
// leaves them out: they break the shared stack for a while, which other tests running at the
// same time would not survive.
package faults
