import { isIP } from "node:net";
import { z } from "zod";
import { crossCheckJpush, jpushSchema } from "./jpush-config-schema.js";

// One schema for everything the server reads at start. Unknown keys are errors (strict objects):
// a typo in a config file must not silently fall back to a default.

const domainName = z
  .string()
  .regex(
    /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i,
    "must be a domain name such as example.org",
  );

const port = z.coerce.number().int("must be a whole number").min(1).max(65535);
const positiveInt = z.coerce.number().int("must be a whole number").positive();
const nonNegativeInt = z.coerce.number().int("must be a whole number").min(0);
const bool = z.union([z.boolean(), z.enum(["true", "false", "1", "0"]).transform((v) => v === "true" || v === "1")]);
const pem = (what: string) => z.string().regex(/-----BEGIN [A-Z0-9 ]+-----/, `must be a PEM ${what} (-----BEGIN …)`);

export const providerKinds = ["apns", "jpush", "fcm", "log"] as const;
export const apnsEnvironments = ["sandbox", "production"] as const;

const tokenKey = z
  .string()
  .refine((k) => Buffer.from(k, "base64").length === 32, "must be 32 random bytes, base64 encoded (openssl rand -base64 32)");

const componentSchema = z.strictObject({
  service: z
    .string()
    .regex(/^xmpp:\/\/[^\s/:]+(:\d{1,5})?$/, "must look like xmpp://host:port (the server's component port)")
    .default("xmpp://127.0.0.1:5347"),
  domain: domainName.default("push.localhost"),
  secret: z.string().min(1, "must not be empty").optional(),
  // XEP-0114 has no negotiation: reconnect fast, ejabberd drops registrations while we are away (docs/xmpp-server-setup.md).
  reconnectMaxDelayMs: positiveInt.default(1000),
  // exclusive: of several replicas on one Postgres, one connects the component and the others stand
  // by (Prosody accepts one connection per component). shared: all connect (ejabberd balances them).
  mode: z.enum(["exclusive", "shared"]).default("exclusive"),
  // Largest stanza accepted from the XMPP server; a bigger one closes the stream (policy-violation) and
  // we reconnect. A publish is a few KiB; the cap keeps one hostile stanza from filling the heap.
  maxStanzaBytes: positiveInt.default(256 * 1024),
});

const databaseSchema = z.strictObject({
  url: z
    .string()
    .regex(/^postgres(ql)?:\/\//, "must be a postgres:// URL")
    .optional(),
  dataDir: z.string().min(1).default("./data"),
  migrateOnStart: bool.default(true),
  poolMax: positiveInt.default(10),
  // false behind a pooler that hands each transaction another server connection (PgBouncer's
  // transaction pooling before 1.21, or with max_prepared_statements = 0).
  preparedStatements: bool.default(true),
});

const bearerToken = z.string().min(16, "must be at least 16 characters");
const trustedProxy = z
  .string()
  .refine(
    (p) => ["loopback", "linklocal", "uniquelocal"].includes(p) || isIPOrCidr(p),
    "must be an IP address, a CIDR such as 10.0.0.0/8, or loopback, linklocal, uniquelocal",
  );

function isIPOrCidr(text: string): boolean {
  const [address = "", bits, ...rest] = text.split("/");
  const version = isIP(address);
  if (version === 0 || rest.length > 0) return false;
  return bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (version === 4 ? 32 : 128));
}

// One bearer token for HTTP registration and what it may do. A token sees only the registrations it
// made; naming a user's JID is acting for that user, which a token does only when it says so.
const registrationTokenSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, "must be letters, digits, '.', '_' or '-' (at most 64)"),
  token: bearerToken,
  // Empty: every served domain (the top-level domains list).
  domains: z.array(domainName).optional(),
  // Empty: every app.
  apps: z.array(z.string().min(1)).optional(),
  // May name a jid (a backend trusted by the XMPP server's users); without it only registrations without a JID.
  actForUsers: bool.default(false),
  // Cap on this token's registrations that name no JID (those with a JID are capped by limits.devicesPerJid).
  registrationsWithoutJid: positiveInt.default(100_000),
});

