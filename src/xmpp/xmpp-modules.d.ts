// Minimal types for the parts of xmpp.js 0.13.1 we use: no @types package covers @xmpp/component-core,
// and the published @types for @xmpp/xml describe 0.14.

declare module "@xmpp/xml" {
  type Attrs = Record<string, string | number | undefined>;
  type Child = Element | string | undefined | null | false;
  export class Element {
    constructor(name: string, attrs?: Attrs);
    name: string;
    attrs: Record<string, string>;
    children: Array<Element | string>;
    parent: Element | null;
    is(name: string, xmlns?: string): boolean;
    getName(): string;
    getNS(): string | undefined;
    getAttr(name: string): string | undefined;
    getChild(name: string, xmlns?: string): Element | undefined;
    getChildren(name: string, xmlns?: string): Element[];
    getChildElements(): Element[];
    getChildText(name: string, xmlns?: string): string | null;
    getText(): string;
    text(): string;
    append(...children: Child[]): Element;
    c(name: string, attrs?: Attrs): Element;
    t(text: string): Element;
    toString(): string;
  }
  export class Parser {
    constructor();
    on(event: "start" | "element" | "end", listener: (el: Element) => void): this;
    on(event: "error", listener: (err: Error) => void): this;
    write(data: string): void;
    end(data?: string): void;
  }
  function xml(name: string, attrs?: Attrs | null, ...children: Array<Child | Child[]>): Element;
  namespace xml {
    export { Element, Parser };
    export function escapeXML(s: string): string;
  }
  export = xml;
}

declare module "@xmpp/jid" {
  class JID {
    local: string;
    domain: string;
    resource: string;
    bare(): JID;
    toString(): string;
    getLocal(): string;
    getDomain(): string;
    getResource(): string;
  }
  function jid(address: string): JID;
  namespace jid {
    export { JID };
    export function parse(address: string): JID;
  }
  export = jid;
}

declare module "@xmpp/component-core" {
  import type { EventEmitter } from "node:events";
  import type { Socket } from "node:net";
  import type { Element } from "@xmpp/xml";
  export class Component extends EventEmitter {
    constructor(options: { service: string; domain: string });
    status: string;
    socket: Socket | null;
    timeout: number;
    options: { service: string; domain: string };
    start(): Promise<unknown>;
    stop(): Promise<unknown>;
    authenticate(id: string, password: string): Promise<void>;
    send(element: Element): Promise<void>;
    /** Writes serialised XML as it is (what send() does after serialising). */
    write(text: string): Promise<void>;
    sendMany(elements: Element[]): Promise<void>;
  }
}

declare module "@xmpp/reconnect" {
  import type { EventEmitter } from "node:events";
  interface Reconnect extends EventEmitter {
    delay: number;
    stop(): void;
  }
  function reconnect(options: { entity: unknown }): Reconnect;
  export = reconnect;
}
