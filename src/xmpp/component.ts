import { Component } from "@xmpp/component-core";
import reconnect from "@xmpp/reconnect";
import type { Element } from "@xmpp/xml";
import type { Logger } from "../observability/logger.js";
import type { Clock } from "../ports/clock.js";
import { guardStreamInput, type StanzaClaim } from "./stream-guard.js";

// We assemble the entity from component-core + reconnect ourselves instead of using @xmpp/component:
// its iqCallee answers every unrouted IQ with cancel/service-unavailable (ejabberd deletes the user's
// push registration on the first non-wait error) and its error replies echo the request, publish
// secret included (iq/callee.js at v0.13.1). Our iq-router answers every IQ itself.

export type ConnectionState = "offline" | "connecting" | "online";

export interface ComponentConnection {
  readonly domain: string;
  state(): ConnectionState;
  /** Called for every incoming stanza (iq, message, presence) that no claim took. */
  onStanza(handler: (stanza: Element) => void): void;
  /** Offered each incoming top-level stanza's text first; one it takes (returns true) is never parsed. */
  claimStanzas(claim: StanzaClaim): void;
  onStateChange(handler: (state: ConnectionState) => void): void;
  /** Sends when online; returns false when the stanza could not be written. */
  send(stanza: Element): Promise<boolean>;
  /** Sends a stanza already serialised (well-formed, escaped XML); as send(). */
  sendText(stanza: string): Promise<boolean>;
  start(): void;
  stop(): Promise<void>;
}

export interface ComponentOptions {
  service: string;
  domain: string;
  secret?: string | undefined;
  reconnectMaxDelayMs: number;
  maxStanzaBytes: number;
  clock: Clock;
  log: Logger;
}

const FIRST_RETRY_MS = 100;
// While the server stays away, log the wait every this often instead of on every attempt.
const WAITING_LOG_INTERVAL_MS = 60_000;