const httpSchema = z
  .strictObject({
    host: z.string().min(1).default("127.0.0.1"),
    // 0 picks a free port (tests).
    port: z.coerce.number().int("must be a whole number").min(0).max(65535).default(8080),
    adminToken: bearerToken.optional(),
    // The single token of earlier versions: every served domain and app, acting for users, and like every
    // token it sees only the registrations it made.
    registrationToken: bearerToken.optional(),
    registrationTokens: z.array(registrationTokenSchema).default([]),
    // Optional bearer token Prometheus must send to GET /metrics.
    metricsToken: bearerToken.optional(),
    // How often the database-backed gauges (registrations, queue) are recomputed; a scrape reads the last value.
    metricsRefreshSeconds: positiveInt.default(30),
    // Addresses or CIDRs of reverse proxies whose X-Forwarded-For is believed (also loopback, linklocal,
    // uniquelocal); empty: the socket's peer is the client.
    trustProxy: z.array(trustedProxy).default([]),
    bodyLimitBytes: positiveInt.default(16 * 1024),
    requestsPerMinute: positiveInt.default(600),
    // Slow clients: all headers within headersTimeoutMs, the whole request within requestTimeoutMs, and a
    // socket idle longer than idleTimeoutMs is closed; at most maxConnections sockets at once.
    headersTimeoutMs: positiveInt.default(10_000),
    requestTimeoutMs: positiveInt.default(30_000),
    idleTimeoutMs: positiveInt.default(15_000),
    keepAliveTimeoutMs: positiveInt.default(5_000),
    maxConnections: positiveInt.default(1024),
  })
  .superRefine((h, ctx) => {
    if (h.headersTimeoutMs > h.requestTimeoutMs)
      ctx.addIssue({ code: "custom", path: ["headersTimeoutMs"], message: "must not exceed requestTimeoutMs" });
    const names = h.registrationTokens.map((t) => t.name);
    const tokens = [h.registrationToken, h.adminToken, h.metricsToken, ...h.registrationTokens.map((t) => t.token)].filter(
      (t) => t !== undefined,
    );
    if (new Set(names).size !== names.length)
      ctx.addIssue({ code: "custom", path: ["registrationTokens"], message: "two tokens share a name" });
    if (new Set(tokens).size !== tokens.length)
      ctx.addIssue({
        code: "custom",
        path: ["registrationTokens"],
        message: "every token must differ from the others (admin, metrics and registration tokens)",
      });
  });

const deliverySchema = z.strictObject({
  syncDeadlineMs: positiveInt.default(2000),
  providerTimeoutMs: positiveInt.default(5000),
  jobTtlSeconds: positiveInt.default(600),
  retryBaseMs: positiveInt.default(1000),
  retryMaxMs: positiveInt.default(60_000),
  workerConcurrency: positiveInt.default(32),
  workerPollMs: positiveInt.default(500),
  breakerFailureThreshold: positiveInt.default(5),
  breakerCooldownMs: positiveInt.default(30_000),
  // 100, not less: at everyday rates every flush is a commit (a WAL flush) and a round trip; at 200
  // pushes/s, 25 ms cost Postgres 0.14-0.17 ms CPU per push and 100 ms 0.06-0.07 (bench, Prosody set).
  // Only replies that must wait for durability (a push not delivered in time, a coalesced one) wait longer.
  auditFlushMs: positiveInt.default(100),
  auditBatchSize: positiveInt.default(500),
  maxInFlight: positiveInt.default(5000),
  // Registrations kept in memory (about 0.9 KB of heap each): most pushes go to devices pushed to a moment ago.
  registrationCacheSize: positiveInt.default(20_000),
});

const limitsSchema = z.strictObject({
  devicesPerJid: positiveInt.default(20),
  // mod_push_appserver's push_appserver_rate_limit: one push per node per window, bursts coalesced.
  pushIntervalSeconds: nonNegativeInt.default(0),
});

const retentionSchema = z.strictObject({
  auditDays: positiveInt.default(30),
  purgeIntervalMinutes: positiveInt.default(60),
});

