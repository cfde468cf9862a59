-- +goose Up
-- The transcript's operations as functions (internal/transcript/pgtranscript calls each with
-- one statement), so that every operation is one round trip and one implicit transaction
-- instead of a BEGIN, a lock, two to four statements and a COMMIT from the client, plus, for
-- an append, one more to notify (see notify). The rules are those of 00005's comments; each
-- function states its part, in as few statements as it can.
--
-- A conversation that does not exist, or has been idle longer than the TTL the caller passes,
-- raises SQLSTATE P0002 (no_data_found), which the store reads as "unknown or expired". Within
-- a function each statement sees what was committed before it, as separate statements would:
-- the writers take the conversation's lock first, so what they read after it cannot change
-- until they commit.

-- A conversation's row is updated by every append. With room on its page and no indexed
-- column changed (active_at is refreshed only once a hundredth of the TTL has passed, see
-- append_event), those updates are HOT: no new index entries, dead versions pruned in place.
ALTER TABLE transcript.conversation SET (fillfactor = 50);

-- +goose StatementBegin
-- gone raises no_data_found for a conversation that does not exist or is idle.
CREATE FUNCTION transcript.gone(p_conversation uuid)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'unknown or expired conversation %', p_conversation USING ERRCODE = 'no_data_found';
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
-- live_conversation returns the last serial of a conversation that exists and is not idle,
-- and raises no_data_found for any other. The writers lock the row instead: they check the
-- same condition in their SELECT ... FOR UPDATE, which every writer takes first.
CREATE FUNCTION transcript.live_conversation(p_conversation uuid, p_ttl interval)
RETURNS bigint LANGUAGE plpgsql STABLE AS $$
DECLARE
    last bigint;
BEGIN
    SELECT last_serial INTO last FROM transcript.conversation
    WHERE id = p_conversation AND active_at >= now() - p_ttl;
    IF NOT FOUND THEN
        PERFORM transcript.gone(p_conversation);
    END IF;
    RETURN last;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
-- append_event appends an event of a job to a conversation whose lock the caller holds, and
-- records its serial on the job's row (accepted_serial for an 'accepted' event, outcome_serial
-- otherwise), in one statement. The serial comes from the conversation's row, bumped in the
-- same transaction, so a serial exists only with its event and never twice. The bump marks
-- the conversation active: active_at moves once it is a hundredth of the TTL old, so a
-- conversation may be found idle that much early (about 15 minutes of 24 hours). It does not
-- notify: see notify.
CREATE FUNCTION transcript.append_event(p_conversation uuid, p_job uuid, p_kind text, p_text text,
                                        p_in_reply_to text, p_ttl interval)
RETURNS transcript.event LANGUAGE plpgsql AS $$
DECLARE
    ev transcript.event;
BEGIN
    WITH next AS (
        UPDATE transcript.conversation SET last_serial = last_serial + 1,
            active_at = CASE WHEN active_at < now() - p_ttl / 100 THEN now() ELSE active_at END
        WHERE id = p_conversation RETURNING last_serial
    ), appended AS (
        INSERT INTO transcript.event (conversation, serial, kind, job, text, in_reply_to, at)
        SELECT p_conversation, last_serial, p_kind, p_job, p_text, p_in_reply_to, now() FROM next
        RETURNING *
    ), recorded AS (
        UPDATE transcript.job j SET
            accepted_serial = CASE WHEN p_kind = 'accepted' THEN a.serial ELSE j.accepted_serial END,
            outcome_serial = CASE WHEN p_kind = 'accepted' THEN j.outcome_serial ELSE a.serial END
        FROM appended a WHERE j.conversation = p_conversation AND j.job = p_job
    )
    SELECT * INTO STRICT ev FROM appended;
    RETURN ev;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
