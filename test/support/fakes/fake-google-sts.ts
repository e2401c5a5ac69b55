import { createServer } from "node:http";
import type { Socket } from "node:net";
import { listenOnLoopback } from "./fake-http.js";

// A fake of Google's Security Token Service (sts.googleapis.com/v1/token), the token endpoint of an
// `external_account` credentials file (workload identity federation, docs/providers.md "FCM
// credentials"): it exchanges the workload's own token (read by the client from the file the
// credentials name) for a Google access token, RFC 8693 token exchange. The access token comes from
// `mintToken` (a FakeFcm's issueAccessToken, so FCM accepts it). Plain HTTP on loopback.

export interface FakeGoogleSts {
  /** `http://127.0.0.1:<port>/v1/token`, the credentials file's token_url. */
  readonly tokenUrl: string;
  /** The form fields of every exchange, in order. */
  readonly exchanges: Array<Record<string, string>>;
  readonly issuedTokens: string[];
  stop(): Promise<void>;
}

const TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token";
const MAX_BODY = 64 * 1024;

export async function startFakeGoogleSts({
  mintToken,
  subjectToken,
}: {
  mintToken: () => { accessToken: string; expiresIn: number };
  subjectToken: string;
}): Promise<FakeGoogleSts> {
  const exchanges: Array<Record<string, string>> = [];
  const issuedTokens: string[] = [];
  const sockets = new Set<Socket>();

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size <= MAX_BODY) chunks.push(c);
    });
    req.on("end", () => {
      const answer = (status: number, body: unknown) =>
        res.writeHead(status, { "Content-Type": "application/json" }).end(JSON.stringify(body));
      if (req.method !== "POST" || new URL(req.url ?? "/", "http://sts.invalid").pathname !== "/v1/token")
        return answer(404, { error: "not_found" });
      const form = Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString("utf8")));
      exchanges.push(form);
      if (form.grant_type !== TOKEN_EXCHANGE)
        return answer(400, { error: "unsupported_grant_type", error_description: "Unsupported grant_type." });
      if (form.requested_token_type !== ACCESS_TOKEN_TYPE)
        return answer(400, { error: "invalid_request", error_description: "Invalid requested_token_type." });
      if (form.subject_token !== subjectToken)
        return answer(400, { error: "invalid_grant", error_description: "The subject token is invalid." });
      const { accessToken, expiresIn } = mintToken();
      issuedTokens.push(accessToken);
      return answer(200, { access_token: accessToken, issued_token_type: ACCESS_TOKEN_TYPE, token_type: "Bearer", expires_in: expiresIn });
    });
  });
  server.on("connection", (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });

  const port = await listenOnLoopback(server);
  return {
    tokenUrl: `http://127.0.0.1:${port}/v1/token`,
    exchanges,
    issuedTokens,
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
