// The chat page: a queued conversation (Send + Watch), Say and Introduce, over Connect or
// gRPC-Web. By default it talks to the server that served it; `?server=URL` points it at
// another one (whose CORS_ALLOWED_ORIGINS must then list this page's origin) and
// `?protocol=grpc-web` switches the protocol.

import { Code, ConnectError, createClient, type Interceptor, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";
import { ElizaService } from "./gen/connectrpc/eliza/v1/eliza_pb.js";
import { Conversation, type Entry, type Health, refusedByServer } from "./conversation.js";

function element<T extends HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (el === null) {
    throw new Error(`the page has no #${id}`);
  }
  return el as T;
}

function transport(baseUrl: string, protocol: string, token: () => string): Transport {
  // The token, when there is one, goes with every call.
  const bearer: Interceptor = (next) => (req) => {
    const t = token();
    if (t !== "") {
      req.header.set("Authorization", `Bearer ${t}`);
    }
    return next(req);
  };
  const options = { baseUrl, interceptors: [bearer] };
  return protocol === "grpc-web" ? createGrpcWebTransport(options) : createConnectTransport(options);
}

/** FNV-1a of s, 32 bits in hex: tells tokens apart in a storage key without spelling one out. */
function fnv32(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, "0");
}

/** A failed call in words: the server's own message when it answered, else that it was not reached. */
// blank says whether text has nothing to read: only spaces, control and format characters
// (a zero-width space), which the server refuses as empty (internal/visible).
function blank(text: string): boolean {
  return !/[^\s\p{Cc}\p{Cf}]/u.test(text);
}

/** The longest Say, and Introduce's whole stream, are waited for. */
const callTimeoutMs = 30_000;

function describe(err: unknown): string {
  const e = ConnectError.from(err);
  if (e.code === Code.DeadlineExceeded) {
    return `the server did not answer within ${callTimeoutMs / 1000} s`;
  }
  return refusedByServer(e.code) ? e.rawMessage : `cannot reach the server (${e.rawMessage})`;
}