-- notify wakes the watchers of a conversation (its channel; the payload is the serial of the
-- event it announces, which lets a watcher that has that event already skip reading). Call it in a transaction of its own, after the appends it announces have
-- committed, never in theirs: a transaction that has notified holds a lock of the whole
-- database from its commit until its commit record is on disk (PreCommit_Notify), so
-- notifying from the appending transactions made every append of every conversation wait
-- for the disk in turn (bench-llm measured 400 answered sentences a second on two cores,
-- most backends waiting on that lock). This transaction writes nothing else, so it commits
-- without waiting for the disk: a crash can lose the wake-up, never an event, and the
-- listeners reconnect after a crash and read again anyway. A writer that dies between its
-- commit and notify leaves the wake-up to whoever redoes its work (Accept and Finish called
-- again notify again) or to the conversation's next event.
CREATE FUNCTION transcript.notify(p_conversation uuid, p_serial bigint)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    PERFORM pg_notify('transcript_' || replace(p_conversation::text, '-', ''), p_serial::text);
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
-- open_conversation returns a live conversation's last serial; with create, a conversation
-- that does not exist is created empty first (an idle one is still no_data_found: its serials
-- must not be reused).
CREATE FUNCTION transcript.open_conversation(p_conversation uuid, p_create boolean, p_ttl interval)
RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
    IF p_create THEN
        INSERT INTO transcript.conversation (id) VALUES (p_conversation) ON CONFLICT (id) DO NOTHING;
    END IF;
    RETURN transcript.live_conversation(p_conversation, p_ttl);
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
-- reserve takes a slot for a job and returns true, or returns false when the conversation
-- already has p_limit jobs holding one (accepted without an outcome, or reserved less than
-- p_lease ago). The slots are counted under the conversation's lock, so two front doors
-- cannot both take the last one. A job reserved before keeps its one slot.
--
-- It commits without waiting for the disk, as release does: a reservation is a lease, not a
-- record (accept and finish record the job whether or not its reservation exists), so a
-- crash of Postgres can only forget the reservations of its last moments, which then do not
-- count towards the limit until their jobs are accepted. That saves a sentence one of its
-- two waits for the disk before "enqueued". (The setting lasts until the transaction ends:
-- call reserve and release in transactions of their own, as the store does.)
CREATE FUNCTION transcript.reserve(p_conversation uuid, p_job uuid, p_sentence text, p_limit integer,
                                   p_ttl interval, p_lease interval)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    held boolean;
    open integer;
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    PERFORM FROM transcript.conversation WHERE id = p_conversation AND active_at >= now() - p_ttl FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM transcript.gone(p_conversation);
    END IF;
    SELECT EXISTS (SELECT FROM transcript.job WHERE conversation = p_conversation AND job = p_job),
           (SELECT count(*) FROM transcript.job
            WHERE conversation = p_conversation AND outcome_serial IS NULL
              AND (accepted_serial IS NOT NULL OR reserved_at > now() - p_lease))
    INTO held, open;
    IF held THEN
        RETURN true;
    ELSIF open >= p_limit THEN
        RETURN false;
    END IF;
    INSERT INTO transcript.job (conversation, job, sentence) VALUES (p_conversation, p_job, p_sentence);
    RETURN true;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
-- release gives back the slot of a job that was not accepted.
CREATE FUNCTION transcript.release(p_conversation uuid, p_job uuid, p_ttl interval)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    PERFORM FROM transcript.conversation WHERE id = p_conversation AND active_at >= now() - p_ttl FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM transcript.gone(p_conversation);
    END IF;
    DELETE FROM transcript.job WHERE conversation = p_conversation AND job = p_job AND accepted_serial IS NULL;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
-- locked_job locks a live conversation and returns its job's row, inserting it (reserved now,
-- with p_sentence) when the front door's reservation is missing. Every write to the
-- conversation's jobs takes that lock, so the row cannot change before the caller commits.
CREATE FUNCTION transcript.locked_job(p_conversation uuid, p_job uuid, p_sentence text, p_ttl interval)
RETURNS transcript.job LANGUAGE plpgsql AS $$
DECLARE
    j transcript.job;
BEGIN
    PERFORM FROM transcript.conversation WHERE id = p_conversation AND active_at >= now() - p_ttl FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM transcript.gone(p_conversation);
    END IF;
    SELECT * INTO j FROM transcript.job WHERE conversation = p_conversation AND job = p_job;
    IF NOT FOUND THEN
        INSERT INTO transcript.job (conversation, job, sentence) VALUES (p_conversation, p_job, p_sentence)
        RETURNING * INTO j;
    END IF;
    RETURN j;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
-- accept appends the job's Accepted event, once, and returns it; called again, it returns the
-- event appended the first time.
CREATE FUNCTION transcript.accept(p_conversation uuid, p_job uuid, p_sentence text, p_ttl interval)
RETURNS transcript.event LANGUAGE plpgsql AS $$
DECLARE
    j  transcript.job;
    ev transcript.event;
BEGIN
    j := transcript.locked_job(p_conversation, p_job, p_sentence, p_ttl);
    IF j.accepted_serial IS NULL THEN
        RETURN transcript.append_event(p_conversation, p_job, 'accepted', j.sentence, '', p_ttl);
    END IF;
    SELECT * INTO STRICT ev FROM transcript.event WHERE conversation = p_conversation AND serial = j.accepted_serial;
    RETURN ev;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
-- finish records the job's outcome (p_kind 'reply' or 'error'), once: it appends the Accepted
-- event first if the front door could not, then the outcome, which frees the job's slot.
-- Called again, it appends nothing and returns the first outcome with recorded false.
CREATE FUNCTION transcript.finish(p_conversation uuid, p_job uuid, p_sentence text, p_kind text, p_text text,
                                  p_ttl interval, OUT ev transcript.event, OUT recorded boolean)
LANGUAGE plpgsql AS $$
DECLARE
    j transcript.job;
BEGIN
    j := transcript.locked_job(p_conversation, p_job, p_sentence, p_ttl);
    recorded := j.outcome_serial IS NULL;
    IF NOT recorded THEN
        SELECT * INTO STRICT ev FROM transcript.event WHERE conversation = p_conversation AND serial = j.outcome_serial;
        RETURN;
    END IF;
    IF j.accepted_serial IS NULL THEN -- the front door died between enqueueing and accept
        PERFORM transcript.append_event(p_conversation, p_job, 'accepted', j.sentence, '', p_ttl);
    END IF;
    ev := transcript.append_event(p_conversation, p_job, p_kind, p_text, j.sentence, p_ttl);
