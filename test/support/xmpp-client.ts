import { client as createClient, xml, type OnAuthenticate, type XmppClient } from "@xmpp/client";
import type { Element } from "@xmpp/xml";

// XMPP users (alice, bob, ...) for integration tests, on @xmpp/client 0.14 against the loopback
// Prosody/ejabberd of test/support/servers/xmpp-servers.ts (no TLS).

export interface TestUser {
  /** Full JID after resource binding. */
  readonly jid: string;
  readonly bareJid: string;
  readonly client: XmppClient;
  /** Sends an IQ (the caller sets type and to) and resolves with the reply, type=error included. */
  iq(el: Element, timeoutMs?: number): Promise<Element>;
  /** XEP-0357 §5 <enable/> to the user's own server; the reply, type=error included. */
  enablePush(opts: { jid: string; node: string; secret?: string; extraFields?: Record<string, string> }): Promise<Element>;
  /** XEP-0357 §6 <disable/>; without node, every registration with that push service is removed. */
  disablePush(opts: { jid: string; node?: string }): Promise<Element>;
  sendMessage(to: string, body: string): Promise<void>;
  /** The next <message/> received (any type), in arrival order. */
  nextMessage(timeoutMs?: number): Promise<Element>;
  /** Clean logout (</stream:stream>); bounded, never hangs. */
  stop(): Promise<void>;
  /** Drops the TCP connection without </stream:stream>, as a phone losing its network does. */
  kill(): void;
}

export interface ConnectOptions {
  resource?: string;
  /**
   * Negotiate XEP-0198 (default false). Only for tests that need a hibernating session: off by default
   * because @xmpp/client 0.14 does not count the IQ replies its iqCaller consumes (iq/caller.js _route
   * does not call next(), so stream-management's counting middleware never sees them) and acks too
   * few stanzas. iq() below does not use iqCaller, so its replies are counted.
   */
  streamManagement?: boolean;
  /** Send initial presence after login (default true): servers deliver offline messages then. */
  presence?: boolean;
}

const NS_STREAMS = "http://etherx.jabber.org/streams";
const NS_SM = "urn:xmpp:sm:3";
const NS_PUSH = "urn:xmpp:push:0";
const CONNECT_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 3_000;
const DEFAULT_WAIT_MS = 10_000;

export async function connectUser(
  server: { c2sPort: number; domain: string },
  name: string,
  password: string,
  opts: ConnectOptions = {},
): Promise<TestUser> {
  const entity = createClient({
    service: `xmpp://127.0.0.1:${server.c2sPort}`,
    domain: server.domain,
    ...(opts.resource !== undefined && { resource: opts.resource }),
    credentials: plainOnly(name, password),
  });
  // A test decides when a user is online: @xmpp/reconnect would log a killed user back in after 1 s.
  entity.reconnect.stop();
  const errors: Error[] = [];
  // Without a listener an "error" event (ECONNRESET after kill(), a stream error) would throw.
  entity.on("error", (err: Error) => errors.push(err));
  const smNegotiated = opts.streamManagement === true ? streamManagementOutcome(entity) : undefined;
  if (opts.streamManagement !== true) hideStreamManagement(entity);

  const inbox = createInbox();
  const pendingIqs = new Map<string, { resolve: (reply: Element) => void; reject: (err: Error) => void }>();
  entity.on("stanza", (stanza: Element) => {
    if (stanza.name === "message") inbox.push(stanza);
    const pending = stanza.name === "iq" ? pendingIqs.get(stanza.attrs.id ?? "") : undefined;
    if (pending && (stanza.attrs.type === "result" || stanza.attrs.type === "error")) pending.resolve(stanza);
  });

  try {
    await withTimeout(entity.start(), CONNECT_TIMEOUT_MS, `${name}: login`);
    // "online" comes right after resource binding, before the server's <enabled/>.
    if (smNegotiated && !(await withTimeout(smNegotiated, CONNECT_TIMEOUT_MS, `${name}: stream management`))) {
      throw new Error("the server refused to enable stream management");
    }
    if (opts.presence !== false) await entity.send(xml("presence"));
  } catch (err) {
    entity.socket?.destroy();
    const seen = errors.map((e) => e.message).join("; ");
    throw new Error(
      `${name}@${server.domain} could not log in on port ${server.c2sPort}: ${errorText(err)}${seen ? ` (errors: ${seen})` : ""}`,
      {
        cause: err,
      },
    );
  }
  const fullJid = entity.jid?.toString() ?? "";
  let seq = 0;
  let closed = false;
  const close = (why: string) => {
    if (closed) return;
    closed = true;
    inbox.close(why);
    for (const [id, pending] of pendingIqs) pending.reject(new Error(`${fullJid}: no reply to iq ${id}, connection ${why}`));
  };
  // The server went away (stopped, restarted, kicked us): waits fail now instead of at their timeout.
  entity.on("disconnect", () => close("lost"));

  const iq = async (el: Element, timeoutMs = DEFAULT_WAIT_MS): Promise<Element> => {
    if (closed) throw new Error(`${fullJid}: iq after stop/kill`);
    el.attrs.id ??= `${name}-iq-${++seq}`;
    const id = el.attrs.id;
    const reply = new Promise<Element>((resolve, reject) => pendingIqs.set(id, { resolve, reject }));
    // close() may reject it while send() is still in flight, before anyone awaits it.
    reply.catch(() => undefined);
    try {
      await entity.send(el);
      return await withTimeout(reply, timeoutMs, `${fullJid}: no reply to iq ${id}`);
    } finally {
      pendingIqs.delete(id);
    }
  };

  return {
    jid: fullJid,
    bareJid: fullJid.split("/")[0] ?? fullJid,
    client: entity,
    iq,
    enablePush: ({ jid, node, secret, extraFields = {} }) => {
      // Shape of test/fixtures/captured/client-enable-iq.xml: publish-options form with FORM_TYPE + secret.
      const fields = { ...(secret !== undefined && { secret }), ...extraFields };
      const form =
        Object.keys(fields).length === 0
          ? undefined
          : xml(
              "x",
              { xmlns: "jabber:x:data", type: "submit" },
              field("FORM_TYPE", "http://jabber.org/protocol/pubsub#publish-options"),
              ...Object.entries(fields).map(([k, v]) => field(k, v)),
            );
      return iq(xml("iq", { type: "set" }, xml("enable", { xmlns: NS_PUSH, jid, node }, form)));
    },
    disablePush: ({ jid, node }) => iq(xml("iq", { type: "set" }, xml("disable", { xmlns: NS_PUSH, jid, node }))),
    sendMessage: async (to, body) => {
      await entity.send(xml("message", { to, type: "chat", id: `${name}-msg-${++seq}` }, xml("body", {}, body)));
    },
    nextMessage: (timeoutMs = DEFAULT_WAIT_MS) => inbox.next(timeoutMs, fullJid),
    stop: async () => {
      if (closed) return;
      close("stopped");
      try {
        await withTimeout(entity.stop(), STOP_TIMEOUT_MS, `${fullJid}: logout`);
      } catch {
        // The server did not close its side in time: drop the connection instead.
        entity.socket?.destroy();
      }
    },
    kill: () => {
      close("killed");
      entity.socket?.destroy();
    },
  };
}

