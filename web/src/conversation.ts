// A queued conversation as the page keeps it: sentences go out with Send, everything that
// happens to the conversation comes back, in order, through one Watch that is reopened with
// backoff whenever it breaks. The conversation's id, the last serial shown and what was shown
// (the page's notes and refusals with the events) are kept in localStorage, so a reload
// carries on where the page was: the next Watch asks only for the events after that serial,
// and nothing is shown twice or skipped.

import { Code, ConnectError, type Client } from "@connectrpc/connect";
import {
  type ElizaService,
  type QueueConversationResponse,
  QueueConversationResponse_Kind as Kind,
} from "./gen/connectrpc/eliza/v1/eliza_pb.js";

/** One line of the conversation's log. */
export type Entry = {
  /**
   * Tells the entry apart when another tab's saved log is merged into this one's (save): an
   * event's is its conversation's id and serial, the same in every tab that shows it; a
   * refusal's or a note's is random, shown by one tab only.
   */
  id: string;
  kind: "enqueued" | "reply" | "error" | "refused" | "note";
  text: string;
  /** The event's serial in the conversation; absent for what the server did not record. */
  serial?: string;
  /** The sentence an answer, error or refusal is about. */
  about?: string;
};

/**
 * Connection states the page shows. "reconnecting" is the first wait after a Watch that was
 * connected broke (a front door restarting or shutting down in a rolling update, whose drain
 * ends its streams with Unavailable): usually another front door answers the next attempt.
 * Only when that attempt fails too does the page say it cannot reach the server.
 */
export type Health = "idle" | "online" | "reconnecting" | "offline";

/** What the conversation draws on: the page, or a test's stand-in. */
export interface View {
  add(entry: Entry): void;
  clear(): void;
  health(state: Health, text: string): void;
  conversation(id: string): void;
  /**
   * Offers a sentence again to be sent, one that may not have reached the server; returns
   * whether it is in the field now (a field holding something else keeps it).
   */
  unsent(sentence: string): boolean;
}

/** The most log entries kept across reloads; older ones are dropped first. */
const keptEntries = 300;
/** How many "enqueued" events a page remembers the jobs of (for the Sends still on their way). */
const keptEnqueued = 100;
/** The first wait before reopening a broken Watch, doubled up to maxWaitMs. */
const firstWaitMs = 500;
const maxWaitMs = 10_000;
/** A Watch that has not failed this long after opening is taken as connected. */
const settleMs = 1_000;
/**
 * The longest a Send is waited for, as `eliza chat` waits: a front door that works answers
 * within twice its ENQUEUE_TIMEOUT and its rounds' 10 s. Past it the call is given up, here and
 * (by the deadline it carries) on the server.
 */
const sendTimeoutMs = 120_000;

/** The most of a sentence, or of a message about one, that the log shows and keeps. */
const keptChars = 2_000;

/** What the status says while the browser has no network. */
const offlineText = "You are offline; the conversation resumes when the connection is back.";

/**
 * A new conversation whose first Send is on its way: its id, chosen by the page before the
 * Send went, the sentence, and when the Send went (ms since the epoch). Kept with the log, so
 * that a page left (reloaded, closed) before the Send came back finds the conversation the
 * server may have started under that id. The sentence is "" when longer than keptChars (the
 * server refuses such a one anyway): a sentence of megabytes made every save fail. A Starting
 * saved before startedAt was kept reads as one that went long ago (0).
 */
type Starting = { id: string; sentence: string; startedAt: number };

type Saved = { id: string; serial: string; entries: Entry[]; starting?: Starting };

