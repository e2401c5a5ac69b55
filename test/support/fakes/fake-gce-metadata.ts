import { createServer, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { listenOnLoopback } from "./fake-http.js";

// A fake of the GCE/GKE metadata server (what Application Default Credentials fall back to on Google
// Cloud, and what GKE workload identity serves to a pod), on loopback: point GCE_METADATA_HOST at
// `host`. It answers the way docs/providers.md ("FCM credentials") describes: every request must carry
// `Metadata-Flavor: Google`, every answer carries it back, and the default service account's token
// comes from `mintToken` (a FakeFcm's issueAccessToken, so FCM accepts what it hands out).

export interface RecordedMetadataRequest {
  /** Path and query as sent, e.g. `/computeMetadata/v1/instance/service-accounts/default/token?scopes=…`. */
  readonly url: string;
  readonly flavor: string | undefined;
}

export interface FakeGceMetadata {
  /** `127.0.0.1:<port>`, the value for GCE_METADATA_HOST. */
  readonly host: string;
  readonly requests: RecordedMetadataRequest[];
  /** Every access token handed out, in order. */
  readonly issuedTokens: string[];
  /** The scopes asked for with each token request. */
  readonly tokenScopes: string[][];
  stop(): Promise<void>;
}

const BASE = "/computeMetadata/v1";
const TOKEN_PATH = `${BASE}/instance/service-accounts/default/token`;

export async function startFakeGceMetadata({
  mintToken,
  projectId = "gce-runtime-project",
}: {
  mintToken: () => { accessToken: string; expiresIn: number };
  projectId?: string;
}): Promise<FakeGceMetadata> {
  const requests: RecordedMetadataRequest[] = [];
  const issuedTokens: string[] = [];
  const tokenScopes: string[][] = [];

  const answer = (res: ServerResponse, status: number, body: string, type = "application/text") => {
    res.writeHead(status, { "Metadata-Flavor": "Google", "Content-Type": type }).end(body);
  };

  const server = createServer((req, res) => {
    const flavor = req.headers["metadata-flavor"] as string | undefined;
    requests.push({ url: req.url ?? "", flavor });
    req.resume();
    // The real server refuses requests without the header (it guards against SSRF through proxies).
    if (flavor !== "Google") return answer(res, 403, "Missing Metadata-Flavor:Google header.\n");
    const url = new URL(req.url ?? "/", "http://metadata.invalid");
    if (req.method !== "GET") return answer(res, 405, "Method not allowed\n");
    if (url.pathname === `${BASE}/instance` || url.pathname === `${BASE}/instance/`)
      return answer(res, 200, "attributes/\nservice-accounts/\n");
    if (url.pathname === `${BASE}/project/project-id`) return answer(res, 200, projectId);
    if (url.pathname === TOKEN_PATH) {
      const { accessToken, expiresIn } = mintToken();
      issuedTokens.push(accessToken);
      tokenScopes.push((url.searchParams.get("scopes") ?? "").split(",").filter(Boolean));
      return answer(
        res,
        200,
        JSON.stringify({ access_token: accessToken, expires_in: expiresIn, token_type: "Bearer" }),
        "application/json",
      );
    }
    return answer(res, 404, "Not found\n");
  });
  const sockets = new Set<Socket>();
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });

  const port = await listenOnLoopback(server);
  return {
    host: `127.0.0.1:${port}`,
    requests,
    issuedTokens,
    tokenScopes,
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
