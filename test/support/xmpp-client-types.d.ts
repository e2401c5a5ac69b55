// Minimal types for the parts of @xmpp/client 0.14 the test users need: the package ships no types.
// Elements are ltx Elements in both xmpp.js versions, so the local @xmpp/xml (0.13) types describe them.

declare module "@xmpp/client" {
  import type { EventEmitter } from "node:events";
  import type { Socket } from "node:net";
  import type { Element } from "@xmpp/xml";
  import type { JID } from "@xmpp/jid";

  export type Authenticate = (credentials: { username: string; password: string }, mechanism: string) => Promise<void>;

  /** Called instead of the built-in mechanism choice (index.js lib/createOnAuthenticate.js). */
  export type OnAuthenticate = (authenticate: Authenticate, mechanisms: string[], fast: unknown, entity: XmppClient) => Promise<void>;

  export interface ClientOptions {
    service: string;
    domain?: string;
    resource?: string;
    username?: string;
    password?: string;
    credentials?: OnAuthenticate | { username: string; password: string };
    timeout?: number;
  }

  /** The XEP-0198 state object of @xmpp/stream-management. */
  export interface StreamManagement extends EventEmitter {
    enabled: boolean;
    id: string;
    inbound: number;
    outbound: number;
    /** ms without an <a/> after an <r/> before disconnecting. */
    timeout: number;
    requestAckInterval: number;
  }

  export interface Reconnect extends EventEmitter {
    delay: number;
    start(): void;
    stop(): void;
  }

  export interface XmppClient extends EventEmitter {
    status: string;
    jid: JID | null;
    socket: Socket | null;
    /** Stream open/close timeout in ms (default 2000). */
    timeout: number;
    options: ClientOptions;
    start(): Promise<JID>;
    stop(): Promise<unknown>;
    disconnect(): Promise<unknown>;
    send(element: Element): Promise<void>;
    reconnect: Reconnect;
    streamManagement: StreamManagement;
  }

  export function client(options: ClientOptions): XmppClient;
  export const xml: typeof import("@xmpp/xml");
}