export class Conversation {
  private id = "";
  private last = 0n;
  private entries: Entry[] = [];
  private following: AbortController | null = null;
  private wake: () => void = () => {};
  private sending: Promise<void> = Promise.resolve();
  /** Another tab moved the key to another conversation: nothing is saved until this one follows (moved). */
  private superseded = false;
  /** The serial of each recent "enqueued" shown, by job: the watch often shows a sentence's before its Send returns. */
  private enqueuedAt = new Map<string, bigint>();
  /** The conversation being started (Starting); until the server is seen to have it, or answers its Send. */
  private starting: Starting | null = null;
  /**
   * The id of a conversation whose first Send did not get there, its sentence offered again:
   * the next new conversation is started under it, as its Send would have. Not saved: a
   * reload does not offer the sentence again.
   */
  private offered = "";
  /**
   * The browser said it lost its network (the window's offline), and not yet that it is back:
   * the conversation is not followed meanwhile, as a Watch could only fail and back off.
   */
  private offline = false;

  constructor(
    private readonly client: Client<typeof ElizaService>,
    private readonly view: View,
    private readonly storage: Storage,
    private key: string,
  ) {}

  /** Shows what was shown before the reload and follows the conversation from there. */
  restore(): void {
    const saved = this.load();
    if (saved === null) {
      return;
    }
    this.id = saved.id;
    this.last = BigInt(saved.serial);
    this.entries = saved.entries;
    this.starting = validStarting(saved.starting);
    if (this.id === "" && this.starting !== null) {
      // Left while its first Send was on its way: followed, in case the server has it (a
      // NotFound once the Send's time is up offers its sentence again).
      this.id = this.starting.id;
    }
    for (const e of this.entries) {
      this.view.add(e);
    }
    this.view.conversation(this.id);
    if (this.id !== "") {
      this.follow(); // else the log of a conversation lost, kept until the next sentence's
    }
  }

  /** Queues a sentence; resolves to false when it was not queued (the caller keeps the text). */
  send(sentence: string): Promise<boolean> {
    // One Send at a time: the first one creates the conversation the next ones belong to.
    const sent = this.sending.then(() => this.sendNow(sentence));
    // The chain goes on whatever became of this one.
    this.sending = sent.then(
      () => undefined,
      () => undefined,
    );
    return sent;
  }

  /**
   * The browser lost its network: the watch stops, rather than failing and backing off until
   * it gives up waiting longer than the network was gone, and the page says so. (Chromium ends
   * its connections when the network changes, a Watch open then too.)
   */
  goneOffline(): void {
    this.offline = true;
    this.following?.abort();
    this.following = null;
    this.view.health("offline", offlineText);
  }

  /** The network is back: the conversation is followed again at once, not after a backoff. */
  backOnline(): void {
    if (!this.offline) {
      return; // followed again already, by a Send that got through
    }
    this.offline = false;
    if (this.id === "") {
      this.view.health("idle", "Ready.");
      return;
    }
    this.follow();
  }

  /** Follows the conversation again after the watch was refused (a token was missing). */
  resume(): void {
    if (this.id !== "") {
      this.follow();
    }
  }

  /**
   * Keeps the conversation under key from now on: another token's place. A conversation
   * started with a token belongs to its client, and no other caller may follow it, so each
   * token has a conversation of its own on the page: this leaves the one followed and shows
   * and follows what key holds, or nothing until the next sentence. Switching back shows the
   * first again. The same key follows the conversation again (resume).
   */
  switchTo(key: string, then?: () => void): void {
    this.afterSends(() => {
      then?.();
      if (key === this.key) {
        this.resume();
        return;
      }
      this.key = key;
      this.superseded = false; // another tab's move of the key left behind is not this one's
      this.reload();
    });
  }

  /**
   * Follows what the storage now keeps under the key, when another tab changed it to another
   * conversation (started a new one, or left it): as a reload would. The same conversation,
   * written by a tab that shows it too, changes nothing.
   */
  moved(): void {
    if ((this.load()?.id ?? "") === this.id) {
      return;
    }
    // Until then, what this tab shows is not saved: the events of its Sends on their way
    // would write the conversation it leaves back over the other tab's.
    this.superseded = true;
    const key = this.key;
    this.afterSends(() => {
      if (this.key !== key) {
        return; // switched to another key meanwhile (switchTo), which this move is not of
      }
      this.superseded = false;
      if ((this.load()?.id ?? "") !== this.id) {
        this.reload();
      } else {
        this.save(); // written back meanwhile: what this tab showed since is kept
      }
    });
  }

