import { createHash } from "node:crypto";
import type { Config } from "../config/config-schema.js";
import { tokensEqual } from "../domain/secret.js";
import { domainOf } from "../domain/jid.js";

// What an HTTP registration token may do. Each token has its own space of registrations, named by a
// fingerprint of the token (the token itself is stored nowhere): it creates, sees and deletes only
// those, never what users registered over XMPP nor what another token made.

export interface RegistrationScope {
  /** The token's name from the config, for logs and metrics. */
  readonly name: string;
  /** Fingerprint of the token: the registrar its registrations are stored under. */
  readonly registrar: string;
  readonly actForUsers: boolean;
  readonly withoutJidLimit: number;
  /** Why this token may not register this (app, jid), or undefined when it may. */
  refusal(app: string, jid: string): string | undefined;
}

interface ScopedToken {
  readonly token: string;
  readonly scope: RegistrationScope;
}

/** A stable, non-reversible identity for a bearer token (128 bits of its sha256). */
export function registrarOf(token: string): string {
  return `token:${createHash("sha256").update(`xmpp-push registrar\u0000${token}`, "utf8").digest("hex").slice(0, 32)}`;
}

export function registrationScopes(config: Pick<Config, "http" | "domains" | "defaultApp">): {
  readonly any: boolean;
  /** The scope of the presented token; every configured token is compared (constant time each). */
  find(presented: string): RegistrationScope | undefined;
  /** The legacy single token's registrar, which takes over the rows made over HTTP before scopes existed. */
  readonly legacyRegistrar: string | undefined;
} {
  const { http } = config;
  const entries = [
    ...(http.registrationToken !== undefined
      ? [{ name: "default", token: http.registrationToken, actForUsers: true, registrationsWithoutJid: 100_000 }]
      : []),
    ...http.registrationTokens,
  ];
  const tokens: ScopedToken[] = entries.map((e) => {
    const domains = new Set(("domains" in e && e.domains) || config.domains);
    const apps = "apps" in e && e.apps ? new Set(e.apps) : undefined;
    return {
      token: e.token,
      scope: {
        name: e.name,
        registrar: registrarOf(e.token),
        actForUsers: e.actForUsers,
        withoutJidLimit: e.registrationsWithoutJid,
        refusal(app, jid) {
          if (apps && !apps.has(app || config.defaultApp)) return "this token may not register for this app";
          if (jid === "") return undefined;
          if (!e.actForUsers) return "this token may not name a jid (actForUsers is off)";
          if (!domains.has(domainOf(jid))) return "this token may not register for the JID's domain";
          return undefined;
        },
      },
    };
  });
  return {
    any: tokens.length > 0,
    find(presented) {
      let found: RegistrationScope | undefined;
      for (const t of tokens) if (tokensEqual(presented, t.token)) found = t.scope;
      return found;
    },
    legacyRegistrar: http.registrationToken !== undefined ? registrarOf(http.registrationToken) : undefined,
  };
}
