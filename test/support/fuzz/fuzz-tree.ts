import type { Element } from "@xmpp/xml";

// A small mutable XML tree for the fuzzer: mutations need repeated attributes, prefixed names and
// thousands of nesting levels, which @xmpp/xml's Element neither keeps nor walks without recursion.
// Values are the decoded strings the server's parser will see; serialisation adds the escaping.

export interface XEl {
  name: string;
  attrs: Array<[string, string]>;
  children: Array<XEl | string>;
}

export const isEl = (c: XEl | string): c is XEl => typeof c !== "string";

export function x(name: string, attrs: Record<string, string | undefined> = {}, ...children: Array<XEl | string | undefined>): XEl {
  return {
    name,
    attrs: Object.entries(attrs).filter((e): e is [string, string] => e[1] !== undefined),
    children: children.filter((c): c is XEl | string => c !== undefined),
  };
}

/** Attribute value as the parser keeps it (the last one of a repeated name wins). */
export function attr(e: XEl, name: string): string | undefined {
  let v: string | undefined;
  for (const [k, val] of e.attrs) if (k === name) v = val;
  return v;
}

export function setAttr(e: XEl, name: string, value: string | undefined): void {
  e.attrs = e.attrs.filter(([k]) => k !== name);
  if (value !== undefined) e.attrs.push([name, value]);
}

export function text(e: XEl): string {
  return e.children.filter((c): c is string => typeof c === "string").join("");
}

export function elementsOf(root: XEl): Array<{ el: XEl; parent: XEl | undefined }> {
  const out: Array<{ el: XEl; parent: XEl | undefined }> = [];
  const stack: Array<{ el: XEl; parent: XEl | undefined }> = [{ el: root, parent: undefined }];
  while (stack.length > 0) {
    const item = stack.pop()!;
    out.push(item);
    for (const c of item.el.children) if (isEl(c)) stack.push({ el: c, parent: item.el });
  }
  return out;
}

/** ltx finds children by local name: <fz:field> is a field to getChildren("field"). */
const localName = (name: string) => name.slice(name.indexOf(":") + 1);

export const named = (t: XEl, name: string) => elementsOf(t).filter(({ el }) => localName(el.name) === name);

export function clone(e: XEl): XEl {
  const copy = (src: XEl): XEl => ({ name: src.name, attrs: src.attrs.map(([k, v]) => [k, v] as [string, string]), children: [] });
  const root = copy(e);
  const stack: Array<[XEl, XEl]> = [[e, root]];
  while (stack.length > 0) {
    const [src, dst] = stack.pop()!;
    for (const c of src.children) {
      if (!isEl(c)) {
        dst.children.push(c);
        continue;
      }
      const d = copy(c);
      dst.children.push(d);
      stack.push([c, d]);
    }
  }
  return root;
}

export function fromElement(e: Element): XEl {
  return {
    name: e.name,
    attrs: Object.entries(e.attrs).filter((a): a is [string, string] => typeof a[1] === "string"),
    children: e.children.map((c) => (typeof c === "string" ? c : fromElement(c))),
  };
}

/** Rewrites every attribute value and text node (a captured stanza's node and secret become the seeded ones). */
export function replaceValues(e: XEl, map: (v: string) => string): void {
  for (const { el } of elementsOf(e)) {
    el.attrs = el.attrs.map(([k, v]) => [k, map(v)]);
    el.children = el.children.map((c) => (isEl(c) ? c : map(c)));
  }
}