  /**
   * Runs change once the Sends on their way have their answers, and before the next ones: a
   * Send answered after the conversation changed under it would take the change for its
   * conversation lost, and send its sentence again to the other one. A change that throws
   * leaves the Sends after it to go.
   */
  private afterSends(change: () => void): void {
    this.sending = this.sending.then(change).catch((err: unknown) => {
      console.error("switching conversations:", err);
    });
  }

  /** Shows and follows what the storage keeps under the key, as a reload of the page would. */
  private reload(): void {
    this.leave();
    this.starting = null;
    this.offered = "";
    this.entries = [];
    this.enqueuedAt.clear();
    this.view.clear();
    this.restore();
  }

  /** Leaves the conversation: the next sentence starts a new one. */
  forget(): void {
    this.leave();
    this.starting = null;
    this.offered = "";
    this.entries = [];
    this.storage.removeItem(this.key);
    this.view.clear();
  }

  /**
   * Leaves a conversation the server no longer has (expired, or a standalone server that
   * restarted): what was shown stays, with note, and the next sentence starts a new
   * conversation whose events follow in the same log (all of it kept across reloads).
   */
  private lose(note: string): void {
    this.leave();
    this.starting = null;
    this.offered = "";
    this.show({ kind: "note", text: note }); // saved with the log, under no conversation
  }

  /** Stops following the conversation; the next sentence starts a new one. */
  private leave(): void {
    this.following?.abort();
    this.following = null;
    this.id = "";
    this.last = 0n;
    this.view.conversation("");
    this.view.health(this.offline ? "offline" : "idle", this.offline ? offlineText : "Ready.");
  }

