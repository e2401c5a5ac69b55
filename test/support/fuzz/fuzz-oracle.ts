import type { Element } from "@xmpp/xml";
import { BENCH_SECRET, nodeOf } from "../seed.js";
import { attr, isEl, named, text, type XEl } from "./fuzz-tree.js";
import { NS, SEEDED } from "./fuzz-world.js";

// The oracle: what each generated case may be answered (judge, at generation time, from the tree the
// server will parse) and whether the replies that came are allowed (ReplyOracle, as they arrive).
// Checked: exactly one reply per IQ get/set id and none to anything else; a reply goes back to the
// sender; `result` only where judge allowed it (a publish naming a seeded node with the right secret
// from the served domain); a registration completed only for the served domain; every error has a
// valid type and a stanza-error condition and echoes nothing of the request; no reply carries the
// secret or a token of the request.

export interface Case {
  n: number;
  label: string;
  bytes: Buffer;
  /** undefined: no id attribute. */
  id: string | undefined;
  from: string | undefined;
  /** Replies expected for this id: exactly `expect` (get/set), 0 (result/error/message/…), at most 1 (other iq types). */
  expect: number | "at-most-one";
  /** `result` is allowed: the publish names a seeded node with the right secret from the served domain, or another kind of request. */
  resultAllowed: boolean;
  /** Strings that must appear in no reply (secrets, tokens of the request). */
  forbidden: string[];
  /** An unmutated valid publish: must be answered `result`. */
  control: boolean;
  sends: number;
}

const ERROR_TYPES = new Set(["cancel", "wait", "modify", "auth"]);
const SEEDED_NODES = new Set(Array.from({ length: SEEDED }, (_, i) => nodeOf(i)));

function domainOfJid(jid: string): string {
  const bare = jid.split("/")[0]!;
  return bare.slice(bare.lastIndexOf("@") + 1).toLowerCase();
}

export function judge(t: XEl): Pick<Case, "expect" | "resultAllowed"> {
  const type = attr(t, "type");
  const expect = t.name !== "iq" ? 0 : type === "get" || type === "set" ? 1 : type === "result" || type === "error" ? 0 : "at-most-one";
  const payloads = t.children.filter(isEl);
  if (payloads.length !== 1) return { expect, resultAllowed: false };
  const p = payloads[0]!;
  const from = attr(t, "from");
  if (p.name === "pubsub") {
    // Over-approximation of a valid publish: the served domain, some publish naming a seeded node,
    // some secret field whose value is the right secret.
    const fromOk = from !== undefined && from.toLowerCase() === "localhost";
    const nodeOk = named(p, "publish").some(({ el }) => SEEDED_NODES.has(attr(el, "node") ?? ""));
    const secretOk = named(p, "field").some(
      ({ el }) => attr(el, "var") === "secret" && named(el, "value").some(({ el: v }) => text(v).trim() === BENCH_SECRET),
    );
    return { expect, resultAllowed: fromOk && nodeOk && secretOk };
  }
  // Registrations: checked on the reply (a completed registration only for the served domain).
  if (p.name === "command") return { expect, resultAllowed: true };
  return { expect, resultAllowed: p.name === "query" || p.name === "ping" };
}

/** Replies that carry no usable id (none, or empty): only their number can be checked. */
interface IdlessCount {
  expected: number;
  maxExpected: number;
  got: number;
}

/** Every reply the component sent, matched to the case it answers and checked against what judge allowed. */
export class ReplyOracle {
  readonly violations: string[] = [];
  readonly figures = { replies: 0, results: 0, cancel: 0, wait: 0, modify: 0, auth: 0, maxErrorTextChars: 0 };
  /** Error replies by `type/condition`. */
  readonly conditions = new Map<string, number>();
  controls = 0;
  controlsOk = 0;
  longestErrorText = "";
  private readonly byId = new Map<string, { c: Case; got: number }>();
  private readonly noId: IdlessCount = { expected: 0, maxExpected: 0, got: 0 };
  private readonly emptyId: IdlessCount = { expected: 0, maxExpected: 0, got: 0 };

  violation(c: Case | undefined, what: string): void {
    if (this.violations.length < 50) this.violations.push(`${what} [case ${c?.n ?? "?"} ${c?.label ?? ""}]`);
    else if (this.violations.length === 50) this.violations.push("… more");
  }

  /** A case about to be sent: the replies it must get, and may get. */
  expectReplies(c: Case): void {
    if (c.control) this.controls += 1;
    const want = c.expect === "at-most-one" ? 0 : c.expect * c.sends;
    const maxWant = c.expect === "at-most-one" ? 1 : want;
    if (c.id === undefined || c.id === "") {
      const count = c.id === undefined ? this.noId : this.emptyId;
      count.expected += want;
      count.maxExpected += maxWant;
    } else {
      if (this.byId.has(c.id)) throw new Error(`generator bug: id ${c.id} used twice`);
      this.byId.set(c.id, { c, got: 0 });
    }
  }

