// What each setting of the config file means: for the README's reference table (config-reference.ts,
// `npm run docs:config`; test/unit/config/config-reference.test.ts fails when a setting is undocumented
// or the README is stale) and for editors (descriptions in `xmpp-push config schema`).
// `default` is given only where the JSON Schema cannot carry it (defaults behind a transform, or computed).

export interface SettingDoc {
  readonly description: string;
  readonly default?: string;
}

export const SETTING_DOCS: Readonly<Record<string, SettingDoc>> = {
  "component.service": { description: "The XMPP server's component port (XEP-0114), `xmpp://host:port`." },
  "component.domain": { description: "The component's domain, as configured on the XMPP server." },
  "component.secret": { description: "The component secret shared with the XMPP server.", default: "none (the server will refuse us)" },
  "component.reconnectMaxDelayMs": {
    description: "Reconnect backoff cap; keep it small on ejabberd, which drops registrations while we are away.",
  },
  "component.mode": {
    description: "`exclusive`: of several replicas one connects, the others stand by (Prosody); `shared`: all connect (ejabberd).",
  },
  "component.maxStanzaBytes": {
    description:
      "Largest stanza accepted from the XMPP server; a larger one closes the stream with `policy-violation`, then xmpp-push reconnects.",
  },
  domains: {
    description: "XMPP server domains allowed to publish to us and whose users may register.",
    default: "the component domain without its first label",
  },
  "database.url": { description: "Postgres URL.", default: "none: embedded PGlite in `dataDir`" },
  "database.dataDir": { description: "Directory of the embedded database (used without `url`)." },
  "database.migrateOnStart": {
    description: "`serve` applies pending migrations at start; `false`: run `xmpp-push migrate` yourself.",
    default: "`true`",
  },
  "database.poolMax": { description: "Postgres connections per process." },
  "database.preparedStatements": {
    description:
      "The registration read behind every cache miss as a named prepared statement, planned once per connection. " +
      "Set false behind a pooler that does not keep them (PgBouncer's transaction pooling before 1.21, or with `max_prepared_statements = 0`).",
  },
  "http.host": { description: "Address the HTTP server listens on (health, metrics, REST registration, admin API)." },
  "http.port": { description: "HTTP port; 0 picks a free one." },
  "http.adminToken": { description: "Bearer token of the admin API (at least 16 characters).", default: "none (admin API off)" },
  "http.registrationToken": {
    description: "Bearer token of REST registration (at least 16 characters).",
    default: "none (REST registration off)",
  },
  "http.registrationTokens[].name": {
    description: "Name of this registration token (letters, digits, `.`, `_`, `-`); shown in logs, never the token.",
  },
  "http.registrationTokens[].token": {
    description: "The bearer token (at least 16 characters); each token sees and deletes only the registrations it made.",
  },
  "http.registrationTokens[].domains": { description: "Served domains this token may register for.", default: "every served domain" },
  "http.registrationTokens[].apps": { description: "Apps this token may register for.", default: "every app" },
  "http.registrationTokens[].actForUsers": {
    description:
      "Whether the token may name a user's JID (a backend trusted by the XMPP server's users); without it only registrations without a JID.",
  },
  "http.registrationTokens[].registrationsWithoutJid": {
    description: "Cap on this token's registrations that name no JID (those with a JID are capped by `limits.devicesPerJid`).",
  },
  "http.metricsToken": {
    description: "Bearer token Prometheus must send to `GET /metrics` (at least 16 characters).",
    default: "none (/metrics open)",
  },
  "http.metricsRefreshSeconds": {
    description: "How often the database-backed gauges (registrations, queue) are recomputed; a scrape reads the last value.",
  },
  "http.trustProxy": {
    description:
      "Addresses or CIDRs of reverse proxies whose `X-Forwarded-For` is believed (comma-separated in the variable); empty: the socket's peer is the client.",
  },
  "http.bodyLimitBytes": { description: "Largest HTTP request body accepted." },
  "http.requestsPerMinute": { description: "Requests a minute per client address (probes and `/metrics` exempt)." },
  "http.headersTimeoutMs": { description: "A client must send all request headers within this time (slow-client defence)." },
  "http.requestTimeoutMs": { description: "A client must send the whole request within this time." },
  "http.idleTimeoutMs": { description: "An idle socket is closed after this time." },
  "http.keepAliveTimeoutMs": { description: "How long a kept-alive connection waits for its next request." },
  "http.maxConnections": { description: "Open HTTP connections at most; more are refused." },
  httpsProxy: {
    description:
      "Outbound proxy for every provider connection (APNs, JPush, FCM and its token requests), `http://host:port`, through HTTP CONNECT; `HTTPS_PROXY` in the environment is ignored. No user name or password (APNs's client cannot send them).",
    default: "none (direct)",
  },
  "log.level": { description: "`fatal`, `error`, `warn`, `info`, `debug`, `trace` or `silent`." },
  "delivery.syncDeadlineMs": {
    description:
      "The publish reply waits at most this long for the first attempt, then the push is queued. A push whose first attempt takes more than half of this is written ahead to the queue, so a crash cannot lose it.",
  },
  "delivery.providerTimeoutMs": { description: "Timeout of one provider request." },
  "delivery.jobTtlSeconds": { description: "A push not delivered by then is dropped (a stale push is worse than none)." },
  "delivery.retryBaseMs": { description: "First retry delay; doubles per attempt, with jitter." },
  "delivery.retryMaxMs": { description: "Longest retry delay, jitter included (only a provider's Retry-After may ask for longer)." },
  "delivery.workerConcurrency": { description: "Queued pushes delivered at once per process." },
  "delivery.workerPollMs": { description: "How often the queue worker looks for due pushes." },
  "delivery.breakerFailureThreshold": {
    description: "Failures in a row that open a provider's circuit breaker for an app (a configuration error opens it at once).",
  },
  "delivery.breakerCooldownMs": { description: "How long an open breaker waits before one probe request." },
  "delivery.auditFlushMs": {
    description:
      "Group commit interval of audit rows and queue writes. Lower it for a quicker answer to publishes that are queued rather than delivered at once; raise it to save database work per push.",
  },
  "delivery.auditBatchSize": { description: "Rows written per group commit at most." },
  "delivery.maxInFlight": { description: "Publishes in progress before new ones are answered `wait`/resource-constraint." },
  "delivery.registrationCacheSize": {
    description: 'Registrations kept in memory (about 0.9 KB of heap each with two addresses; see docs/operations.md, "Memory").',
  },
  "limits.devicesPerJid": { description: "Registered devices per account at most." },
  "limits.pushIntervalSeconds": { description: "One push per device per interval; pushes in between are coalesced. 0: off." },
  "retention.auditDays": {
    description:
      "Days delivery records are kept, in whole days (UTC): a day is dropped once all of it is older, so a record may stay up to one day longer.",
  },
  "retention.purgeIntervalMinutes": {
    description: "How often old days of delivery records are dropped and the audit's partitions for the coming days created.",
  },
  tokenEncryptionKey: {
    description: "AES-256-GCM key encrypting device tokens at rest: 32 random bytes, base64 (`openssl rand -base64 32`).",
    default: "none (tokens stored as given)",
  },
  tokenEncryptionPreviousKey: {
    description:
      'The key being replaced during a key rotation: read-only, until `xmpp-push rotate-key` finishes (docs/operations.md, "Token encryption key").',
    default: "none",
  },
  "apps[].id": { description: "The app's id (letters, digits, `.`, `_`, `-`); registrations name it.", default: "required" },
  "apps[].default": { description: "Registrations that name no app belong to this one." },
  "apps[].requireSecret": {
    description: "Refuse registration dialects that hand out no publish secret (Tigase, fpush).",
    default: "`false`",
  },
  "apps[].includeMessageContent": {
    description: "Send sender and message body to Apple/JPush/Google; `false`: a generic text.",
    default: "`false`",
  },
  "apps[].alertTitle": { description: "Alert title when no message content is sent." },
  "apps[].alertBody": { description: "Alert text when no message content is sent." },
  "apps[].strategy.providers": { description: "Providers tried in this order.", default: "the configured providers, else `[log]`" },
  "apps[].strategy.mode": { description: "`fallback`: the next provider when one fails; `all`: every address." },
  "apps[].strategy.confirmWithinSeconds": {
    description:
      "A push JPush accepted but did not confirm received within this time goes once through the rest of the chain (needs `jpush.receipts.enabled`, a provider after jpush and `fallback` mode).",
    default: "none (off)",
  },
  "apps[].apns.bundleId": { description: "The iOS app's bundle id (the APNs topic).", default: "required" },
  "apps[].apns.defaultEnvironment": {
    description: "APNs environment of registrations that name none: `production` or `sandbox` (development builds).",
  },
  "apps[].apns.teamId": { description: "Token auth: the 10-character Apple Team ID." },
  "apps[].apns.keyId": { description: "Token auth: the 10-character Key ID of the .p8 key." },
  "apps[].apns.key": { description: "Token auth: the .p8 key (PEM)." },
  "apps[].apns.cert": { description: "Certificate auth: the client certificate (PEM)." },
  "apps[].apns.privateKey": { description: "Certificate auth: its private key (PEM)." },
  "apps[].apns.passphrase": { description: "Certificate auth: the private key's passphrase, if it has one." },
  "apps[].apns.address": {
    description: "APNs host instead of Apple's (a test double or a relay).",
    default: "Apple's host for the environment",
  },
  "apps[].apns.port": { description: "APNs port with `address`.", default: "443" },
  "apps[].apns.ca": { description: "CA certificate (PEM) to trust for `address`.", default: "the system's CAs" },
  "apps[].apns.connections": { description: "HTTP/2 connections to APNs." },
  "apps[].apns.maxInFlightPerConnection": { description: "Requests in flight per connection." },
  "apps[].apns.voip": { description: "Send PushKit call pushes to devices that registered a VoIP token.", default: "`false`" },
  "apps[].apns.alertExpirySeconds": { description: "How long APNs keeps an undelivered alert push (`apns-expiration`)." },
  "apps[].jpush.appKey": { description: "The 24-character AppKey of the JPush console.", default: "required" },
  "apps[].jpush.masterSecret": { description: "The 24-character Master Secret of the JPush console.", default: "required" },
  "apps[].jpush.baseUrl": { description: "JPush API endpoint (`https://bjapi.push.jiguang.cn` for the Beijing one)." },
  "apps[].jpush.timeoutMs": { description: "Timeout of one JPush request." },
  "apps[].jpush.reportBaseUrl": {
    description: "JPush Report API host (receipts).",
    default: "`https://report.jpush.cn`, or the Beijing report host when `baseUrl` is Beijing's",
  },
  "apps[].jpush.thirdPartyChannel": {
    description:
      "Vendor channel options sent as JPush's `options.third_party_channel`, per vendor (xiaomi, huawei, honor, oppo, vivo, meizu, fcm, hmos, asus, nio) with JPush's documented fields; see docs/providers.md.",
  },
  "apps[].jpush.classification": {
    description: "JPush `options.classification`: 1 marks a push as a system/IM message, 0 as operational.",
  },
  "apps[].jpush.timeToLiveSeconds": {
    description: "JPush `options.time_to_live`: how long JPush keeps the push for an offline phone.",
    default: "JPush's own (1 day)",
  },
  "apps[].jpush.receipts.enabled": {
    description: "Poll JPush's Report API for delivery receipts of this app's pushes (costs JPush API quota).",
    default: "off",
  },
  "apps[].jpush.receipts.windowSeconds": {
    description: "How long a push's receipt is waited for before JPush's per-device verdict settles it.",
  },
  "apps[].jpush.receipts.pollSeconds": { description: "How often the receipt poller asks JPush (100 messages per call)." },
  "apps[].fcm.serviceAccount": {
    description: "The service-account JSON of the Firebase console.",
    default: "required unless `credentials` is `application-default`",
  },
  "apps[].fcm.credentials": {
    description:
      "`application-default`: Google Application Default Credentials (workload identity, `GOOGLE_APPLICATION_CREDENTIALS`, the metadata server) instead of a key file; needs `projectId`.",
    default: "none (the service-account key)",
  },
  "apps[].fcm.projectId": {
    description: "Firebase project id (required with `credentials: application-default`).",
    default: "the service account's `project_id`",
  },
  "apps[].fcm.baseUrl": { description: "FCM API endpoint." },
  "apps[].fcm.tokenUrl": { description: "OAuth token endpoint.", default: "the service account's `token_uri`" },
  "apps[].fcm.timeoutMs": { description: "Timeout of one FCM request." },
  "apps[].fpush.modules": { description: "Monal-style pushes without registration: `pushModule` name → APNs environment." },
  "apps[].tigase.providers": { description: "Tigase `register-device` provider ids → `apns`, `jpush` or `fcm`." },
};
