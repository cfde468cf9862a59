// Package simulate plays generated headband recordings against a Writer the way the original
// service wrote them: one row per insert, in each recording's shuffled order, with its pauses.
//
// Scheduling. A recording starts every Interval whether or not earlier ones have finished,
// so recordings overlap and their rows interleave. Each recording is played by its own
// goroutine in an errgroup; at most MaxInFlight play at once and the next start waits for a
// slot, which bounds memory and connections if the database is slow. With Fast there is no
// interval and no pause: recordings start back-to-back as slots free up (MaxInFlight of them
// at once, so rows of different recordings still interleave), each still inserting its rows
// one at a time in shuffled order. With Recordings = N, Run returns once N recordings have
// started and all of their inserts have ended.
//
// Failures. The simulator never stops for a database error. An insert is retried with
// exponential backoff and jitter (250 ms doubling to 5 s) for up to RetryFor; then the signal
// is skipped (logged at error, counted with reason "error") and the recording goes on with
// its next row. Errors the Writer marks permanent (a method Permanent() bool returning true,
// e.g. a constraint violation) are not retried. A row whose ID is already present (a rerun
// with the same seed) is skipped with reason "exists". Each attempt has AttemptTimeout. Run
// returns ErrGaveUp, with their number, when it skipped signals for an error.
//
// Shutdown. When Run's context is done no recording starts and no further row of a recording
// in flight is inserted; pauses end at once. Inserts already executing get Grace to finish
// (without further retries); after that they are cancelled. Skipped rows are counted with
// reason "shutdown".
package simulate
