import { BENCH_SECRET, nodeOf } from "../seed.js";
import type { Rng } from "./fuzz-rng.js";
import { attr, clone, elementsOf, isEl, named, setAttr, x, type XEl } from "./fuzz-tree.js";
import { MARKER, clip } from "./fuzz-serialize.js";
import { BIG_LEN, CONTROL, hugeString, oddValue, UNICODE, type Tokens } from "./fuzz-values.js";
import { NS, SEEDED } from "./fuzz-world.js";

// The grammar's mutations, weighted: each edits a base stanza in place the way a broken or hostile
// server might (wrong namespaces, nodes and secrets, odd senders and types, unknown, duplicated,
// renamed or missing elements, huge text, deep nesting, junk attributes, invalid bytes). Each returns
// a label for the case, or undefined when it found nothing to act on. The order and weights are part
// of the corpus: changing them changes every case after the first one that draws differently.

export type Mutation = (t: XEl, r: Rng, tokens: Tokens) => string | undefined;

const unknownElement = (r: Rng): XEl =>
  x(
    r.pick(["fuzz", "x", "publish", "item", "value", "field", "a:b", "ünï", "error", "body"]),
    {
      xmlns: r.pick([undefined, "urn:fuzz", NS.data, NS.pubsub, ""]),
      [r.pick(["a", "var", "node", "type"])]: r.chance(0.5) ? oddValue(r) : undefined,
    },
    r.chance(0.5) ? oddValue(r) : undefined,
  );