const apnsSchema = z
  .strictObject({
    bundleId: z.string().regex(/^[A-Za-z0-9.-]+$/, "must be an app bundle id such as org.example.chat"),
    defaultEnvironment: z.enum(apnsEnvironments).default("production"),
    teamId: z
      .string()
      .regex(/^[A-Z0-9]{10}$/, "must be the 10-character Apple Team ID")
      .optional(),
    keyId: z
      .string()
      .regex(/^[A-Z0-9]{10}$/, "must be the 10-character Key ID of the .p8 key")
      .optional(),
    key: pem("private key (.p8 file)").optional(),
    cert: pem("certificate").optional(),
    privateKey: pem("private key").optional(),
    passphrase: z.string().optional(),
    address: z.string().min(1).optional(),
    port: port.optional(),
    ca: pem("CA certificate").optional(),
    connections: positiveInt.default(2),
    maxInFlightPerConnection: positiveInt.default(100),
    voip: bool.default(false),
    alertExpirySeconds: positiveInt.default(4 * 7 * 24 * 3600),
  })
  .superRefine((a, ctx) => {
    const token = a.teamId !== undefined || a.keyId !== undefined || a.key !== undefined;
    const cert = a.cert !== undefined || a.privateKey !== undefined;
    if (token && cert) {
      ctx.addIssue({
        code: "custom",
        message: "give either token auth (teamId, keyId, key) or certificate auth (cert, privateKey), not both",
      });
    } else if (token) {
      for (const k of ["teamId", "keyId", "key"] as const) {
        if (a[k] === undefined) ctx.addIssue({ code: "custom", path: [k], message: "is required for token (.p8) auth" });
      }
    } else if (cert) {
      for (const k of ["cert", "privateKey"] as const) {
        if (a[k] === undefined) ctx.addIssue({ code: "custom", path: [k], message: "is required for certificate auth" });
      }
    } else {
      ctx.addIssue({ code: "custom", message: "needs credentials: teamId + keyId + key (.p8), or cert + privateKey" });
    }
  });

const serviceAccountSchema = z.object({
  client_email: z.string().min(1),
  private_key: pem("private key"),
  project_id: z.string().optional(),
  token_uri: z.string().optional(),
});

export const fcmCredentialKinds = ["service-account", "application-default"] as const;

const fcmSchema = z
  .strictObject({
    credentials: z
      .enum(fcmCredentialKinds)
      .optional()
      .describe(
        'Where FCM access tokens come from: "service-account" (the JSON key in serviceAccount, the default) or "application-default" (Google Application Default Credentials: GOOGLE_APPLICATION_CREDENTIALS, workload identity, the GCE/GKE metadata server)',
      ),
    serviceAccount: z
      .string()
      .min(1)
      .optional()
      .describe("The service-account JSON key from the Firebase console (or serviceAccountFile: its path)"),
    projectId: z
      .string()
      .min(1)
      .optional()
      .describe(
        "The Firebase project to send to; defaults to the service account's project_id, required with application-default credentials",
      ),
    baseUrl: z.url().default("https://fcm.googleapis.com"),
    tokenUrl: z.url().optional(),
    timeoutMs: positiveInt.default(10_000),
  })
  .transform((f, ctx) => {
    const base = { baseUrl: f.baseUrl, timeoutMs: f.timeoutMs };
    if (f.credentials === "application-default") {
      // The Firebase project is named explicitly: the project the server runs in (what ADC would guess) is
      // often not the one the apps are registered in.
      if (f.serviceAccount !== undefined)
        ctx.addIssue({
          code: "custom",
          path: ["serviceAccount"],
          message: "give either serviceAccount or credentials: application-default, not both",
        });
      if (f.tokenUrl !== undefined)
        ctx.addIssue({
          code: "custom",
          path: ["tokenUrl"],
          message: "applies to serviceAccount only (application-default credentials find their own token endpoint)",
        });
      if (f.projectId === undefined)
        ctx.addIssue({
          code: "custom",
          path: ["projectId"],
          message: "is required with credentials: application-default (the Firebase project to send to)",
        });
      if (f.serviceAccount !== undefined || f.tokenUrl !== undefined || f.projectId === undefined) return z.NEVER;
      return { ...base, projectId: f.projectId, auth: { kind: "application-default" as const } };
    }
    if (f.serviceAccount === undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["serviceAccount"],
        message: "is required (the service-account JSON key), unless credentials: application-default",
      });
      return z.NEVER;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(f.serviceAccount);
    } catch {
      ctx.addIssue({
        code: "custom",
        path: ["serviceAccount"],
        message: "must be the service-account JSON file from the Firebase console",
      });
      return z.NEVER;
    }
    const sa = serviceAccountSchema.safeParse(parsed);
    if (!sa.success) {
      ctx.addIssue({ code: "custom", path: ["serviceAccount"], message: "service-account JSON lacks client_email or private_key" });
      return z.NEVER;
    }
    const projectId = f.projectId ?? sa.data.project_id;
    if (!projectId) {
      ctx.addIssue({ code: "custom", path: ["projectId"], message: "is required (the service account names no project_id)" });
      return z.NEVER;
    }
    return {
      ...base,
      projectId,
      auth: {
        kind: "service-account" as const,
        clientEmail: sa.data.client_email,
        privateKey: sa.data.private_key,
        tokenUrl: f.tokenUrl ?? sa.data.token_uri ?? "https://oauth2.googleapis.com/token",
      },
    };
  });

