package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// registrar brings Connect's connector in line with the file and waits until it runs.
type registrar struct {
	c    *client
	spec spec
	out  io.Writer // progress lines
	// timeout is the deadline for registering, and again for reaching RUNNING.
	timeout time.Duration
	// topic and connectLog are named in messages.
	topic, connectLog string
	// dryRun compares and reports, and changes nothing.
	dryRun bool
	// broker and heartbeat, when both are set, make register wait, after RUNNING, until the
	// task's heartbeat is recent too (see heartbeat.go).
	broker    string
	heartbeat heartbeat
	// Pauses: between attempts to register, after asking for a restart, between status polls.
	retryPause, restartPause, pollEvery time.Duration
}

// newRegistrar returns a registrar with stack.sh's timeout and pauses.
func newRegistrar(c *client, s spec, out io.Writer) *registrar {
	return &registrar{
		c: c, spec: s, out: out,
		timeout: 120 * time.Second, topic: "postgres.datastore.signal", connectLog: "the Connect log",
		retryPause: time.Second, restartPause: 2 * time.Second, pollEvery: 500 * time.Millisecond,
	}
}

// say writes one progress line.
func (r *registrar) say(format string, args ...any) {
	fmt.Fprintf(r.out, "connector: "+format+"\n", args...)
}

// register makes the registered config match the file, restarts failed parts once, and
// waits until the connector and all its tasks are RUNNING, and capturing.
func (r *registrar) register(ctx context.Context) error {
	done, put, err := r.ensureConfig(ctx)
	if err != nil || done {
		return err
	}
	// A connector or task that FAILED earlier (e.g. Postgres was restarted under it) stays
	// failed until restarted: give it one restart, which is what a person would do first.
	if st, err := r.c.status(ctx); err == nil && st.failed() {
		r.say("%s has failed parts (%s), restarting them", r.spec.name, st.describe())
		if err := r.c.restartFailed(ctx); err != nil {
			return failed("connector: restart request for %s failed (%v); see %s", r.spec.name, err, r.connectLog)
		}
		if !sleep(ctx, r.restartPause) {
			return ctx.Err()
		}
	}
	if err := r.awaitRunning(ctx); err != nil {
		return err
	}
	return r.awaitHeartbeat(ctx, !put)
}

// awaitHeartbeat waits until the task's newest heartbeat is recent: RUNNING alone can be
// Connect's stale word for a task that runs nowhere, or one whose producer has not reached a
// broker that just came back. A connector this run has just registered may have written no
// heartbeat yet, and is not waited for then; one that was registered already (existing) must
// show a recent heartbeat: right after a broker restart its topic can look missing or empty
// for a while, which is no reason to stop waiting.
func (r *registrar) awaitHeartbeat(ctx context.Context, existing bool) error {
	if r.broker == "" || r.heartbeat.interval == 0 {
		return nil
	}
	deadline := time.Now().Add(r.timeout)
	said := false
	for {
		readCtx, cancel := context.WithTimeout(ctx, statusTimeout)
		at, err := lastHeartbeat(readCtx, r.broker, r.heartbeat.topic)
		cancel()
		age := time.Since(at)
		switch {
		case errors.Is(err, errNoHeartbeat) && !existing:
			return nil
		case err == nil && age <= heartbeatsMissed*r.heartbeat.interval:
			if said {
				r.say("%s capturing again: heartbeat %s ago", r.spec.name, age.Round(time.Second))
			}
			return nil
		case !said:
			r.say("%s RUNNING per Connect; waiting for its heartbeat (%s)", r.spec.name, heartbeatState(age, err))
			said = true
		}
		if !time.Now().Before(deadline) {
			return &exitError{code: exitSeeConnect, msg: fmt.Sprintf("connector: %s RUNNING per Connect but not capturing: %s after %s; see %s",
				r.spec.name, heartbeatState(age, err), seconds(r.timeout), r.connectLog)}
		}
		if !sleep(ctx, r.pollEvery) {
			return ctx.Err()
		}
	}
}

// heartbeatState says how old the newest heartbeat is, or why it could not be read.
func heartbeatState(age time.Duration, err error) string {
	if err != nil {
		return "heartbeat unknown: " + err.Error()
	}
	return fmt.Sprintf("the last one is %s old", age.Round(time.Second))
}

