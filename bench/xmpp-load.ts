import { createHash, randomBytes } from "node:crypto";
import { connect, createServer, type Socket } from "node:net";
import xml, { type Element } from "@xmpp/xml";

// The load generator: sends publish IQs shaped exactly like Prosody's
// (test/fixtures/captured/prosody-default-body.xml) and times each reply by its id. Two ways to reach
// the app server under test: play the XMPP server's side of XEP-0114 (startXmppLoad: the app server
// connects to us), or connect as a second component of a real Prosody, which routes our publishes to
// the app server's component and its replies back (connectXmppLoad).

export interface LoadStats {
  sent: number;
  replied: number;
  results: number;
  errors: Map<string, number>;
  /** Reply latencies in ms, in arrival order. */
  latencies: number[];
}

export interface XmppLoad {
  /** startXmppLoad: where the app server must connect ("xmpp://127.0.0.1:<port>"). */
  readonly service: string;
  waitForComponent(timeoutMs?: number): Promise<void>;
  publish(node: string, secret: string): void;
  outstanding(): number;
  /** Resolves when fewer than `max` publishes await a reply. */
  belowOutstanding(max: number): Promise<void>;
  stats(): LoadStats;
  resetStats(): void;
  stop(): Promise<void>;
}

const STREAM_NS = "xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:component:accept'";

const publishIq = (id: string, from: string, to: string, node: string, secret: string) =>
  `<iq to='${to}' id='${id}' type='set' from='${from}'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='${node}'><item><notification xmlns='urn:xmpp:push:0'><x type='form' xmlns='jabber:x:data'><field var='FORM_TYPE' type='hidden'><value>urn:xmpp:push:summary</value></field><field var='message-count' type='text-single'><value>1</value></field><field var='pending-subscription-count' type='text-single'/><field var='last-message-sender' type='jid-single'/><field var='last-message-body' type='text-single'><value>New Message!</value></field></x></notification></item></publish><publish-options><x type='submit' xmlns='jabber:x:data'><field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field><field var='secret'><value>${secret}</value></field></x></publish-options></pubsub></iq>`;

const handshakeOf = (streamId: string, secret: string) =>
  createHash("sha1")
    .update(streamId + secret)
    .digest("hex");

/** Publish bookkeeping on an authenticated stream: ids in flight, reply latencies, error kinds. */
function publisher(from: string, to: string) {
  let socket: Socket | undefined;
  const inflight = new Map<string, number>();
  const drainWaiters: Array<{ max: number; resolve: () => void }> = [];
  let seq = 0;
  let stats: LoadStats = { sent: 0, replied: 0, results: 0, errors: new Map(), latencies: [] };
  return {
    attach(s: Socket | undefined) {
      socket = s;
    },
    onReply(el: Element) {
      const id = el.attrs.id as string | undefined;
      const sentAt = id === undefined ? undefined : inflight.get(id);
      if (sentAt === undefined) return;
      inflight.delete(id!);
      stats.replied += 1;
      stats.latencies.push(performance.now() - sentAt);
      if (el.attrs.type === "result") stats.results += 1;
      else {
        const err = el.getChild("error");
        const key = `${err?.attrs.type ?? "?"}/${err?.getChildElements()[0]?.name ?? "?"}`;
        stats.errors.set(key, (stats.errors.get(key) ?? 0) + 1);
      }
      for (let i = drainWaiters.length - 1; i >= 0; i--) {
        if (inflight.size < drainWaiters[i]!.max) drainWaiters.splice(i, 1)[0]!.resolve();
      }
    },
    publish(node: string, secret: string) {
      if (!socket) return;
      const id = `b${++seq}`;
      inflight.set(id, performance.now());
      stats.sent += 1;
      socket.write(publishIq(id, from, to, node, secret));
    },
    outstanding: () => inflight.size,
    belowOutstanding(max: number): Promise<void> {
      if (inflight.size < max) return Promise.resolve();
      return new Promise((resolve) => drainWaiters.push({ max, resolve }));
    },
    stats: () => stats,
    resetStats() {
      stats = { sent: 0, replied: 0, results: 0, errors: new Map(), latencies: [] };
    },
  };
}