  private async sendNow(sentence: string, fresh = false): Promise<boolean> {
    const sentTo = this.id;
    // The id of the conversation this Send may start, kept (Starting) with when it went
    // before it goes: until its timeout has passed, it may be on its way.
    let starts = "";
    let before = 0;
    if (sentTo === "") {
      // A new conversation, its id chosen here.
      starts = this.starting?.id ?? (this.offered || newId());
      this.offered = "";
      this.starting = { id: starts, sentence: sentence.length <= keptChars ? sentence : "", startedAt: Date.now() };
      this.save();
    } else if (this.starting?.id === sentTo) {
      // Followed after a reload, its first Send not known to have got there: this one may
      // start it too. The sentence offered again, should neither get there, stays the first's
      // (what becomes of this one the log says, as of any Send).
      starts = sentTo;
      before = this.starting.startedAt;
      this.starting = { ...this.starting, startedAt: Date.now() };
      this.save();
    }
    // The server answered this Send: it is on its way no more. Unless it was the only one, or
    // the server has the conversation now, the first Send's fate is as unknown as it was.
    const settle = (started: boolean) => {
      if (starts === "" || this.starting?.id !== starts) {
        return; // left meanwhile (forget)
      }
      this.starting = started || sentTo === "" ? null : { ...this.starting, startedAt: before };
      this.save();
    };
    let res;
    try {
      // afterSerial: a conversation swept away meanwhile is NotFound, not started again
      // under its id.
      res = await this.client.send(
        { conversationId: sentTo !== "" ? sentTo : starts, sentence, afterSerial: sentTo !== "" ? this.last : 0n },
        { timeoutMs: sendTimeoutMs },
      );
    } catch (err) {
      const e = ConnectError.from(err);
      if (refusedByServer(e.code)) {
        // It queued nothing. (Not so a call that failed on the way, or ran out of time: it
        // may have got there.)
        settle(false);
      }
      if (e.code === Code.NotFound && sentTo === "" && !fresh) {
        // The id kept from a start long ago has expired since: a new one.
        this.starting = null;
        return this.sendNow(sentence, true);
      }
      if (e.code === Code.NotFound && sentTo !== "") {
        // The conversation expired, or was swept away, while the watch had nothing to say: the
        // sentence is kept for the next, which starts a new one.
        if (this.id === sentTo) {
          this.lose(`That conversation cannot be continued (${e.rawMessage}). Send your sentence again to start a new one.`);
        }
        return false;
      }
      if (refusedByServer(e.code)) {
        const hint = e.code === Code.Unauthenticated ? " (set your token below)" : "";
        this.show({ kind: "refused", text: `not sent: ${e.rawMessage}${hint}`, about: sentence });
        // Sent again as it is, it would be refused again; but a sentence refused for what it
        // says (too long, say) is kept in its field to be mended, and one refused for its
        // caller (no token, or one refused; the anonymous rate) to be sent again once the
        // token is set or a moment has passed.
        return !keptWhenRefused(e.code);
      }
      // Said in the log rather than on the status line, which tells of the conversation's
      // watch and would go on saying so after the server is back (with no conversation yet,
      // nothing would change it); and not as unsent: the server may have queued it and the
      // answer been lost on the way back, when the watch shows its "enqueued" all the same.
      const why =
        e.code === Code.DeadlineExceeded
          ? `the server did not answer within ${sendTimeoutMs / 60_000} minutes`
          : `the server could not be reached (${e.rawMessage})`;
      this.show({ kind: "refused", text: `${why}; unless it shows as enqueued, send it again`, about: sentence });
      return false;
    }
    // A job (queued, or "not confirmed") is the conversation's.
    settle(res.kind === Kind.ENQUEUED || res.jobId !== "");
    // The server was reached, whatever the browser said of its network (a server on this
    // machine, say): the conversation is followed (below).
    this.offline = false;
    if (sentTo !== "" && this.id !== sentTo) {
      // The watch found the conversation gone while this Send was on its way, and a server
      // that lost it (a standalone one, restarted) started it again under the old id for
      // this sentence: sent again, it starts the new conversation instead.
      return this.sendNow(sentence);
    }
    this.view.health("online", "Connected.");
    if (res.kind !== Kind.ENQUEUED) {
      // Refusals are not events of the conversation: they are shown here, not watched. The
      // sentence stays in its field, to be sent again when the queue has room, the quota
      // allows or the queue is back; but not one "not confirmed" (a job that may be answered
      // yet, as the proto says of KIND_ERROR), which sent again could be answered twice.
      this.show({ kind: "refused", text: res.sentence, about: sentence });
      return res.jobId !== "" && res.sentence.startsWith("not confirmed");
    }
    if (sentTo !== "" && res.serial !== 0n && res.serial <= this.last && this.enqueuedAt.get(res.jobId) !== res.serial) {
      // Serials only grow, and the event shown at this one was not this sentence's own
      // "enqueued": the server no longer had the conversation (swept after CONVERSATION_TTL,
      // or a standalone server restarted), and this sentence started it again under the same
      // id, as a server older than afterSerial does. Its events would be taken for ones shown
      // already; continued under that id, the log would mix two conversations. The sentence
      // starts a new one instead.
      this.lose(`That conversation was no longer on the server: "${sentence}" starts a new one.`);
      return this.sendNow(sentence);
    }
    if (this.id === "") {
      this.id = res.conversationId;
      this.view.conversation(this.id);
      this.save();
      this.follow();
    } else {
      // The server is back: no need to sit out the backoff. A watch refused the caller (a
      // client disabled, then enabled again) has stopped: a Send that gets through starts it.
      this.follow();
      this.wake();
    }
    return true;
  }

  /** Follows the conversation until forget, reopening the Watch with backoff. */
  private follow(): void {
    if (this.id === "" || this.following !== null) {
      return; // no conversation (left meanwhile), or followed already
    }
    if (this.offline) {
      this.view.health("offline", offlineText); // followed once the network is back (backOnline)
      return;
    }
    const ctl = new AbortController();
    this.following = ctl;
    void this.watchLoop(ctl.signal);
  }

