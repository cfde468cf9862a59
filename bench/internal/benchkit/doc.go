// Package benchkit holds the code the benchmark harnesses under bench/ (dispatch and llm)
// share, so that it is written once: reading process and machine CPU time from /proc,
// describing the machine (CPU model, memory), probing a started process's /readyz, deleting
// the Kafka topics and consumer groups a run created, and opening the report's output. Each
// harness keeps its own measurements, metric parsing and report format. It is internal to
// the harnesses and not part of the project's API.
package benchkit