/** What both ways of reaching the app server share: the publisher's side of XmppLoad. */
function loadApi(
  pub: ReturnType<typeof publisher>,
): Pick<XmppLoad, "publish" | "outstanding" | "belowOutstanding" | "stats" | "resetStats"> {
  const { publish, outstanding, belowOutstanding, stats, resetStats } = pub;
  return { publish, outstanding, belowOutstanding, stats, resetStats };
}

function withTimeout(p: Promise<void>, ms: number, what: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<void>((_, rej) => (timer = setTimeout(() => rej(new Error(what)), ms)))]).finally(() =>
    clearTimeout(timer),
  );
}

/** Plays the XMPP server: the app server connects to us as its component (publishes from 'localhost'). */
export async function startXmppLoad({ componentDomain, secret }: { componentDomain: string; secret: string }): Promise<XmppLoad> {
  let socket: Socket | undefined;
  let ready: (() => void) | undefined;
  const readyP = new Promise<void>((r) => (ready = r));
  const pub = publisher("localhost", componentDomain);

  const server = createServer((s) => {
    if (socket) {
      s.destroy();
      return;
    }
    socket = s;
    s.setNoDelay(true);
    const streamId = randomBytes(8).toString("hex");
    const parser = new xml.Parser();
    let authed = false;
    parser.on("start", () => s.write(`<?xml version='1.0'?><stream:stream ${STREAM_NS} from='${componentDomain}' id='${streamId}'>`));
    parser.on("element", (el: Element) => {
      if (authed) return pub.onReply(el);
      if (el.name === "handshake" && el.text() === handshakeOf(streamId, secret)) {
        authed = true;
        s.write("<handshake/>");
        pub.attach(s);
        ready?.();
      } else s.destroy();
    });
    s.setEncoding("utf8");
    s.on("data", (d: string) => parser.write(d));
    s.on("error", () => undefined);
    s.on("close", () => {
      socket = undefined;
      pub.attach(undefined);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;

  return {
    service: `xmpp://127.0.0.1:${port}`,
    waitForComponent: (timeoutMs = 30_000) => withTimeout(readyP, timeoutMs, "the app server did not connect"),
    ...loadApi(pub),
    async stop() {
      socket?.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/**
 * Connects as a component of a real XMPP server (XEP-0114) and publishes, from its own domain, to the
 * app server's component: the XMPP server routes every publish and every reply, as in production.
 */
export async function connectXmppLoad(opts: { port: number; domain: string; secret: string; appComponent: string }): Promise<XmppLoad> {
  const pub = publisher(opts.domain, opts.appComponent);
  const s = connect({ host: "127.0.0.1", port: opts.port, noDelay: true });
  const parser = new xml.Parser();
  let authed = false;
  const ready = new Promise<void>((resolve, reject) => {
    parser.on("start", (el: Element) => s.write(`<handshake>${handshakeOf(String(el.attrs.id), opts.secret)}</handshake>`));
    parser.on("element", (el: Element) => {
      if (authed) return pub.onReply(el);
      if (el.name === "handshake") {
        authed = true;
        pub.attach(s);
        resolve();
      } else reject(new Error(`the XMPP server refused the load component: ${el.toString()}`));
    });
    s.once("error", reject);
  });
  s.on("connect", () => s.write(`<?xml version='1.0'?><stream:stream ${STREAM_NS} to='${opts.domain}'>`));
  s.setEncoding("utf8");
  s.on("data", (d: string) => parser.write(d));
  s.on("error", () => undefined);
  await withTimeout(ready, 10_000, "the load component did not authenticate");
  return {
    service: "",
    waitForComponent: () => Promise.resolve(),
    ...loadApi(pub),
    async stop() {
      pub.attach(undefined);
      s.end("</stream:stream>");
      s.destroy();
    },
  };
}