  private async watchLoop(signal: AbortSignal): Promise<void> {
    let wait = firstWaitMs;
    // Whether the last Watch got through: its break is then taken as one to come back from.
    let connected = false;
    while (!signal.aborted) {
      const online = () => {
        connected = true;
        this.view.health("online", "Connected.");
      };
      // The server has the conversation: it said where its history ends, or sent an event.
      const heard = () => {
        online();
        if (this.starting?.id === this.id) {
          this.starting = null;
          this.save();
        }
      };
      // Taken as connected after settleMs, but not as the server having the conversation: a
      // slow server may yet answer NotFound, when the conversation being started did not get
      // there.
      const settled = setTimeout(online, settleMs);
      try {
        // Connected once the headers come with where the history ends (a front door sends
        // them at once; an error's headers have no such header), or after settleMs (a front
        // door from before it sends its headers with its first event).
        const stream = this.client.watch(
          { conversationId: this.id, afterSerial: this.last },
          { signal, onHeader: (h) => h.has("eliza-last-serial") && heard() },
        );
        for await (const ev of stream) {
          heard();
          wait = firstWaitMs;
          this.event(ev);
        }
        // The server ended the stream without an error: come back at once. (A front door
        // shutting down ends it with Unavailable, taken below like any break: the watch comes
        // back after the first wait, by when another front door answers, and the page says
        // it is reconnecting meanwhile.)
        wait = firstWaitMs;
      } catch (err) {
        if (signal.aborted) {
          return;
        }
        const e = ConnectError.from(err);
        const retrying = `retrying in ${Math.round(wait / 100) / 10} s`;
        const starting = this.starting?.id === this.id ? this.starting : null;
        if (e.code === Code.NotFound && starting !== null && Math.abs(Date.now() - starting.startedAt) < sendTimeoutMs) {
          // The server has no such conversation yet, but its first Send may still be on its
          // way: sent from another tab, or from this page just before a reload while the
          // server was still at it. Looked for again until the Send's time is up (a clock set
          // back meanwhile waits no longer than that either).
          this.view.health("reconnecting", `The conversation is not on the server yet: its first sentence may be on its way; ${retrying}.`);
        } else if (e.code === Code.NotFound && starting !== null) {
          // The page was left before its first Send came back, the Send's time is up, and the
          // server has no such conversation: the Send did not get there.
          this.following = null;
          this.offerAgain(starting);
          return;
        } else if (e.code === Code.NotFound || e.code === Code.InvalidArgument) {
          this.lose(`That conversation cannot be continued (${e.rawMessage}). Your next sentence starts a new one.`);
          return;
        } else if (e.code === Code.Unauthenticated || e.code === Code.PermissionDenied) {
          // Retrying will not help until the token changes (resume), or the client is enabled
          // again (the next Send that gets through).
          this.following = null;
          const then = e.code === Code.Unauthenticated ? "Set your token below." : "A sentence sent once it is enabled again follows the conversation.";
          this.view.health("offline", `The server refused: ${e.rawMessage}. ${then}`);
          return;
        } else if (connected) {
          this.view.health("reconnecting", "Connection lost; reconnecting…");
        } else if (answered(e)) {
          // The server was reached, and said it could not (its database out of reach, say).
          this.view.health("offline", `The server cannot follow the conversation right now (${e.rawMessage}); ${retrying}.`);
        } else {
          this.view.health("offline", `Cannot reach the server (${e.rawMessage}); ${retrying}.`);
        }
        connected = false;
      } finally {
        clearTimeout(settled);
      }
      await this.pause(wait, signal);
      wait = Math.min(2 * wait, maxWaitMs);
    }
  }

