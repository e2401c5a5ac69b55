import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { readDeviceToken } from "../../../src/cli/device-token.js";

// `register`'s device token: from a file or stdin, so it stays out of shell history and `ps`.
const stdin = (text: string, isTTY = false) => Object.assign(Readable.from([Buffer.from(text)]), { isTTY });
const TOKEN = "ab".repeat(32);

describe("readDeviceToken", () => {
  it("reads a file or piped stdin, trimmed", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "xp-token-")), "token");
    writeFileSync(file, `${TOKEN}\n`);
    expect(await readDeviceToken({ tokenFile: file, stdin: stdin("") })).toBe(TOKEN);
    expect(await readDeviceToken({ stdin: stdin(` ${TOKEN}\n`) })).toBe(TOKEN);
    expect(await readDeviceToken({ tokenFile: "-", stdin: stdin(`${TOKEN}\n`, true) })).toBe(TOKEN);
  });

  it("does not wait on a terminal: it says how to give the token", async () => {
    await expect(readDeviceToken({ stdin: stdin(TOKEN, true) })).rejects.toThrow(/--token-file <path>, or pipe it in/);
  });

  it("refuses two sources, an empty token and an endless stdin", async () => {
    await expect(readDeviceToken({ token: TOKEN, tokenFile: "/x", stdin: stdin("") })).rejects.toThrow(/not both/);
    await expect(readDeviceToken({ stdin: stdin("\n") })).rejects.toThrow(/no device token in stdin/);
    await expect(readDeviceToken({ stdin: stdin("a".repeat(5000)) })).rejects.toThrow(/longer than 4096 bytes/);
  });
});
