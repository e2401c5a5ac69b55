import { createHash } from "node:crypto";
import xml from "@xmpp/xml";
import { otherBase, publishBase } from "./fuzz-bases.js";
import { commandBase } from "./fuzz-command-base.js";
import { MUTATIONS } from "./fuzz-mutations.js";
import { judge, type Case } from "./fuzz-oracle.js";
import { Rng } from "./fuzz-rng.js";
import { serialize, toBytes } from "./fuzz-serialize.js";
import { attr, clone, setAttr } from "./fuzz-tree.js";
import { UNICODE, type Tokens } from "./fuzz-values.js";

// Cases from the grammar: a base stanza, zero to three mutations, an id, noisy or plain serialisation,
// and the oracle's verdict, drawn in one fixed order from one Rng, so a seed is a corpus. Every case is
// checked well-formed to the component's parser here: one that is not is a generator bug, not a finding.

/** The generator's own check: the stanza is well-formed to the component's parser (else the case is a generator bug). */
function wellFormedToLtx(bytes: Buffer): string | undefined {
  const p = new xml.Parser();
  let problem: string | undefined;
  let elements = 0;
  p.on("error", (err) => (problem ??= err.message));
  p.on("element", () => (elements += 1));
  try {
    p.write("<stream xmlns='jabber:component:accept'>");
    p.write(bytes.toString("utf8"));
  } catch (err) {
    problem ??= (err as Error).message;
  }
  return problem ?? (elements === 1 ? undefined : `${elements} elements`);
}

export function generate(r: Rng, n: number): Case[] {
  const tokens: Tokens = { forbidden: [] };
  const baseKind = r.weighted<string>([
    [50, "publish"],
    [35, "command"],
    [15, "other"],
  ]);
  const { tree, label } = baseKind === "publish" ? publishBase(r) : baseKind === "command" ? commandBase(r, tokens) : otherBase(r);
  const labels = [label];
  // One case in twelve is an unmutated publish: the control group, which must keep working.
  const control = baseKind === "publish" && r.chance(1 / 6);
  if (!control) {
    const count = r.weighted<number>([
      [2, 0],
      [5, 1],
      [3, 2],
      [1, 3],
    ]);
    for (let i = 0; i < count; i++) {
      const [, , mutate] = r.weighted(MUTATIONS.map((e) => [e[0], e] as const));
      const l = mutate(tree, r, tokens);
      if (l !== undefined) labels.push(l);
    }
  }
  // The id: normally unique per case; sometimes missing, empty, huge or odd (still unique).
  let id: string | undefined = `fz${n}`;
  if (!control && r.chance(0.08)) {
    id = r.weighted<() => string | undefined>([
      [2, () => undefined],
      [1, () => ""],
      [1, () => `fz${n}-${"i".repeat(r.pick([1024, 65_000]))}`],
      [2, () => `fz${n}-${r.pick(UNICODE)}`],
      [2, () => `fz${n}-&<>'"]]>`],
    ])();
    labels.push("id");
  }
  setAttr(tree, "id", id);
  const noisy = !control && r.chance(0.6);
  const bytes = toBytes(serialize(tree, r, noisy), r);
  const verdict = judge(tree);
  const from = attr(tree, "from");
  const forbidden = [...tokens.forbidden];
  const base: Case = { n, label: labels.join("+"), bytes, id, from, ...verdict, forbidden, control, sends: 1 };
  const problem = wellFormedToLtx(bytes);
  if (problem !== undefined)
    throw new Error(`generator bug, case ${n} (${base.label}) is not well-formed: ${problem}\n${bytes.toString("utf8").slice(0, 2000)}`);
  // Duplicates: the same stanza twice with one id (two replies), or a publish resent as a new stanza.
  if (!control && verdict.expect === 1 && id !== undefined && r.chance(0.02))
    return [{ ...base, label: `${base.label}+same-id-twice`, sends: 2 }];
  if (baseKind === "publish" && r.chance(0.03)) {
    const again: Case[] = [base];
    for (let k = 1; k <= r.int(1, 3); k++) {
      const t2 = clone(tree);
      setAttr(t2, "id", id === undefined || id === "" ? id : `${id}-dup${k}`);
      again.push({ ...base, label: `${base.label}+duplicate`, id: attr(t2, "id"), bytes: toBytes(serialize(t2, r, noisy), r) });
    }
    return again;
  }
  return [base];
}

/**
 * The next batch of cases, numbered from `generated`: whole generate() groups until `size` cases, or
 * until `total` cases in all (a group of duplicates may overshoot either).
 */
export function nextBatch(r: Rng, generated: number, size: number, total: number): Case[] {
  const batch: Case[] = [];
  while (batch.length < size && generated + batch.length < total) batch.push(...generate(r, generated + batch.length));
  return batch;
}

/** The first 16 hex digits of the sha256 of every case's bytes, in order: the same seed gives the same digest. */
export function corpusDigest(seed: number, total: number): string {
  const r = new Rng(seed);
  const corpus = createHash("sha256");
  for (let generated = 0; generated < total;) {
    for (const c of nextBatch(r, generated, 100, total)) {
      corpus.update(c.bytes);
      generated += 1;
    }
  }
  return corpus.digest("hex").slice(0, 16);
}