// ensureConfig registers the file's config unless Connect already has it. done is true
// after a dry run, which stops there; put is true when this call sent the config.
func (r *registrar) ensureConfig(ctx context.Context) (done, put bool, err error) {
	// Right after a (re)start the worker may still be rebalancing and answer 409/5xx: retry
	// until the deadline.
	deadline := time.Now().Add(r.timeout)
	for {
		current, err := r.c.config(ctx)
		if err == nil {
			changed := diffConfig(current, r.spec.config)
			if len(changed) == 0 {
				r.say("%s already registered with the current config", r.spec.name)
				return r.dryRun, false, nil
			}
			// Keys only: values may be secrets.
			r.say("%s is registered with a different config (%s)", r.spec.name, strings.Join(changed, ", "))
		}
		if r.dryRun {
			switch {
			case errors.Is(err, errNotFound):
				r.say("%s is not registered", r.spec.name)
			case err != nil:
				// Connect unreachable, or rebalancing: what up would do is not known yet. (It
				// said "would register", status 0, for a Connect that was not there.)
				if err := r.pauseToRetry(ctx, deadline, err, "could not read the config of "+r.spec.name+" from Connect"); err != nil {
					return false, false, err
				}
				continue
			}
			r.say("would register %s from %s (dry run: nothing sent)", r.spec.name, r.spec.path)
			return true, false, nil
		}
		r.say("registering %s from %s", r.spec.name, r.spec.path)
		// PUT /connectors/NAME/config creates or updates: safe to repeat.
		err = r.c.putConfig(ctx, r.spec.raw)
		if err == nil {
			return false, true, nil
		}
		var he *httpError
		if errors.As(err, &he) && he.code/100 == 4 && he.code != 409 {
			return false, false, failed("connector: Connect refused the config (HTTP %d): %s", he.code, he.message)
		}
		if err := r.pauseToRetry(ctx, deadline, err, "could not register "+r.spec.name); err != nil {
			return false, false, err
		}
	}
}

// pauseToRetry waits retryPause before the next try of what failed with err, or says why
// there is none: ctx ended, or the deadline passed (failed: what gave up, and err).
func (r *registrar) pauseToRetry(ctx context.Context, deadline time.Time, err error, gaveUp string) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if !time.Now().Before(deadline) {
		return failed("connector: %s (last answer: %v); see %s", gaveUp, err, r.connectLog)
	}
	if !sleep(ctx, r.retryPause) {
		return ctx.Err()
	}
	return nil
}

// awaitRunning polls the status until everything is RUNNING, something FAILED, or the
// deadline passes.
func (r *registrar) awaitRunning(ctx context.Context) error {
	deadline := time.Now().Add(r.timeout)
	for {
		st, err := r.c.status(ctx)
		switch {
		case err == nil && st.running():
			table := configValue(r.spec.config["table.include.list"])
			if table == "" {
				table = "the captured tables"
			}
			r.say("%s RUNNING with all tasks; changes to %s go to topic %s", r.spec.name, table, r.topic)
			return nil
		case err == nil && st.failed():
			msg := []string{"connector " + r.spec.name + " failed:"}
			msg = append(msg, st.details(20)...)
			msg = append(msg, "see "+r.connectLog)
			return failed("%s", strings.Join(msg, "\n"))
		}
		if !time.Now().Before(deadline) {
			return &exitError{code: exitSeeConnect, msg: fmt.Sprintf("connector: %s not RUNNING after %s (state: %s); see %s",
				r.spec.name, seconds(r.timeout), stateOf(st, err), r.connectLog)}
		}
		if !sleep(ctx, r.pollEvery) {
			return ctx.Err()
		}
	}
}

// stateOf is what a status poll found, for messages.
func stateOf(st status, err error) string {
	if err != nil {
		return err.Error()
	}
	return st.states()
}

// seconds writes d as stack.sh writes its timeouts: "120s".
func seconds(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprintf("%ds", d/time.Second)
	}
	return d.String()
}

// sleep waits for d or ctx, reporting whether the wait completed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
