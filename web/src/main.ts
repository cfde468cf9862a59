// The chat page: a queued conversation (Send + Watch), Say and Introduce, over Connect or
// gRPC-Web. By default it talks to the server that served it; `?server=URL` points it at
// another one (whose CORS_ALLOWED_ORIGINS must then list this page's origin) and
// `?protocol=grpc-web` switches the protocol.

import { ConnectError, createClient, type Transport } from "@connectrpc/connect";
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

function transport(baseUrl: string, protocol: string): Transport {
  return protocol === "grpc-web" ? createGrpcWebTransport({ baseUrl }) : createConnectTransport({ baseUrl });
}

/** A failed call in words: the server's own message when it answered, else that it was not reached. */
function describe(err: unknown): string {
  const e = ConnectError.from(err);
  return refusedByServer(e.code) ? e.rawMessage : `cannot reach the server (${e.rawMessage})`;
}

function start(): void {
  const params = new URLSearchParams(window.location.search);
  const baseUrl = (params.get("server") ?? window.location.origin).replace(/\/+$/, "");
  const protocol = params.get("protocol") === "grpc-web" ? "grpc-web" : "connect";
  const client = createClient(ElizaService, transport(baseUrl, protocol));
  element("server").textContent = baseUrl;
  element("protocol").textContent = protocol === "grpc-web" ? "gRPC-Web" : "Connect";

  const log = element<HTMLOListElement>("log");
  const status = element("status");
  const conversationLabel = element("conversation");
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
    },
    window.localStorage,
    `eliza.conversation:${baseUrl}`,
  );

  const sentence = element<HTMLInputElement>("sentence");
  element<HTMLFormElement>("send-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const text = sentence.value;
    sentence.value = "";
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

  const sayInput = element<HTMLInputElement>("say-sentence");
  const sayAnswer = element("say-answer");
  element<HTMLFormElement>("say-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    sayAnswer.classList.remove("bad");
    sayAnswer.textContent = "…";
    client.say({ sentence: sayInput.value }).then(
      (res) => {
        sayAnswer.textContent = res.sentence;
      },
      (err: unknown) => {
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
    void (async () => {
      try {
        for await (const res of client.introduce({ name: nameInput.value })) {
          const li = document.createElement("li");
          li.textContent = res.sentence;
          introduction.append(li);
        }
      } catch (err) {
        const li = document.createElement("li");
        li.textContent = describe(err);
        introduction.classList.add("bad");
        introduction.append(li);
      }
    })();
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