END $$;
-- +goose StatementEnd

-- The reads check that the conversation is live in the same statement as the rows they
-- return, and ask live_conversation only when there are none (to tell "nothing" from "not
-- found"). They run in the caller's snapshot (STABLE), and p_limit NULL means no limit.

-- +goose StatementBegin
-- events returns the events with a serial above p_after, oldest first: a range scan of the
-- primary key.
CREATE FUNCTION transcript.events(p_conversation uuid, p_after bigint, p_limit integer, p_ttl interval)
RETURNS SETOF transcript.event LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY SELECT e.* FROM transcript.conversation c
    JOIN transcript.event e ON e.conversation = c.id
    WHERE c.id = p_conversation AND c.active_at >= now() - p_ttl AND e.serial > p_after
    ORDER BY e.serial LIMIT p_limit;
    IF NOT FOUND THEN
        PERFORM transcript.live_conversation(p_conversation, p_ttl);
    END IF;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
-- prepare returns what a worker reads before it answers a job, in one call: first the job's
-- outcome event if it has one (a row whose sentence and answer are NULL), then the newest
-- answered exchanges (sentence, reply) accepted before the job, newest first (the index reads
-- them in that order and stops after p_limit), all of them when the job was not accepted (rows
-- whose event columns are NULL). The outcome is read with the conversation's liveness.
CREATE FUNCTION transcript.prepare(p_conversation uuid, p_job uuid, p_limit integer, p_ttl interval)
RETURNS TABLE (serial bigint, kind text, job uuid, text text, in_reply_to text, at timestamptz,
               sentence text, answer text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    r record;
BEGIN
    SELECT c.active_at >= now() - p_ttl AS live, j.accepted_serial AS accepted,
           e.serial AS o_serial, e.kind AS o_kind, e.text AS o_text, e.in_reply_to AS o_in_reply_to, e.at AS o_at
    INTO r FROM transcript.conversation c
    LEFT JOIN transcript.job j ON j.conversation = c.id AND j.job = p_job
    LEFT JOIN transcript.event e ON e.conversation = c.id AND e.serial = j.outcome_serial
    WHERE c.id = p_conversation;
    IF r.live IS NOT TRUE THEN
        PERFORM transcript.gone(p_conversation);
    END IF;
    IF r.o_serial IS NOT NULL THEN
        RETURN QUERY SELECT r.o_serial, r.o_kind, p_job, r.o_text, r.o_in_reply_to, r.o_at, NULL::text, NULL::text;
    END IF;
    RETURN QUERY SELECT NULL::bigint, NULL::text, NULL::uuid, NULL::text, NULL::text, NULL::timestamptz, x.sentence, e.text
    FROM transcript.job x
    JOIN transcript.event e ON e.conversation = x.conversation AND e.serial = x.outcome_serial
    WHERE x.conversation = p_conversation AND x.outcome_serial IS NOT NULL AND e.kind = 'reply'
      AND x.accepted_serial < coalesce(r.accepted, 9223372036854775807)
    ORDER BY x.accepted_serial DESC
    LIMIT p_limit;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
-- waiting returns the accepted jobs without an outcome, in the order they were accepted.
CREATE FUNCTION transcript.waiting(p_conversation uuid, p_ttl interval)
RETURNS SETOF uuid LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY SELECT j.job FROM transcript.conversation c
    JOIN transcript.job j ON j.conversation = c.id
    WHERE c.id = p_conversation AND c.active_at >= now() - p_ttl
      AND j.outcome_serial IS NULL AND j.accepted_serial IS NOT NULL
    ORDER BY j.accepted_serial;
    IF NOT FOUND THEN
        PERFORM transcript.live_conversation(p_conversation, p_ttl);
    END IF;
END $$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION transcript.waiting(uuid, interval);
DROP FUNCTION transcript.prepare(uuid, uuid, integer, interval);
DROP FUNCTION transcript.events(uuid, bigint, integer, interval);
DROP FUNCTION transcript.finish(uuid, uuid, text, text, text, interval);
DROP FUNCTION transcript.accept(uuid, uuid, text, interval);
DROP FUNCTION transcript.locked_job(uuid, uuid, text, interval);
DROP FUNCTION transcript.release(uuid, uuid, interval);
DROP FUNCTION transcript.reserve(uuid, uuid, text, integer, interval, interval);
DROP FUNCTION transcript.open_conversation(uuid, boolean, interval);
DROP FUNCTION transcript.notify(uuid, bigint);
DROP FUNCTION transcript.append_event(uuid, uuid, text, text, text, interval);
DROP FUNCTION transcript.live_conversation(uuid, interval);
DROP FUNCTION transcript.gone(uuid);
ALTER TABLE transcript.conversation RESET (fillfactor);