  /**
   * Offers again the sentence of a conversation whose first Send did not get there, to start
   * the conversation under the same id (so that, had it got there after all, it is not started
   * twice): once the Sends on their way have their answers, one of which may have started it
   * meanwhile. Nothing is done when the page has moved on meanwhile (another token's
   * conversation, another tab's, or this one lost): the note and the sentence are not that
   * one's.
   */
  private offerAgain(starting: Starting): void {
    const { key, id } = this;
    this.afterSends(() => {
      if (this.key !== key || this.id !== id) {
        return;
      }
      if (this.starting !== starting) {
        // A Send started it meanwhile, or went to it (and may be on its way): followed again.
        this.follow();
        return;
      }
      this.leave();
      this.starting = null; // saved with the note (show): a reload does not offer it again
      this.offered = id;
      const { sentence } = starting;
      let text: string;
      if (sentence === "") {
        text = "Your sentence did not reach the server before the page was left, and was too long to be kept here: send it again.";
      } else if (this.view.unsent(sentence)) {
        text = `“${sentence}” did not reach the server before the page was left: it is back in its field, to send again.`;
      } else {
        text = `“${sentence}” did not reach the server before the page was left: send it again.`; // the field holds something else
      }
      this.show({ kind: "note", text });
    });
  }

  /** Waits ms with up to a fifth more at random, or until a Send gets through. */
  private pause(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        this.wake = () => {};
        resolve();
      };
      const timer = setTimeout(done, ms * (1 + Math.random() / 5));
      signal.addEventListener("abort", done);
      this.wake = done;
    });
  }

  /** Shows an event once: those at or before the last serial shown were shown already. */
  private event(ev: QueueConversationResponse): void {
    if (ev.serial <= this.last) {
      return;
    }
    this.last = ev.serial;
    const serial = ev.serial.toString();
    const id = `${this.id}:${serial}`; // the same in every tab that shows it
    switch (ev.kind) {
      case Kind.ENQUEUED:
        this.enqueuedAt.set(ev.jobId, ev.serial);
        if (this.enqueuedAt.size > keptEnqueued) {
          this.enqueuedAt.delete(this.enqueuedAt.keys().next().value as string); // the oldest
        }
        this.show({ kind: "enqueued", text: ev.inReplyTo, serial, id });
        break;
      case Kind.REPLY:
        this.show({ kind: "reply", text: ev.sentence, serial, about: ev.inReplyTo, id });
        break;
      default:
        this.show({ kind: "error", text: ev.sentence, serial, about: ev.inReplyTo, id });
    }
  }

  private show(shown: Omit<Entry, "id"> & { id?: string }): void {
    // A sentence pasted whole into the field may be megabytes (and is refused): shown and kept
    // whole, a few filled the storage, after which nothing more was kept.
    const entry: Entry = {
      ...shown,
      id: shown.id ?? newId(),
      text: clip(shown.text),
      ...(shown.about !== undefined && { about: clip(shown.about) }),
    };
    this.view.add(entry);
    // Kept with the events, notes too: after a reload, the note that a conversation was lost
    // still stands between its events and the next one's, whose serials start again at 1.
    this.entries.push(entry);
    if (this.entries.length > keptEntries) {
      this.entries.splice(0, this.entries.length - keptEntries);
    }
    this.save();
  }

  private load(): Saved | null {
    try {
      const raw = this.storage.getItem(this.key);
      if (raw === null) {
        return null;
      }
      const saved = JSON.parse(raw) as Saved;
      if (typeof saved.id !== "string" || !/^\d+$/.test(saved.serial) || !Array.isArray(saved.entries)) {
        return null;
      }
      // Entries saved before they had ids are given ones by where they stand: every tab that
      // reads the same log gives the same, until one saves them.
      saved.entries = saved.entries.map((e, i) => (typeof e.id === "string" ? e : { ...e, id: `saved:${i}` }));
      return saved;
    } catch {
      return null; // unreadable: start afresh rather than not at all
    }
  }

  /** Keeps the conversation's place and log; with no id, the log of one lost (lose). */
  private save(): void {
    if (this.superseded) {
      return;
    }
    // An id followed but not yet known to the server is kept as the conversation Starting.
    const id = this.starting?.id === this.id ? "" : this.id;
    // Another tab of the conversation may have shown what this one has not (a refusal, a note)
    // and saved it: kept, or this save would write it over.
    const stored = this.load();
    const entries = stored !== null && stored.id === id ? merge(this.entries, stored.entries) : this.entries;
    for (let kept = entries.length; ; kept = Math.floor(kept / 2)) {
      const saved: Saved = { id, serial: this.last.toString(), entries: entries.slice(entries.length - kept) };
      if (this.starting !== null) {
        saved.starting = this.starting;
      }
      try {
        this.storage.setItem(this.key, JSON.stringify(saved));
        return;
      } catch {
        // Storage full (other pages' too), or disabled (private browsing): the older half of
        // the log goes, until what is left fits; with none, the page works, and a reload
        // starts afresh.
        if (kept === 0) {
          return;
        }
      }
    }
  }
}

