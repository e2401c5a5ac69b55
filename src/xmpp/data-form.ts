import xml, { type Element } from "@xmpp/xml";
import { NS } from "./namespaces.js";

// XEP-0004 data forms, read leniently: a field may be absent, valueless or repeated (Prosody sends
// `<field var='x'/>` for unset summary fields, docs/xmpp-server-setup.md).

export interface DataForm {
  readonly type: string;
  readonly formType?: string;
  /** Every field's values in document order; FORM_TYPE included. */
  readonly fields: ReadonlyMap<string, readonly string[]>;
}

export function findForms(parent: Element): DataForm[] {
  return parent.getChildren("x", NS.dataForms).map(parseForm);
}

export function parseForm(x: Element): DataForm {
  // Walks the children directly (no getChildren arrays): every publish carries two forms.
  const fields = new Map<string, string[]>();
  for (const field of x.children) {
    if (typeof field === "string" || field.getName() !== "field") continue;
    const name = field.attrs.var;
    if (name === undefined || name === "") continue;
    let values = fields.get(name);
    if (values === undefined) fields.set(name, (values = []));
    for (const v of field.children) if (typeof v !== "string" && v.getName() === "value") values.push(v.text());
  }
  const formType = fields.get("FORM_TYPE")?.[0];
  return { type: x.attrs.type ?? "", ...(formType !== undefined ? { formType } : {}), fields };
}

/** First value of a field, trimmed; undefined when the field is absent or has no non-blank value. */
export function fieldValue(form: DataForm, name: string): string | undefined {
  const v = form.fields.get(name)?.[0]?.trim();
  return v === undefined || v === "" ? undefined : v;
}

export interface FormField {
  readonly var: string;
  readonly value?: string | readonly string[];
  readonly type?: string;
  readonly label?: string;
  readonly required?: boolean;
}

export function buildForm(
  type: "form" | "result" | "submit",
  fields: readonly FormField[],
  meta: { title?: string; instructions?: string } = {},
): Element {
  return xml(
    "x",
    { xmlns: NS.dataForms, type },
    meta.title !== undefined ? xml("title", {}, meta.title) : undefined,
    meta.instructions !== undefined ? xml("instructions", {}, meta.instructions) : undefined,
    ...fields.map((f) =>
      xml(
        "field",
        { var: f.var, ...(f.type ? { type: f.type } : {}), ...(f.label ? { label: f.label } : {}) },
        f.required ? xml("required") : undefined,
        ...(f.value === undefined ? [] : typeof f.value === "string" ? [f.value] : f.value).map((v) => xml("value", {}, v)),
      ),
    ),
  );
}
