import http, { type Agent } from "node:http";
import https from "node:https";
import type { AuthClient } from "google-auth-library";
import type { DeliveryOutcome } from "../../domain/delivery-outcome.js";
import { raceAbort } from "../../shared/race-abort.js";
import { FCM_SCOPE, type FcmAuth } from "./fcm-auth.js";
import { classifyTokenError } from "./fcm-outcomes.js";

// FCM access tokens from Google Application Default Credentials (docs/providers.md, "FCM credentials"):
// GOOGLE_APPLICATION_CREDENTIALS, the gcloud well-known file, workload identity and the GCE/GKE metadata
// server, in Google's order, through google-auth-library. That library and its HTTP stack are loaded on
// the first token request of an app that asked for them (credentials: application-default), never
// otherwise. It caches each token and refreshes it before it expires.

type LoadedAuth = { readonly client: AuthClient };

export interface AdcFcmAuthOptions {
  /** The agent for a token endpoint's URL: the same way out as the FCM sends (outbound proxy or direct). */
  readonly agentFor: (url: URL) => Agent;
  readonly timeoutMs: number;
  /** The Firebase project; given to the library so it never goes looking for one (it would run `gcloud`). */
  readonly projectId: string;
}

const NO_CREDENTIALS = "Could not load the default credentials";

export function createAdcFcmAuth(options: AdcFcmAuthOptions): FcmAuth {
  let loading: Promise<LoadedAuth> | undefined;

  const load = (): Promise<LoadedAuth> =>
    (loading ??= loadAuthClient(options).catch(async (err: unknown) => {
      // Detection failed (say, the GKE metadata server was not up yet when the pod started): the next
      // push detects again instead of keeping the verdict for the life of the process.
      loading = undefined;
      (await import("google-auth-library")).gcpMetadata.resetIsAvailableCache();
      throw err;
    }));

  const fetchToken = async (): Promise<{ ok: true; accessToken: string } | { ok: false; outcome: DeliveryOutcome }> => {
    try {
      const { client } = await load();
      const { token } = await client.getAccessToken();
      if (!token) return { ok: false, outcome: { class: "retry", reason: "application default credentials gave no access token" } };
      return { ok: true, accessToken: token };
    } catch (err) {
      return { ok: false, outcome: adcFailure(err) };
    }
  };

  return {
    async accessToken(signal) {
      const result = await raceAbort(signal, fetchToken());
      return result === "aborted" ? { ok: false, outcome: { class: "retry", reason: "timeout waiting for an access token" } } : result;
    },
    invalidate(accessToken) {
      // OAuth2Client-based clients (metadata server, service-account and user files) refresh once their
      // cached token is gone; external-account clients keep theirs until it expires.
      void loading?.then(({ client }) => {
        if (client.credentials.access_token === accessToken) client.credentials = {};
      });
    },
  };
}

async function loadAuthClient({ agentFor, timeoutMs, projectId }: AdcFcmAuthOptions): Promise<LoadedAuth> {
  const { GoogleAuth, gaxios } = await import("google-auth-library");
  // The metadata server only answers on the machine itself (169.254.169.254), so it is never reached
  // through a proxy. gcp-metadata asks it through gaxios's shared default instance, which would
  // otherwise follow HTTPS_PROXY / HTTP_PROXY from the environment on its own.
  if (gaxios.instance.defaults.agent === undefined) {
    const direct = { http: new http.Agent(), https: new https.Agent() };
    gaxios.instance.defaults.agent = (url: URL) => (url.protocol === "https:" ? direct.https : direct.http);
  }
  const auth = new GoogleAuth({
    projectId,
    scopes: [FCM_SCOPE],
    clientOptions: { transporterOptions: { agent: agentFor, timeout: timeoutMs } },
  });
  const client = await auth.getClient();
  useClientTransporterForSts(client);
  return { client };
}

/**
 * google-auth-library 11 builds an external account's token exchange (STS) with an HTTP client of its
 * own, without the options given to the credentials (baseexternalclient.js, `new StsCredentials(...)`),
 * so that one request would skip the outbound proxy and follow HTTPS_PROXY instead. It gets the
 * credentials' own client. test/integration/fcm-adc.test.ts fails should a release rename the fields.
 */
function useClientTransporterForSts(client: AuthClient): void {
  const sts = (client as unknown as { stsCredential?: { transporter?: unknown } }).stsCredential;
  if (sts !== undefined && "transporter" in sts) sts.transporter = client.transporter;
}

/** A failed token request as a push outcome; the text names the cause, never a credential. */
function adcFailure(err: unknown): DeliveryOutcome {
  const e = err as { message?: unknown; code?: unknown; response?: { status?: unknown; data?: unknown } } | undefined;
  const message = typeof e?.message === "string" ? e.message : "";
  if (message.startsWith(NO_CREDENTIALS)) {
    return {
      class: "config_error",
      reason: "no application default credentials found (GOOGLE_APPLICATION_CREDENTIALS, workload identity or a metadata server)",
    };
  }
  const status = typeof e?.response?.status === "number" ? e.response.status : undefined;
  if (status !== undefined) {
    const body = e?.response?.data;
    const oauth = typeof body === "object" && body !== null ? (body as { error?: unknown; error_description?: unknown }) : {};
    return classifyTokenError({
      httpStatus: status,
      ...(typeof oauth.error === "string" ? { error: oauth.error } : {}),
      ...(typeof oauth.error_description === "string" ? { description: oauth.error_description } : {}),
    });
  }
  const code = typeof e?.code === "string" ? e.code : "network error";
  return { class: "retry", reason: `token endpoint ${code}` };
}