/** A Starting read back from storage, or null when there is none or it is not one. */
function validStarting(s: unknown): Starting | null {
  if (typeof s !== "object" || s === null) {
    return null;
  }
  const { id, sentence, startedAt } = s as Partial<Starting>;
  if (typeof id !== "string" || id === "" || typeof sentence !== "string") {
    return null;
  }
  return { id, sentence, startedAt: typeof startedAt === "number" && Number.isFinite(startedAt) ? startedAt : 0 };
}

/**
 * The log of mine with the refusals and notes of theirs (another tab's saved log of the same
 * conversation) that it lacks, each after the entry it came after there that mine has too: in
 * the order they were shown, near when. Events mine lacks are left out: shown after the
 * serial saved with mine, they would be shown again after a reload (and this tab shows them
 * itself when its watch gets to them). At most keptEntries, the oldest dropped.
 */
function merge(mine: Entry[], theirs: Entry[]): Entry[] {
  const have = new Set(mine.map((e) => e.id));
  // Theirs that mine lacks, by the id of the entry of mine they come after ("" for none).
  const after = new Map<string, Entry[]>();
  let anchor = "";
  for (const e of theirs) {
    if (have.has(e.id)) {
      anchor = e.id;
    } else if (e.serial === undefined) {
      after.set(anchor, [...(after.get(anchor) ?? []), e]);
    }
  }
  if (after.size === 0) {
    return mine;
  }
  const merged = [...(after.get("") ?? [])];
  for (const e of mine) {
    merged.push(e, ...(after.get(e.id) ?? []));
  }
  return merged.slice(-keptEntries);
}

/** A random (version 4) UUID. crypto.randomUUID is only there on https and localhost pages. */
function newId(): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** s, or its first keptChars characters and an ellipsis. */
function clip(s: string): string {
  return s.length <= keptChars ? s : `${s.slice(0, keptChars)}…`;
}

/** Whether an error came in the server's answer (which has headers), not from failing to reach it. */
function answered(e: ConnectError): boolean {
  return !e.metadata.keys().next().done;
}

/** Refusals after which the sentence stays in its field: refused for what it says, or for its caller. */
function keptWhenRefused(code: Code): boolean {
  switch (code) {
    case Code.InvalidArgument:
    case Code.Unauthenticated:
    case Code.PermissionDenied:
    case Code.ResourceExhausted:
      return true;
    default:
      return false;
  }
}

/** Codes with which the server answered the request itself, as against not being reached. */
export function refusedByServer(code: Code): boolean {
  switch (code) {
    case Code.InvalidArgument:
    case Code.NotFound:
    case Code.FailedPrecondition:
    case Code.ResourceExhausted:
    case Code.PermissionDenied:
    case Code.Unauthenticated:
    case Code.Unimplemented:
      return true;
    default:
      return false;
  }
}
