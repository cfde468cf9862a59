// Package benchkit is the code the benchmark harnesses under bench/ (dispatch, llm and auth)
// share, written once so that a fix lands in all of them:
//
//   - a run's lifecycle: Main and Finish (flags, signals, the deadline, cleanup with time of
//     its own, the kept or removed working directory, the report on stdout and -out);
//   - the processes a run starts: Build, StartProcess and Process (graceful stop, /readyz,
//     /metrics, /debug/pprof: Profile, StartCPUProfile and PprofTop), FreeAddr;
//   - Prometheus text metrics: ParseMetrics, Scrape, Delta and Mean; a histogram's series
//     by label, ScrapeHistograms, and a quantile of what it observed between two scrapes,
//     Quantile;
//   - the machine: CPUTimes and CPUDelta (CPU time by process group, from /proc), SchedCPU
//     (one process's, to the nanosecond), RSS, ThisMachine for the report's header,
//     MachineSpeed (a fixed piece of work timed, as a virtual machine's speed moves);
//   - the stack: Kafka (topics and consumer groups a run creates and deletes), KafkaReachable,
//     GetJSON;
//   - the report: Table, Summarise and Distribution, and the number formats both use;
//   - its plots (gonum/plot): LatencyCDF and OverTime make Figures, which Finish writes as
//     PNGs next to the report's Markdown (-out) and links from its end.
//
// Its subpackage pgcount is a counting proxy for the Postgres wire protocol, which both
// harnesses put between a process and Postgres to measure its database traffic.
//
// Each harness keeps its own measurements, metric names and report wording. The package is
// internal to the harnesses and not part of the project's API.
package benchkit