function start(): void {
  const params = new URLSearchParams(window.location.search);
  // ?server=host:port without a scheme is taken as http://host:port: as it was, the browser
  // read it as a path of the page's own server, and the calls failed there.
  const given = params.get("server");
  const server = given === null ? window.location.origin : /^[a-z][a-z0-9+.-]*:\/\//i.test(given) ? given : `http://${given}`;
  const baseUrl = server.replace(/\/+$/, "");
  const protocol = params.get("protocol") === "grpc-web" ? "grpc-web" : "connect";
  const tokenKey = `eliza.token:${baseUrl}`;
  const storedToken = (): string => {
    try {
      return window.localStorage.getItem(tokenKey) ?? "";
    } catch {
      return "";
    }
  };
  // The token this page's calls carry: the one its conversation was chosen for. The stored
  // one can change under it (another tab saving or clearing its token), and a call sent with
  // the other tab's token to this tab's conversation would find it another client's, or no
  // one's; the page switches with it instead (below).
  let token = storedToken();
  // Each token has a conversation of its own on the page (one started with a token is its
  // client's alone), kept under a key that a short hash of the token tells apart.
  const conversationKey = (t: string): string =>
    t === "" ? `eliza.conversation:${baseUrl}` : `eliza.conversation:${baseUrl}:${fnv32(t)}`;
  const client = createClient(ElizaService, transport(baseUrl, protocol, () => token));
  // Say and Introduce belong to no conversation: they carry the token saved, from the moment
  // it is saved, even while the conversation's switch waits for its Sends.
  const calls = createClient(ElizaService, transport(baseUrl, protocol, storedToken));
  element("server").textContent = baseUrl;
  element("protocol").textContent = protocol === "grpc-web" ? "gRPC-Web" : "Connect";

  const log = element<HTMLOListElement>("log");
  const status = element("status");
  const conversationLabel = element("conversation");
  const sentence = element<HTMLInputElement>("sentence");
  const conversation = new Conversation(
    client,
    {
      add(entry: Entry) {
        const li = document.createElement("li");
        li.dataset.kind = entry.kind;
        if (entry.serial !== undefined) {
          li.dataset.serial = entry.serial;
        }
        const tag = document.createElement("span");
        tag.className = "tag";
        tag.textContent = tagFor(entry);
        const text = document.createElement("span");
        text.className = "text";
        text.textContent = entry.text;
        li.append(tag, text);
        log.append(li);
        log.scrollTop = log.scrollHeight;
      },
      clear() {
        log.replaceChildren();
      },
      health(state: Health, text: string) {
        status.dataset.state = state;
        status.textContent = text;
      },
      conversation(id: string) {
        conversationLabel.textContent = id === "" ? "No conversation yet." : `Conversation ${id}`;
      },
      unsent(text: string) {
        if (sentence.value !== "") {
          return false; // what is typed there stays
        }
        sentence.value = text;
        return true;
      },
    },
    window.localStorage,
    conversationKey(token),
  );

  element<HTMLFormElement>("send-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const text = sentence.value;
    if (blank(text)) {
      sentence.focus(); // nothing to say: not sent, for the server to refuse
      return;
    }
    sentence.value = "";
    sentence.focus(); // after a click on Send too, so that typing goes on in the field
    void conversation.send(text).then((sent) => {
      if (!sent && sentence.value === "") {
        sentence.value = text; // not sent: keep it to send again
      }
    });
  });
  element("new-conversation").addEventListener("click", () => {
    conversation.forget();
    sentence.focus();
  });

  // A form submitted again ends its call before: a late answer to it would otherwise take the
  // place of the new one's (Say), or go into the new one's list (Introduce).
  const inFlight = new Map<string, AbortController>();
  const supersede = (form: string): AbortSignal => {
    inFlight.get(form)?.abort();
    const ctl = new AbortController();
    inFlight.set(form, ctl);
    return ctl.signal;
  };
  const sayInput = element<HTMLInputElement>("say-sentence");
  const sayAnswer = element("say-answer");
  element<HTMLFormElement>("say-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    sayAnswer.classList.remove("bad");
    sayAnswer.textContent = "…";
    const signal = supersede("say");
    calls.say({ sentence: sayInput.value }, { timeoutMs: callTimeoutMs, signal }).then(
      (res) => {
        sayAnswer.textContent = res.sentence;
      },
      (err: unknown) => {
        if (signal.aborted) {
          return; // another Say took its place
        }
        sayAnswer.classList.add("bad");
        sayAnswer.textContent = describe(err);
      },
    );
  });

  const nameInput = element<HTMLInputElement>("introduce-name");
  const introduction = element<HTMLOListElement>("introduce-answer");
  element<HTMLFormElement>("introduce-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    introduction.classList.remove("bad");
    introduction.replaceChildren();
    const signal = supersede("introduce");
    void (async () => {
      try {
        for await (const res of calls.introduce({ name: nameInput.value }, { timeoutMs: callTimeoutMs, signal })) {
          const li = document.createElement("li");
          li.textContent = res.sentence;
          introduction.append(li);
        }
      } catch (err) {
        if (signal.aborted) {
          return; // another Introduce took its place
        }
        const li = document.createElement("li");
        li.textContent = describe(err);
        introduction.classList.add("bad");
        introduction.append(li);
      }
    })();
  });

  const tokenInput = element<HTMLInputElement>("token");
  const tokenState = element("token-state");
  // What is saved, said as soon as it is (a switch still waiting for its Sends would write it
  // later over what the form said meanwhile: a token not saved, say).
  const showToken = (t: string) => {
    tokenState.textContent = t === "" ? "No token: calls are anonymous." : "A token is saved for this server.";
  };
  element<HTMLFormElement>("token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const entered = tokenInput.value.trim();
    if (!/^[\x21-\x7e]*$/.test(entered)) {
      // A header carries only such characters: the browser would refuse every call, as if the
      // server could not be reached. (One pasted with a typographic "…" for its end, say.)
      tokenState.textContent = "Not saved: a token is letters, digits and punctuation of ASCII, as `eliza clients add` or `eliza tokens add` prints it (eliza_…).";
      return;
    }
    try {
      if (entered === "") {
        window.localStorage.removeItem(tokenKey);
      } else {
        window.localStorage.setItem(tokenKey, entered);
      }
    } catch {
      tokenState.textContent = "This browser does not keep the token (storage is disabled).";
      return;
    }
    tokenInput.value = "";
    // The token's own conversation; the same token's again (a watch refused for want of a
    // token tries again).
    useToken(entered);
  });
  // useToken says that t is saved, at once, and shows and follows t's conversation from now on,
  // its calls carrying t: once the Sends on their way have their answers, with the token they
  // were sent with (a Send, or a watch reconnecting, with the new token and the old
  // conversation would find it another client's).
  const useToken = (t: string) => {
    showToken(t);
    conversation.switchTo(conversationKey(t), () => {
      token = t;
    });
  };
  if (token !== "") {
    element<HTMLDetailsElement>("token-section").open = false;
  }
  showToken(token);
  // Another tab of this page saved or cleared the token, or started or left the
  // conversation: this one follows, so that every tab shows the conversation the browser
  // keeps for the token, and none writes another's over it.
  window.addEventListener("storage", (ev) => {
    if (ev.storageArea !== window.localStorage) {
      return;
    }
    if (ev.key === null || ev.key === tokenKey) {
      useToken(storedToken());
    }
    if (ev.key === null || ev.key === conversationKey(token)) {
      conversation.moved();
    }
  });

  // The browser says when its network goes and comes back: the page says so, rather than that
  // the server cannot be reached, and follows the conversation again at once once it is back.
  // (Only the changes: navigator.onLine read at the start can say offline on a machine whose
  // only network is its own, where a server on it answers all the same.)
  window.addEventListener("offline", () => {
    conversation.goneOffline();
  });
  window.addEventListener("online", () => {
    conversation.backOnline();
  });

  conversation.restore();
  document.body.dataset.ready = "true";
}

function tagFor(entry: Entry): string {
  switch (entry.kind) {
    case "enqueued":
      return "You · enqueued";
    case "reply":
      return "ELIZA";
    case "error":
      return `Error · to “${entry.about ?? ""}”`;
    case "refused":
      return `Not queued · “${entry.about ?? ""}”`;
    default:
      return "Note";
  }
}

start();