/**
 * @xmpp/client picks the first mechanism other than PLAIN on an unencrypted stream: SCRAM-SHA-1, whose
 * pure-JS PBKDF2 takes ~1.5 s per login. On loopback PLAIN is as safe and instant (lib/createOnAuthenticate.js).
 */
function plainOnly(username: string, password: string): OnAuthenticate {
  return async (authenticate, mechanisms) => {
    const mechanism = mechanisms.includes("PLAIN") ? "PLAIN" : mechanisms[0];
    if (mechanism === undefined) throw new Error("the server offers no SASL mechanism we support");
    await authenticate({ username, password }, mechanism);
  };
}

/**
 * Removes <sm xmlns='urn:xmpp:sm:3'/> from <stream:features> before @xmpp/client's middleware sees
 * it, so its stream-management feature handler never runs and the session has no XEP-0198. The
 * listener is prepended: the middleware subscribed to "element" when the client was created.
 */
function hideStreamManagement(entity: XmppClient): void {
  entity.prependListener("element", (el: Element) => {
    if (!el.is("features", NS_STREAMS)) return;
    el.children = el.children.filter((c) => typeof c === "string" || !c.is("sm", NS_SM));
  });
}

/** Resolves true on <enabled/>, false on <failed/> (XEP-0198 §3). */
function streamManagementOutcome(entity: XmppClient): Promise<boolean> {
  return new Promise((resolve) => {
    const onElement = (el: Element) => {
      if (!el.is("enabled", NS_SM) && !el.is("failed", NS_SM)) return;
      entity.off("element", onElement);
      resolve(el.name === "enabled");
    };
    entity.on("element", onElement);
  });
}

function field(name: string, value: string): Element {
  return xml("field", { var: name }, xml("value", {}, value));
}

interface Inbox {
  push(el: Element): void;
  next(timeoutMs: number, who: string): Promise<Element>;
  close(why: string): void;
}

function createInbox(): Inbox {
  const queue: Element[] = [];
  const waiters: Array<{ resolve: (el: Element) => void; reject: (err: Error) => void }> = [];
  let closedWhy: string | undefined;
  return {
    push(el) {
      const w = waiters.shift();
      if (w) w.resolve(el);
      else queue.push(el);
    },
    next(timeoutMs, who) {
      const queued = queue.shift();
      if (queued) return Promise.resolve(queued);
      if (closedWhy !== undefined) return Promise.reject(new Error(`${who}: no message, connection ${closedWhy}`));
      return new Promise<Element>((resolve, reject) => {
        const waiter = {
          resolve: (el: Element) => {
            clearTimeout(timer);
            resolve(el);
          },
          reject: (err: Error) => {
            clearTimeout(timer);
            reject(err);
          },
        };
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(waiter), 1);
          reject(new Error(`${who}: no message within ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.push(waiter);
      });
    },
    close(why) {
      closedWhy = why;
      for (const w of waiters.splice(0)) w.reject(new Error(`no message, connection ${why}`));
    },
  };
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: timed out after ${ms} ms`)), ms);
  });
  // The losing promise may still reject later (e.g. a login failing after our timeout): keep it handled.
  p.catch(() => undefined);
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
