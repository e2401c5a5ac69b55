import { createHash, randomBytes } from "node:crypto";
import { createServer, type Server, type Socket } from "node:net";
import xml, { type Element } from "@xmpp/xml";

// The XMPP server's side of XEP-0114, just enough to host our component: it accepts the component's
// stream, checks the handshake, and lets a test (or the benchmark, or the fuzzer) send stanzas to the
// component and read its replies. Loopback only. For protocol behaviour of real servers, the
// integration tests use real Prosody and ejabberd; this is for load, faults and hostile input.

export interface FakeXmppServer {
  readonly port: number;
  readonly service: string;
  readonly componentDomain: string;
  readonly secret: string;
  /** Component connections that completed the handshake, over the server's life. */
  readonly handshakes: number;
  /** Resolves once a component is connected and authenticated. */
  waitForComponent(timeoutMs?: number): Promise<void>;
  isConnected(): boolean;
  /** Writes raw text to the component (for malformed-input tests). */
  sendRaw(text: string): void;
  /** Sends an IQ and resolves with the component's reply (result or error), matched by id. */
  iq(stanza: Element | string, timeoutMs?: number): Promise<Element>;
  /** Like iq(), but the UTF-8 bytes go out in two writes split at byte `splitAt` (the id must be set). */
  iqInTwoReads(text: string, id: string, splitAt: number): Promise<Element>;
  /** Every stanza the component sent that was not a reply to iq(). */
  readonly unsolicited: Element[];
  /** Drops the component's TCP connection without a stream close, as a crashing server does. */
  dropConnection(): void;
  /** Stops accepting connections (and drops the current one) until resume(). */
  pause(): Promise<void>;
  resume(): Promise<void>;
  stop(): Promise<void>;
}

const NS_STREAM = "http://etherx.jabber.org/streams";

export async function startFakeXmppServer(
  opts: { componentDomain?: string; secret?: string; port?: number } = {},
): Promise<FakeXmppServer> {
  const componentDomain = opts.componentDomain ?? "push.localhost";
  const secret = opts.secret ?? "fake-server-secret";
  let current: { socket: Socket; authenticated: boolean } | undefined;
  let handshakes = 0;
  const waiters = new Map<string, { resolve: (el: Element) => void; timer: NodeJS.Timeout }>();
  const connectedWaiters = new Set<() => void>();
  const unsolicited: Element[] = [];
  let seq = 0;

  const onConnection = (socket: Socket) => {
    if (current) {
      // One connection per component domain, as Prosody does.
      socket.end(`<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>`);
      return;
    }
    const state = { socket, authenticated: false };
    current = state;
    const streamId = randomBytes(8).toString("hex");
    const parser = new xml.Parser();
    parser.on("start", () => {
      socket.write(
        `<?xml version='1.0'?><stream:stream xmlns:stream='${NS_STREAM}' xmlns='jabber:component:accept' from='${componentDomain}' id='${streamId}'>`,
      );
    });
    parser.on("element", (el) => {
      if (!state.authenticated) {
        const expected = createHash("sha1")
          .update(streamId + secret)
          .digest("hex");
        if (el.name === "handshake" && el.text() === expected) {
          state.authenticated = true;
          handshakes += 1;
          socket.write("<handshake/>");
          for (const w of connectedWaiters) w();
          connectedWaiters.clear();
        } else {
          socket.end("<stream:error><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>");
        }
        return;
      }
      const id = el.attrs.id;
      const w =
        el.name === "iq" && id !== undefined && (el.attrs.type === "result" || el.attrs.type === "error") ? waiters.get(id) : undefined;
      if (w) {
        waiters.delete(id!);
        clearTimeout(w.timer);
        w.resolve(el);
      } else if (unsolicited.length < 10_000) {
        unsolicited.push(el);
      }
    });
    // Our peer closed its stream (after a stream error, say): close ours too, as Prosody and ejabberd do.
    parser.on("end", () => socket.end("</stream:stream>"));
    parser.on("error", () => socket.destroy());
    socket.setEncoding("utf8");
    socket.on("data", (d: string) => parser.write(d));
    socket.on("error", () => undefined);
    socket.on("close", () => {
      if (current === state) current = undefined;
    });
  };

  const server: Server = createServer(onConnection);
  let port = opts.port ?? 0;
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => {
        server.off("error", reject);
        port = (server.address() as { port: number }).port;
        resolve();
      });
    });
  await listen();

  const write = (text: string) => {
    if (!current?.authenticated) throw new Error("no component connected");
    current.socket.write(text);
  };

  return {
    port,
    service: `xmpp://127.0.0.1:${port}`,
    componentDomain,
    secret,
    get handshakes() {
      return handshakes;
    },
    unsolicited,
    isConnected: () => current?.authenticated === true,
    waitForComponent(timeoutMs = 10_000) {
      if (current?.authenticated) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          connectedWaiters.delete(done);
          reject(new Error("no component connected in time"));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          resolve();
        };
        connectedWaiters.add(done);
      });
    },
    sendRaw: write,
    iq(stanza, timeoutMs = 10_000) {
      const el = typeof stanza === "string" ? parseStanza(stanza) : stanza;
      el.attrs.id ??= `fake-${++seq}`;
      el.attrs.to ??= componentDomain;
      const id = el.attrs.id;
      return new Promise<Element>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(id);
          reject(new Error(`no reply to iq ${id} within ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.set(id, { resolve, timer });
        try {
          write(el.toString());
        } catch (err) {
          clearTimeout(timer);
          waiters.delete(id);
          reject(err as Error);
        }
      });
    },
    iqInTwoReads(text, id, splitAt) {
      const bytes = Buffer.from(text, "utf8");
      return new Promise<Element>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(id);
          reject(new Error(`no reply to iq ${id}`));
        }, 10_000);
        waiters.set(id, { resolve, timer });
        if (!current?.authenticated) return reject(new Error("no component connected"));
        const socket = current.socket;
        socket.write(bytes.subarray(0, splitAt));
        setTimeout(() => socket.write(bytes.subarray(splitAt)), 50);
      });
    },
    dropConnection() {
      current?.socket.destroy();
      current = undefined;
    },
    async pause() {
      current?.socket.destroy();
      current = undefined;
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
    async resume() {
      await listen();
    },
    async stop() {
      for (const w of waiters.values()) clearTimeout(w.timer);
      current?.socket.destroy();
      current = undefined;
      await new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve()));
    },
  };
}

/** One stanza from its text, parsed as the component stream would (jabber:component:accept). */
export function parseStanza(text: string): Element {
  let el: Element | undefined;
  const p = new xml.Parser();
  p.on("element", (e) => (el = e));
  p.write(`<s xmlns='jabber:component:accept'>${text}`);
  if (!el) throw new Error("not one XML element");
  return el;
}
