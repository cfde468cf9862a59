package pgtranscript

import (
	"context"
	"encoding/hex"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/beacon/eventdispatch/internal/transcript"
)

// appendEvent appends ev (Kind, JobID, Text, InReplyTo) to its conversation in tx, which must
// hold the conversation's lock (Store.locked), and returns it with its serial and time.
//
// The serial comes from the conversation's row, bumped in the same statement that inserts the
// event, so a serial exists only with its event and never twice; the same bump marks the
// conversation active. The notification goes out when tx commits, never for a rolled-back
// event (Postgres also folds a transaction's identical notifications into one).
func appendEvent(ctx context.Context, tx pgx.Tx, ev transcript.Event) (transcript.Event, error) {
	err := tx.QueryRow(ctx, `
		WITH next AS (
		    UPDATE transcript.conversation SET last_serial = last_serial + 1, active_at = now()
		    WHERE id = $1 RETURNING last_serial
		)
		INSERT INTO transcript.event (conversation, serial, kind, job, text, in_reply_to, at)
		SELECT $1, last_serial, $2, $3, $4, $5, now() FROM next
		RETURNING serial, at`,
		ev.Conversation, ev.Kind, ev.JobID, ev.Text, ev.InReplyTo).Scan(&ev.Serial, &ev.At)
	if err != nil {
		return transcript.Event{}, fmt.Errorf("append %s event: %w", ev.Kind, err)
	}
	if _, err := tx.Exec(ctx, `SELECT pg_notify($1, '')`, channelName(ev.Conversation)); err != nil {
		return transcript.Event{}, fmt.Errorf("notify watchers: %w", err)
	}
	return ev, nil
}

// channelName is the conversation's notification channel: one per conversation, so that a
// process LISTENs to the conversations it serves and no others. It is lower case and 43
// characters long, within the 63 of an identifier.
func channelName(conversation uuid.UUID) string {
	return "transcript_" + hex.EncodeToString(conversation[:])
}