/**
 * The outbound proxy every provider connection goes through as an HTTP CONNECT tunnel. Plain http://
 * host:port only: the tunnels are bare CONNECTs over plain HTTP with no Proxy-Authorization (one rule for
 * every provider: APNs's tunnel and undici's). Messages never echo the value.
 */
const httpsProxySchema = z
  .string()
  .transform((value, ctx) => {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      ctx.addIssue({ code: "custom", message: "must be a URL such as http://proxy.internal:3128" });
      return z.NEVER;
    }
    const problem =
      url.protocol !== "http:"
        ? "must start with http:// (the proxy is spoken to in plain HTTP; the tunnels through it carry TLS)"
        : url.username !== "" || url.password !== ""
          ? "must not carry a user name or password (APNs's client cannot authenticate to a proxy: allow this server at the proxy by address instead)"
          : url.port === ""
            ? "must name the port, such as http://proxy.internal:3128"
            : (url.pathname !== "/" && url.pathname !== "") || url.search !== "" || url.hash !== ""
              ? "must be just http://host:port"
              : undefined;
    if (problem !== undefined) {
      ctx.addIssue({ code: "custom", message: problem });
      return z.NEVER;
    }
    // URL keeps IPv6 literals in brackets; sockets want them bare.
    return { host: url.hostname.replace(/^\[|\]$/g, ""), port: Number(url.port) };
  })
  .describe(
    "HTTP proxy (http://host:port) for every connection to APNs, JPush and FCM, including FCM's OAuth token requests. Unset: connect directly (HTTPS_PROXY and HTTP_PROXY in the environment are ignored)",
  );

const strategySchema = z.strictObject({
  providers: z.array(z.enum(providerKinds)).min(1, "needs at least one provider"),
  mode: z.enum(["fallback", "all"]).default("fallback"),
  // A JPush push not confirmed received within this many seconds goes once through the next provider.
  confirmWithinSeconds: positiveInt.optional(),
});

const appSchema = z
  .strictObject({
    id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, "must be letters, digits, '.', '_' or '-' (at most 64)"),
    default: z.boolean().default(false),
    requireSecret: bool.default(false),
    // Privacy first: sender and body leave for Apple/JPush/Google only when the admin opts in.
    includeMessageContent: bool.default(false),
    alertTitle: z.string().default("New message"),
    alertBody: z.string().default("New message"),
    strategy: strategySchema.optional(),
    apns: apnsSchema.optional(),
    jpush: jpushSchema.optional(),
    fcm: fcmSchema.optional(),
    fpush: z.strictObject({ modules: z.record(z.string().min(1), z.enum(apnsEnvironments)) }).optional(),
    tigase: z.strictObject({ providers: z.record(z.string().min(1), z.enum(["apns", "jpush", "fcm"])) }).optional(),
  })
  .transform((app) => {
    const configured = (["apns", "jpush", "fcm"] as const).filter((k) => app[k] !== undefined);
    const strategy = app.strategy ?? {
      providers: configured.length > 0 ? [...configured] : (["log"] as const).slice(),
      mode: "fallback" as const,
    };
    return { ...app, strategy };
  });

