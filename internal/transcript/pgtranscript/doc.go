// Package pgtranscript keeps the transcript of queued conversations in Postgres (schema
// transcript, migrations/00005_transcript.sql) and wakes watchers with LISTEN/NOTIFY. It is the
// transcript.Store that front doors and workers in several processes share.
//
// Each method is one statement calling one of the schema's functions
// (migrations/00006_transcript_functions.sql and 00007_transcript_refuse.sql), so each is one
// round trip and, for the writes, one implicit transaction; the wake-ups of appends go in
// transactions of their own, shared by the appends of many conversations (see Wake-ups).
// Reserve, Accept and Finish differ: the calls made while one is in flight go together in the
// next statement (transcript.reserve_many, migrations/00015; transcript.accept_many, 00014;
// transcript.finish_many, 00016), one transaction (and, for Accept and Finish, one wait for
// the disk) for a front door's many admissions or a worker pool's many answers at once, each
// call with its own outcome (a full or idle conversation or a refused job fails only its
// own); internal/rounds gathers them. Prepare goes in rounds too (transcript.prepare_many,
// 00018), which only read: a job not accepted yet is read again in later rounds, after
// pauses that double (its Accept is usually in flight), and then prepared on its own under
// the lock. The functions raise SQLSTATE P0002 for a conversation that does not exist or is
// idle and P0003 for a refused job, which the methods return as transcript.ErrNotFound and
// transcript.ErrRefused.
//
// # Writes
//
// Every write to a conversation (Reserve, Refuse, Accept, Finish, and Prepare when it takes a
// job nobody has recorded) first locks the
// conversation's row and checks that it is not idle. The lock serialises the writers of one
// conversation across processes, and everything else follows from it:
//
//   - appending an event bumps the row's last_serial (and active_at, see below) and inserts
//     the event with that serial, in the same transaction as the job's update, so serials are
//     gapless, per conversation, and never handed out twice;
//   - Reserve counts the jobs holding a slot (accepted without an outcome, or reserved less
//     than transcript.ReservationLease ago) under the lock, so two front doors cannot both take
//     the last slot;
//   - Accept and Finish read the job's row under the lock and append only what is missing, so
//     they are idempotent: a job redone after a crash finds its outcome and appends nothing;
//   - Refuse and Prepare read the job's row under the lock too, so of a front door refusing a
//     job and a worker taking it, exactly one wins and the other sees it.
//
// A conversation idle longer than the TTL is transcript.ErrNotFound to every method, even to
// Open with create: its serials must not be reused while clients may still hold them. Its last
// activity is recorded to a hundredth of the TTL, so that most appends change no indexed
// column (a HOT update), and it may go idle that much early. Expire empties idle
// conversations in batches (their jobs and events go) and keeps their rows as tombstones,
// idle to every TTL (active_at -infinity), deleting them a TTL later; nothing revives one, so
// expiring is safe at any time. It notifies each expired conversation's channel ("gone"), so
// that its watchers, on any process, read it and find it gone, and not a new conversation
// under its id. A job that outlives even that is not recorded in a new conversation under the
// id: the functions that record a job they do not know find the conversation gone to one
// whose UUIDv7 id predates it by more than half the TTL (transcript.predates, migration 00023).
//
// # Wake-ups
//
// After each append, Accept, Finish and Prepare have pg_notify run on the conversation's own
// channel ("transcript_" and the id's 32 hex digits), so a front door LISTENs only to the
// conversations it serves and hears nothing of the others. The payload is the event itself, in
// JSON, or only its serial when the event would not fit in a notification; the listener keeps
// each channel's last few events, so a woken watcher sends them (Heard) instead of reading
// them back, and reads Events only when it is further behind or was woken without them. One
// dedicated connection per Store (not from the pool: a pooled connection would lose its
// LISTENs when returned) carries every LISTEN; Listen runs it for the life of the process.
// Watch returns once LISTEN is in effect for its conversation, with the conversation's last
// serial read after that: every event up to it is in the table, and every one after it wakes
// the watcher, so a caller that has sent up to that serial need not read Events at all.
//
// The notification goes in a transaction of its own that does not wait for the disk:
// Postgres holds a database-wide lock from a notifying transaction's commit until its commit
// record is flushed, so notifying inside the appends would make every append wait for the
// disk in turn. The wake-ups announced while one such transaction is in flight go together in
// the next, one statement for all (like a group commit), so under load a few transactions
// wake the watchers of many appends. Finish and Prepare return once their wake-up is sent;
// Accept does not wait, since its caller holds the event and every accepted job's outcome
// wakes the watchers again; its wake-up is held, waiting up to wakeHold (5 ms) for others to
// share its transaction, and leaves at once with the first wake-up that is not held. A crash
// between an append and its wake-up loses the wake-up, never an event: the redone Accept or
// Finish notifies again, and the conversation's next event wakes its watchers too. When the
// listener's connection breaks, Listen reconnects with backoff, LISTENs again and wakes every
// watcher that was listening, which then reads Events again: notifications lost meanwhile
// cost nothing.
package pgtranscript
