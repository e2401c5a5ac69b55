// C0 controls and DEL have no business in ids, nodes or JIDs; Postgres refuses U+0000 in text outright.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f]/;

/** Whether any of the values holds a control character (undefined values hold none). */
export function hasControlCharacter(...values: ReadonlyArray<string | undefined>): boolean {
  return values.some((v) => v !== undefined && CONTROL.test(v));
}