export const configSchema = z
  .strictObject({
    component: componentSchema.prefault({}),
    domains: z.array(domainName).min(1, "needs at least one XMPP server domain").optional(),
    database: databaseSchema.prefault({}),
    http: httpSchema.prefault({}),
    log: z.strictObject({ level: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info") }).prefault({}),
    delivery: deliverySchema.prefault({}),
    limits: limitsSchema.prefault({}),
    retention: retentionSchema.prefault({}),
    httpsProxy: httpsProxySchema.optional(),
    // AES-256-GCM key (32 bytes, base64) to encrypt device tokens at rest; optional.
    tokenEncryptionKey: tokenKey.optional(),
    // During a key rotation: the key being replaced, read-only until `xmpp-push rotate-key` has finished.
    tokenEncryptionPreviousKey: tokenKey.optional(),
    apps: z
      .array(appSchema)
      .min(1, "needs at least one app")
      .prefault([{ id: "default", default: true }]),
  })
  .transform((c) => {
    const defaultApp = (c.apps.find((a) => a.default) ?? c.apps[0])!.id;
    // The server that publishes to push.example.org is, unless told otherwise, example.org.
    const domains = c.domains ?? [c.component.domain.split(".").slice(1).join(".") || c.component.domain];
    return { ...c, domains, defaultApp };
  });

export interface CrossCheckProblem {
  readonly path: readonly (string | number)[];
  readonly message: string;
}

/**
 * Checks that span several settings of the apps list. They run on the raw input, beside the schema,
 * so that they are reported together with every other problem (zod skips transforms once a field fails).
 */
export function crossCheckApps(rawApps: unknown): CrossCheckProblem[] {
  if (!Array.isArray(rawApps)) return [];
  const problems: CrossCheckProblem[] = [];
  const ids = new Map<string, number>();
  let defaults = 0;
  rawApps.forEach((raw: unknown, i) => {
    if (raw === null || typeof raw !== "object") return;
    const app = raw as Record<string, unknown>;
    if (typeof app.id === "string") {
      if (ids.has(app.id)) problems.push({ path: ["apps", i, "id"], message: `duplicate app id "${app.id}"` });
      ids.set(app.id, i);
    }
    if (app.default === true) defaults += 1;
    const strategy = app.strategy as { providers?: unknown } | undefined;
    const providers = Array.isArray(strategy?.providers) ? (strategy.providers as unknown[]) : [];
    providers.forEach((p, j) => {
      if ((p === "apns" || p === "jpush" || p === "fcm") && app[p] === undefined) {
        problems.push({ path: ["apps", i, "strategy", "providers", j], message: `lists ${p} but the app has no ${p} section` });
      }
    });
    if (new Set(providers).size !== providers.length) {
      problems.push({ path: ["apps", i, "strategy", "providers"], message: "lists a provider twice" });
    }
    problems.push(...crossCheckJpush(app, i));
    if (app.fpush !== undefined && app.apns === undefined) {
      problems.push({ path: ["apps", i, "fpush"], message: "needs an apns section (fpush nodes are APNs tokens)" });
    }
  });
  if (defaults > 1) problems.push({ path: ["apps"], message: "more than one app is marked default: true" });
  return problems;
}

export type ConfigInput = z.input<typeof configSchema>;
export type Config = Readonly<z.output<typeof configSchema>>;
export type AppConfig = Config["apps"][number];
export type ApnsConfig = NonNullable<AppConfig["apns"]>;
export type JpushConfig = NonNullable<AppConfig["jpush"]>;
export type FcmConfig = NonNullable<AppConfig["fcm"]>;
export type OutboundProxy = NonNullable<Config["httpsProxy"]>;
export type ProviderKind = (typeof providerKinds)[number];