export const MUTATIONS: ReadonlyArray<readonly [number, string, Mutation]> = [
  [
    6,
    "namespace",
    (t, r) => {
      const withNs = elementsOf(t).filter(({ el, parent }) => parent !== undefined && attr(el, "xmlns") !== undefined);
      if (withNs.length === 0) return undefined;
      const { el } = r.pick(withNs);
      const v = r.pick([
        undefined,
        "",
        "urn:fuzz",
        NS.pubsub.toUpperCase(),
        `${NS.pubsub}#owner`,
        NS.push,
        NS.data,
        `${attr(el, "xmlns")} `,
        oddValue(r),
      ]);
      setAttr(el, "xmlns", v);
      return `ns:${el.name}`;
    },
  ],
  [
    2,
    "add-namespace",
    (t, r) => {
      const { el } = r.pick(
        elementsOf(t)
          .filter(({ parent }) => parent !== undefined)
          .concat([{ el: t, parent: undefined }]),
      );
      el.attrs.push([r.pick(["xmlns", "xmlns:fz", "xmlns:stream"]), r.pick(["urn:fuzz", NS.pubsub, "http://etherx.jabber.org/streams"])]);
      return `add-ns:${el.name}`;
    },
  ],
  [
    6,
    "node",
    (t, r) => {
      const targets = named(t, "publish").concat(named(t, "command"));
      if (targets.length === 0) return undefined;
      const { el } = r.pick(targets);
      const v = r.weighted<() => string | undefined>([
        [2, () => undefined],
        [2, () => ""],
        [1, () => "   "],
        [2, () => nodeOf(r.int(0, SEEDED - 1))],
        [2, () => nodeOf(r.int(SEEDED, SEEDED * 100))],
        [2, () => ` ${nodeOf(r.int(0, SEEDED - 1))}`],
        [1, () => nodeOf(r.int(0, SEEDED - 1)).toUpperCase()],
        [3, () => hugeString(r, r.pick(BIG_LEN))],
        [2, () => r.pick(UNICODE)],
        [2, () => oddValue(r)],
      ])();
      setAttr(el, "node", v);
      return `node:${el.name}`;
    },
  ],
  [
    6,
    "secret",
    (t, r, tok) => {
      const secretFields = elementsOf(t).filter(({ el }) => el.name === "field" && attr(el, "var") === "secret");
      if (secretFields.length === 0) return undefined;
      const { el, parent } = r.pick(secretFields);
      const wrong = `wrong-secret-${r.alnum(16)}`;
      tok.forbidden.push(wrong);
      const how = r.pick(["remove", "empty", "wrong", "huge", "padded", "two-values", "wrong-first", "right-first", "valueless", "case"]);
      switch (how) {
        case "remove":
          parent!.children = parent!.children.filter((c) => c !== el);
          break;
        case "empty":
          el.children = [x("value", {})];
          break;
        case "wrong":
          el.children = [x("value", {}, wrong)];
          break;
        case "huge": {
          const huge = `${BENCH_SECRET}${hugeString(r, r.pick(BIG_LEN))}`;
          el.children = [x("value", {}, huge)];
          break;
        }
        case "padded":
          el.children = [x("value", {}, ` \n${BENCH_SECRET}\t `)];
          break;
        case "two-values":
          el.children = [x("value", {}, wrong), x("value", {}, BENCH_SECRET)];
          break;
        case "wrong-first":
          parent!.children.splice(parent!.children.indexOf(el), 0, x("field", { var: "secret" }, x("value", {}, wrong)));
          break;
        case "right-first":
          parent!.children.push(x("field", { var: "secret" }, x("value", {}, wrong)));
          break;
        case "valueless":
          el.children = [];
          break;
        default:
          el.children = [x("value", {}, BENCH_SECRET.toUpperCase())];
      }
      return `secret:${how}`;
    },
  ],
  [
    6,
    "from",
    (t, r) => {
      const v = r.pick([
        undefined,
        "",
        "LocalHost",
        "user1@localhost",
        "user1@localhost/res",
        "localhost/res",
        "evil.example",
        "localhost.evil.example",
        "l\u043Ecalhost",
        "push.localhost",
        "@localhost",
        hugeString(r, 4096),
        r.pick(UNICODE),
      ]);
      setAttr(t, "from", v);
      return "from";
    },
  ],
  [
    4,
    "type",
    (t, r) => {
      const v = r.pick([undefined, "", "get", "set", "result", "error", "GET", "Set", "set ", "normal", "chat", oddValue(r)]);
      if (r.chance(0.2)) t.attrs.push(["type", v ?? "get"]);
      else setAttr(t, "type", v);
      return "type";
    },
  ],
  [
    3,
    "to",
    (t, r) => {
      setAttr(
        t,
        "to",
        r.pick([undefined, "", "localhost", "other.localhost", "PUSH.LOCALHOST", "push.localhost/res", hugeString(r, 2048)]),
      );
      return "to";
    },
  ],
  [
    9,
    "unknown-elements",
    (t, r) => {
      const n = r.int(1, 6);
      const all = elementsOf(t);
      for (let i = 0; i < n; i++) {
        const { el } = r.pick(all);
        el.children.splice(r.int(0, el.children.length), 0, unknownElement(r));
      }
      return "unknown-elements";
    },
  ],
  [
    4,
    "huge-text",
    (t, r) => {
      const values = named(t, "value").concat(named(t, "body"));
      const target = values.length > 0 && r.chance(0.8) ? r.pick(values).el : r.pick(elementsOf(t)).el;
      target.children = [hugeString(r, r.pick(BIG_LEN))];
      return `huge-text:${target.name}`;
    },
  ],
  [
    2,
    "many-fields",
    (t, r) => {
      const forms = elementsOf(t).filter(({ el }) => el.name === "x");
      const target = forms.length > 0 ? r.pick(forms).el : r.pick(elementsOf(t)).el;
      const n = r.int(500, 3000);
      const fields: XEl[] = [];
      for (let i = 0; i < n; i++)
        fields.push(
          x(
            "field",
            { var: r.chance(0.9) ? `f${i}` : r.pick(["secret", "token", "FORM_TYPE", "node", "device-id"]) },
            x("value", {}, r.chance(0.1) ? clip(oddValue(r), 64) : String(i)),
          ),
        );
      target.children.push(...fields);
      return `many-fields:${n}`;
    },
  ],
  [
    2,
    "deep-nesting",
    (t, r) => {
      const depth = r.pick([200, 500, 1000, 2000, 3000]);
      const name = r.pick(["a", "x", "item", "field", "value", "n"]);
      let inner: XEl = x(name, {}, r.chance(0.5) ? "deep" : undefined);
      for (let i = 1; i < depth; i++) inner = x(name, i % 7 === 0 ? { xmlns: "urn:fuzz" } : {}, inner);
      const { el } = r.pick(elementsOf(t));
      el.children.push(inner);
      return `deep:${depth}`;
    },
  ],
  [
    3,
    "duplicate-child",
    (t, r) => {
      const withParent = elementsOf(t).filter(({ parent }) => parent !== undefined);
      if (withParent.length === 0) return undefined;
      const { el, parent } = r.pick(withParent);
      parent!.children.splice(r.int(0, parent!.children.length), 0, clone(el));
      return `dup:${el.name}`;
    },
  ],
  [
    3,
    "remove-child",
    (t, r) => {
      const withParent = elementsOf(t).filter(({ parent }) => parent !== undefined);
      if (withParent.length === 0) return undefined;
      const { el, parent } = r.pick(withParent);
      parent!.children = parent!.children.filter((c) => c !== el);
      return `remove:${el.name}`;
    },
  ],
  [
    2,
    "rename",
    (t, r) => {
      const withParent = elementsOf(t).filter(({ parent }) => parent !== undefined);
      if (withParent.length === 0) return undefined;
      const { el } = r.pick(withParent);
      const old = el.name;
      el.name = r.pick([old.toUpperCase(), `${old}x`, `fz:${old}`, "ünï", "iq", "x", "publish", "command", "pubsub", "field"]);
      return `rename:${old}`;
    },
  ],
  [
    4,
    "junk-attributes",
    (t, r) => {
      const { el } = r.pick(elementsOf(t));
      const n = r.int(1, 4);
      for (let i = 0; i < n; i++) {
        el.attrs.push([
          r.pick([
            "__proto__",
            "constructor",
            "toString",
            "hasOwnProperty",
            "valueOf",
            "xml:lang",
            "a-b.c_d",
            "ünï",
            "xmlns:x",
            "data-fuzz",
            "var",
            "node",
            "id",
          ]),
          oddValue(r),
        ]);
      }
      return "junk-attributes";
    },
  ],
  [
    4,
    "unicode",
    (t, r) => {
      const { el } = r.pick(elementsOf(t));
      el.children.push(r.pick(UNICODE));
      return `unicode:${el.name}`;
    },
  ],
  [
    2,
    "control-characters",
    (t, r) => {
      const values = named(t, "value").concat(named(t, "body"));
      if (values.length === 0) return undefined;
      const { el } = r.pick(values);
      el.children.push(`${r.pick(CONTROL)}${r.pick(CONTROL)}`);
      return "control-characters";
    },
  ],
  [
    3,
    "invalid-utf8",
    (t, r) => {
      const { el } = r.pick(elementsOf(t));
      if (r.chance(0.5)) el.children.push(`x${MARKER}y${MARKER}`);
      else el.attrs.push(["data-bytes", `${MARKER}`]);
      return "invalid-utf8";
    },
  ],
  [
    2,
    "second-payload",
    (t, r) => {
      t.children.push(r.chance(0.5) ? unknownElement(r) : clone(t.children.find(isEl) ?? unknownElement(r)));
      return "second-payload";
    },
  ],
  [
    1,
    "empty",
    (t) => {
      t.children = [];
      return "empty";
    },
  ],
  [
    2,
    "text-in-stanza",
    (t, r) => {
      t.children.splice(r.int(0, t.children.length), 0, r.pick(["text", " ", oddValue(r)]));
      return "text-in-stanza";
    },
  ],
  [
    3,
    "form-type",
    (t, r) => {
      const forms = named(t, "x");
      if (forms.length === 0) return undefined;
      const { el } = r.pick(forms);
      if (r.chance(0.5)) setAttr(el, "type", r.pick([undefined, "", "form", "submit", "result", "cancel", oddValue(r)]));
      else {
        const ft = el.children.find((c): c is XEl => isEl(c) && attr(c, "var") === "FORM_TYPE");
        if (ft) ft.children = [x("value", {}, r.pick(["", NS.summary, NS.publishOptions, "urn:fuzz", oddValue(r)]))];
        else
          el.children.unshift(
            x("field", { var: "FORM_TYPE", type: "hidden" }, x("value", {}, r.pick([NS.summary, NS.publishOptions, "urn:fuzz"]))),
          );
      }
      return "form-type";
    },
  ],
  [
    1,
    "prefixed-names",
    (t) => {
      const payload = t.children.find(isEl);
      if (!payload) return undefined;
      const ns = attr(payload, "xmlns") ?? "urn:fuzz";
      setAttr(payload, "xmlns", undefined);
      payload.attrs.push(["xmlns:p", ns]);
      payload.name = `p:${payload.name}`;
      return "prefixed-names";
    },
  ],
  [
    2,
    "command-attributes",
    (t, r) => {
      const cmds = named(t, "command");
      if (cmds.length === 0) return undefined;
      const { el } = r.pick(cmds);
      setAttr(el, r.pick(["action", "sessionid", "status"]), r.pick([undefined, "", "execute", "cancel", "complete", oddValue(r)]));
      return "command-attributes";
    },
  ],
];
