/**
 * A copy of `text` with the character `fromEnd` places before its end replaced by a different one.
 * Tests that damage a random base64 value use it: overwriting its tail with a fixed "AA" changes nothing
 * when the value already ends that way, and a base64 string's last character can carry bits the decoder
 * ignores, so the default stays clear of it.
 */
export function withCharChanged(text: string, fromEnd = 3): string {
  const i = text.length - fromEnd;
  const replacement = text[i] === "A" ? "B" : "A";
  return `${text.slice(0, i)}${replacement}${text.slice(i + 1)}`;
}
