import { createHash, randomBytes } from "node:crypto";
import { createServer, type Socket } from "node:net";
import xml from "@xmpp/xml";

// The load generator: plays the XMPP server's side of XEP-0114 for the app server under test (accepts
// its component connection, checks the handshake), sends publish IQs shaped exactly like Prosody's
// (test/fixtures/captured/prosody-default-body.xml) and times each reply by its id.

export interface LoadStats {
  sent: number;
  replied: number;
  results: number;
  errors: Map<string, number>;
  /** Reply latencies in ms, in arrival order. */
  latencies: number[];
}

export interface XmppLoad {
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

const publishIq = (id: string, node: string, secret: string) =>
  `<iq to='push.localhost' id='${id}' type='set' from='localhost'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='${node}'><item><notification xmlns='urn:xmpp:push:0'><x type='form' xmlns='jabber:x:data'><field var='FORM_TYPE' type='hidden'><value>urn:xmpp:push:summary</value></field><field var='message-count' type='text-single'><value>1</value></field><field var='pending-subscription-count' type='text-single'/><field var='last-message-sender' type='jid-single'/><field var='last-message-body' type='text-single'><value>New Message!</value></field></x></notification></item></publish><publish-options><x type='submit' xmlns='jabber:x:data'><field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field><field var='secret'><value>${secret}</value></field></x></publish-options></pubsub></iq>`;

export async function startXmppLoad({ componentDomain, secret }: { componentDomain: string; secret: string }): Promise<XmppLoad> {
  let socket: Socket | undefined;
  let ready: (() => void) | undefined;
  const readyP = new Promise<void>((r) => (ready = r));
  const inflight = new Map<string, number>();
  const drainWaiters: Array<{ max: number; resolve: () => void }> = [];
  let seq = 0;
  let stats: LoadStats = { sent: 0, replied: 0, results: 0, errors: new Map(), latencies: [] };

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
    parser.on("start", () =>
      s.write(
        `<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:component:accept' from='${componentDomain}' id='${streamId}'>`,
      ),
    );
    parser.on("element", (el) => {
      if (!authed) {
        if (
          el.name === "handshake" &&
          el.text() ===
            createHash("sha1")
              .update(streamId + secret)
              .digest("hex")
        ) {
          authed = true;
          s.write("<handshake/>");
          ready?.();
        } else s.destroy();
        return;
      }
      const id = el.attrs.id;
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
    });
    s.setEncoding("utf8");
    s.on("data", (d: string) => parser.write(d));
    s.on("error", () => undefined);
    s.on("close", () => (socket = undefined));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;

  return {
    service: `xmpp://127.0.0.1:${port}`,
    async waitForComponent(timeoutMs = 30_000) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        readyP,
        new Promise((_, rej) => (timer = setTimeout(() => rej(new Error("the app server did not connect")), timeoutMs))),
      ]);
      clearTimeout(timer);
    },
    publish(node, sec) {
      if (!socket) return;
      const id = `b${++seq}`;
      inflight.set(id, performance.now());
      stats.sent += 1;
      socket.write(publishIq(id, node, sec));
    },
    outstanding: () => inflight.size,
    belowOutstanding(max) {
      if (inflight.size < max) return Promise.resolve();
      return new Promise((resolve) => drainWaiters.push({ max, resolve }));
    },
    stats: () => stats,
    resetStats() {
      stats = { sent: 0, replied: 0, results: 0, errors: new Map(), latencies: [] };
    },
    async stop() {
      socket?.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
