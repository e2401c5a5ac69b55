import { readFile } from "node:fs/promises";
import { UsageError } from "./admin-commands.js";

// A device token on the command line lands in shell history and in `ps` for every local user to see;
// `register` reads it from a file or from stdin instead (--token stays for scripts that know better).

const MAX_TOKEN_BYTES = 4096; // APNs tokens are 64 hex digits, FCM tokens about 160 characters

export interface TokenSources {
  readonly token?: string | undefined;
  readonly tokenFile?: string | undefined;
  readonly stdin: NodeJS.ReadableStream & { isTTY?: boolean };
}

export async function readDeviceToken({ token, tokenFile, stdin }: TokenSources): Promise<string> {
  if (token !== undefined && tokenFile !== undefined) throw new UsageError("give the device token with --token-file or --token, not both");
  if (token !== undefined) return nonEmpty(token.trim(), "--token");
  if (tokenFile !== undefined && tokenFile !== "-") {
    let text: string;
    try {
      text = await readFile(tokenFile, "utf8");
    } catch (err) {
      throw new UsageError(`--token-file: cannot read ${tokenFile} (${(err as NodeJS.ErrnoException).code ?? "error"})`);
    }
    return nonEmpty(text.trim(), `--token-file ${tokenFile}`);
  }
  if (tokenFile === undefined && stdin.isTTY === true) {
    throw new UsageError('give the device token with --token-file <path>, or pipe it in: echo "$TOKEN" | xmpp-push register …');
  }
  return nonEmpty((await readAll(stdin)).trim(), "stdin");
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const b = typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer);
    size += b.length;
    if (size > MAX_TOKEN_BYTES) throw new UsageError(`the device token on stdin is longer than ${MAX_TOKEN_BYTES} bytes`);
    chunks.push(b);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function nonEmpty(token: string, where: string): string {
  if (token === "") throw new UsageError(`no device token in ${where}`);
  return token;
}