  /** One stanza the component sent. */
  take(el: Element): void {
    const id = el.attrs.id;
    if (id === undefined || id === "") {
      (id === undefined ? this.noId : this.emptyId).got += 1;
      this.check(el, undefined);
      return;
    }
    const slot = this.byId.get(id);
    if (!slot) {
      this.violations.push(`a reply with an id nobody sent: ${el.toString().slice(0, 200)}`);
      return;
    }
    slot.got += 1;
    const max = slot.c.expect === "at-most-one" ? 1 : slot.c.expect * slot.c.sends;
    if (slot.got > max) this.violation(slot.c, `${slot.got} replies for one id (expected ${max})`);
    this.check(el, slot.c);
  }

  /** The cases (with an id) still short of the replies they must get. */
  unanswered(cases: readonly Case[]): Case[] {
    return cases.filter(
      (c) => c.id !== undefined && c.id !== "" && c.expect !== "at-most-one" && this.byId.get(c.id)!.got < c.expect * c.sends,
    );
  }

  /** Every reply that must come without a usable id has come (more may still: checkIdlessCounts says). */
  idlessAnswered(): boolean {
    return this.noId.got >= this.noId.expected && this.emptyId.got >= this.emptyId.expected;
  }

  /** Once everything is in: the replies without a usable id, counted against what their cases allow. */
  checkIdlessCounts(): void {
    const { noId, emptyId } = this;
    if (noId.got < noId.expected || noId.got > noId.maxExpected)
      this.violations.push(`replies without id: ${noId.got}, expected ${noId.expected}..${noId.maxExpected}`);
    if (emptyId.got < emptyId.expected || emptyId.got > emptyId.maxExpected)
      this.violations.push(`replies with id="": ${emptyId.got}, expected ${emptyId.expected}..${emptyId.maxExpected}`);
  }

  private check(el: Element, c: Case | undefined): void {
    this.figures.replies += 1;
    const s = el.toString();
    if (s.includes(BENCH_SECRET)) this.violation(c, "a reply contains the publish secret");
    for (const f of c?.forbidden ?? []) if (s.includes(f)) this.violation(c, `a reply contains a request value: ${f.slice(0, 40)}`);
    if (el.name !== "iq") return this.violation(c, `not an iq: ${s.slice(0, 200)}`);
    // ASCII only: invalid UTF-8 in a from arrives as U+FFFD (a character split between two reads is
    // checked in hostile-stream.test.ts).
    if (c && c.from !== undefined && /^[\x20-\x7e]*$/.test(c.from) && el.attrs.to !== c.from)
      this.violation(c, `reply to=${String(el.attrs.to).slice(0, 60)} but request from=${c.from.slice(0, 60)}`);
    if (el.attrs.type === "result") return this.checkResult(el, s, c);
    if (el.attrs.type !== "error") return this.violation(c, `reply type ${el.attrs.type}`);
    this.checkError(el, s, c);
  }

  private checkResult(el: Element, s: string, c: Case | undefined): void {
    this.figures.results += 1;
    if (c && !c.resultAllowed) this.violation(c, `answered result: ${s.slice(0, 300)}`);
    if (c?.control) this.controlsOk += 1;
    // A registration completes only for an account of the served domain (or an IQ without from).
    const command = el.getChild("command", NS.commands);
    if (
      command?.attrs.status === "completed" &&
      /^(register-|v1-register)/.test(command.attrs.node ?? "") &&
      c?.from !== undefined &&
      c.from !== "" &&
      domainOfJid(c.from) !== "localhost"
    ) {
      this.violation(c, `registered a device for ${c.from.slice(0, 60)}`);
    }
  }

  private checkError(el: Element, s: string, c: Case | undefined): void {
    if (c?.control) this.violation(c, `a valid publish was answered ${s.slice(0, 300)}`);
    const children = el.getChildElements();
    if (children.length !== 1 || children[0]!.name !== "error")
      return this.violation(c, `an error reply carries more than its <error/>: ${s.slice(0, 300)}`);
    const error = children[0]!;
    const type = error.attrs.type ?? "";
    if (!ERROR_TYPES.has(type)) this.violation(c, `error type "${type}"`);
    else this.figures[type as "cancel" | "wait" | "modify" | "auth"] += 1;
    const inner = error.getChildElements();
    const condition = inner[0];
    if (!condition || condition.name === "text" || condition.attrs.xmlns !== NS.stanzas)
      return this.violation(c, `no stanza-error condition: ${s.slice(0, 300)}`);
    this.conditions.set(`${type}/${condition.name}`, (this.conditions.get(`${type}/${condition.name}`) ?? 0) + 1);
    for (const extra of inner.slice(1)) {
      if (extra.name !== "text" || extra.attrs.xmlns !== NS.stanzas) this.violation(c, `unexpected <${extra.name}/> in an error`);
      if (extra.text().length > this.figures.maxErrorTextChars) {
        this.figures.maxErrorTextChars = extra.text().length;
        this.longestErrorText = `${type}/${condition.name} [${c?.label ?? ""}]: ${extra.text()}`;
      }
    }
    for (const echo of ["<pubsub", "<publish", "<command", "<x ", "<field", NS.data])
      if (s.includes(echo)) this.violation(c, `an error reply echoes the request (${echo})`);
  }
}