export function createComponentConnection({
  service,
  domain,
  secret,
  reconnectMaxDelayMs,
  maxStanzaBytes,
  clock,
  log,
}: ComponentOptions): ComponentConnection {
  const entity = new Component({ service, domain });
  let claim: StanzaClaim | undefined;
  guardStreamInput(entity, log, maxStanzaBytes, (text) => {
    if (claim === undefined) return false;
    try {
      return claim(text);
    } catch (err) {
      // A claim that fails leaves the stanza to the parser: it is answered the ordinary way.
      log.error({ err }, "reading a stanza's text failed; parsing it instead");
      return false;
    }
  });
  // Handshake and close timeouts (xmpp.js default 2 s) are fine on a LAN; allow a busy server more.
  entity.timeout = 5000;
  let stanzaHandler: (stanza: Element) => void = () => undefined;
  const stateHandlers: Array<(s: ConnectionState) => void> = [];
  let current: ConnectionState = "offline";
  let stopped = true;
  let failures = 0;
  let downSince: number | undefined;
  let lastWaitLog = 0;
  let corked = false;

  const setState = (s: ConnectionState) => {
    if (s === current) return;
    current = s;
    for (const h of stateHandlers) h(s);
  };

  entity.on("open", (el: Element) => {
    if (secret === undefined) {
      log.error({ service, domain }, "no component secret configured (XMPP_PUSH_COMPONENT_SECRET); cannot authenticate");
    }
    entity.authenticate(el.attrs.id ?? "", secret ?? "").catch((err: unknown) => entity.emit("error", err));
  });

  entity.on("status", (status: string) => {
    if (status === "online" && stopped) {
      // A connection attempt that was already under way when we stopped: do not serve from it.
      entity.stop().catch(() => undefined);
      return;
    }
    if (status === "online") {
      const wasDownMs = downSince === undefined ? 0 : clock.now().getTime() - downSince;
      failures = 0;
      downSince = undefined;
      lastWaitLog = 0;
      entity.socket?.setKeepAlive(true, 30_000);
      // A reply is one small write: Nagle's algorithm would hold it until the server acknowledges the
      // previous one, which at everyday rates (a push every few ms) adds milliseconds to every reply.
      // Replies of one event-loop turn still leave in one write (send() corks the socket).
      entity.socket?.setNoDelay(true);
      log.info({ service, domain, downMs: wasDownMs }, "component connected");
      setState("online");
    } else if (status === "connecting") {
      if (current !== "online") setState("connecting");
    }
  });

  // Registered before @xmpp/reconnect's own listener, so the delay we set is the one it uses.
  entity.on("disconnect", () => {
    if (current === "online" && !stopped) log.warn({ service, domain }, "component disconnected; reconnecting");
    setState(stopped ? "offline" : "connecting");
    downSince ??= clock.now().getTime();
    failures += 1;
    const backoff = Math.min(reconnectMaxDelayMs, FIRST_RETRY_MS * 2 ** Math.min(failures - 1, 16));
    retry.delay = Math.round(backoff / 2 + Math.random() * (backoff / 2));
  });

  entity.on("error", (err: Error & { code?: string; condition?: string }) => {
    if (stopped) return;
    const condition = err.condition;
    if (condition === "not-authorized") {
      log.error(
        { service, domain },
        "the XMPP server rejected the component secret: check XMPP_PUSH_COMPONENT_SECRET and the server's component config",
      );
    } else if (condition === "host-unknown" || condition === "improper-addressing") {
      log.error({ service, domain, condition }, "the XMPP server does not know this component domain: add it to the server's config");
    } else if (condition === "conflict") {
      log.warn({ service, domain }, "another connection already serves this component domain");
    } else if (err.code === "ECONNREFUSED" || err.code === "ECONNRESET" || err.code === "EHOSTUNREACH" || err.code === "ETIMEDOUT") {
      const now = clock.now().getTime();
      if (now - lastWaitLog >= WAITING_LOG_INTERVAL_MS) {
        lastWaitLog = now;
        log.warn({ service, domain, code: err.code }, "waiting for the XMPP server (component port not reachable); retrying");
      }
    } else {
      log.warn({ service, domain, err: { message: err.message, code: err.code, condition } }, "component connection error");
    }
  });

  entity.on("stanza", (stanza: Element) => stanzaHandler(stanza));

  // Replies produced in one turn of the event loop leave in one write (one syscall, not one each).
  // False when not online (nothing may be sent).
  const corkForTurn = (): boolean => {
    if (entity.status !== "online") return false;
    const socket = entity.socket;
    if (socket && !corked) {
      corked = true;
      socket.cork();
      process.nextTick(() => {
        corked = false;
        socket.uncork();
      });
    }
    return true;
  };

  /** Whether a write (send or sendText) went out; false when offline or the socket refused it. */
  const written = async (write: () => Promise<void>): Promise<boolean> => {
    if (!corkForTurn()) return false;
    try {
      await write();
      return true;
    } catch {
      return false;
    }
  };

  // Created per start(): @xmpp/reconnect detaches itself for good on stop().
  let retry: ReturnType<typeof reconnect> = { delay: 0, stop: () => undefined } as unknown as ReturnType<typeof reconnect>;

  return {
    domain,
    state: () => current,
    onStanza(handler) {
      stanzaHandler = handler;
    },
    onStateChange(handler) {
      stateHandlers.push(handler);
    },
    claimStanzas(handler) {
      claim = handler;
    },
    send: (stanza) => written(() => entity.send(stanza)),
    sendText: (stanza) => written(() => entity.write(stanza)),
    start() {
      if (!stopped && current !== "offline") return;
      stopped = false;
      retry = reconnect({ entity });
      setState("connecting");
      // A failed first attempt ends in "disconnect", which schedules the next one.
      entity.start().catch(() => undefined);
    },
    async stop() {
      stopped = true;
      retry.stop();
      try {
        await entity.stop();
      } catch {
        // not connected: nothing to close
      }
      setState("offline");
    },
  };
}
