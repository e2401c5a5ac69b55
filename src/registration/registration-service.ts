import type { AppConfig, Config } from "../config/config-schema.js";
import { isWellFormedToken, NODE_RULE, NODE_RULE_TEXT, normalizeToken } from "../domain/device-token.js";
import { domainOf } from "../domain/jid.js";
import type { AddressKind, ApnsEnvironment, ApnsPushType, Dialect, Registration } from "../domain/registration.js";
import { generateNode, generateSecret, hashSecret } from "../domain/secret.js";
import type { Clock } from "../ports/clock.js";
import type { RegistrationStore } from "../ports/registration-store.js";
import { hasControlCharacter } from "../shared/control-characters.js";
import type { RegistrationCache } from "./registration-cache.js";

// Register and unregister devices, for every dialect (XMPP ad-hoc commands, REST). The dialects only
// translate their wire format into these calls.

export interface RegisterInput {
  /** Bare JID of the account the device belongs to; "" for REST registrations that name no account. */
  readonly ownerJid: string;
  readonly app?: string;
  readonly deviceId: string;
  readonly channel?: string;
  readonly dialect: Dialect;
  /** Client-chosen node (mod_push_appserver dialect); generated otherwise. */
  readonly node?: string;
  readonly provider: AddressKind;
  readonly token: string;
  readonly environment?: ApnsEnvironment;
  readonly pushType?: ApnsPushType;
  readonly voipToken?: string;
  /** false for dialects that hand out no publish secret (Tigase, fpush). */
  readonly withSecret: boolean;
  /** The space the device is registered in: absent for the XMPP side, an HTTP token's fingerprint otherwise. */
  readonly registrar?: string;
  /** Cap on the registrar's registrations that name no account (accounts are capped by limits.devicesPerJid). */
  readonly withoutJidLimit?: number;
  /**
   * fpush: the owner is the publishing server's domain, and the device registers itself by its first
   * publish. The per-account cap does not apply (a server has any number of users), and an app's
   * secret requirement is told to that publish (not-authorized) instead of refusing the registration.
   */
  readonly ownerIsServer?: boolean;
}

export type RegisterResult =
  | { readonly ok: true; readonly registration: Registration; readonly secret?: string; readonly created: boolean }
  | { readonly ok: false; readonly reason: RegistrationRefusal; readonly message: string };

export type RegistrationRefusal = "invalid" | "domain" | "app" | "limit" | "node-taken" | "secret-required";

export interface UnregisterInput {
  readonly ownerJid: string;
  readonly app?: string;
  readonly deviceId: string;
  readonly channel?: string;
  /** Only this provider's address; the registration goes when it was the last one. */
  readonly provider?: AddressKind;
  readonly registrar?: string;
}

export interface RegistrationService {
  register(input: RegisterInput): Promise<RegisterResult>;
  /** Removes one device of an account; false when there was none. */
  unregister(input: UnregisterInput): Promise<boolean>;
  /** Removes the account's devices that use this token (Tigase unregister-device). */
  unregisterToken(ownerJid: string, provider: AddressKind, token: string): Promise<number>;
  /** Removes a node; with a registrar, only when the registration is that registrar's. */
  removeNode(node: string, registrar?: string): Promise<boolean>;
  appFor(appId: string | undefined): AppConfig | undefined;
}

export interface RegistrationServiceDeps {
  readonly store: RegistrationStore;
  readonly cache: RegistrationCache;
  readonly config: Pick<Config, "domains" | "apps" | "defaultApp" | "limits">;
  readonly clock: Clock;
  /** Maps store errors for a client-chosen node already in use. */
  readonly isNodeTaken: (err: unknown) => boolean;
}

export function createRegistrationService({ store, cache, config, clock, isNodeTaken }: RegistrationServiceDeps): RegistrationService {
  const refuse = (reason: RegistrationRefusal, message: string): RegisterResult => ({ ok: false, reason, message });
  const appFor = (id: string | undefined) => config.apps.find((a) => a.id === (id ?? config.defaultApp));
  const servesOwner = (ownerJid: string) => ownerJid === "" || config.domains.includes(domainOf(ownerJid));

  return {
    appFor,

    async register(input) {
      if (hasControlCharacter(input.app)) return refuse("invalid", "fields must not contain control characters");
      const app = appFor(input.app);
      if (!app) return refuse("app", "unknown app");
      // The domain is the client's input: not echoed back (it could be markup in someone's admin page).
      if (!servesOwner(input.ownerJid)) return refuse("domain", "this push service does not serve the JID's domain");
      if (!input.withSecret && app.requireSecret && input.ownerIsServer !== true)
        return refuse("secret-required", `app ${app.id} requires a registration that hands out a publish secret`);
      const providers = app.strategy.providers;
      if (!providers.includes(input.provider) && !providers.includes("log")) {
        return refuse("app", `app ${app.id} does not deliver through ${input.provider} (it uses ${providers.join(", ")})`);
      }
      const invalid = validate(input);
      if (invalid) return refuse("invalid", invalid);

      const channel = input.channel ?? "";
      const registrar = input.registrar ?? "";
      const existing = await store.findByDevice({ app: app.id, ownerJid: input.ownerJid, deviceId: input.deviceId, channel, registrar });
      if (!existing && input.ownerIsServer !== true) {
        const limit = input.ownerJid !== "" ? config.limits.devicesPerJid : input.withoutJidLimit;
        if (limit !== undefined && (await store.countByOwner(input.ownerJid, registrar)) >= limit) {
          return refuse(
            "limit",
            input.ownerJid !== "" ? `at most ${limit} devices per account` : `at most ${limit} registrations without a JID`,
          );
        }
      }
      const node = existing?.node ?? input.node ?? generateNode();
      // A fresh random secret on every registration, stored only as its hash: a database read yields no
      // usable secret, and a node that is registered again (a client-chosen one too) never gets an old
      // secret back. The one who registers hands the new secret to the user's server (XEP-0357 enable).
      const secret = input.withSecret ? generateSecret() : undefined;
      const token = normalizeToken(input.provider, input.token);
      const environment = input.environment ?? (input.provider === "apns" ? app.apns?.defaultEnvironment : undefined);
      try {
        const { registration, created } = await store.register(
          {
            node,
            app: app.id,
            ownerJid: input.ownerJid,
            deviceId: input.deviceId,
            channel,
            dialect: input.dialect,
            ...(registrar !== "" ? { registrar } : {}),
            ...(secret !== undefined ? { secretHash: hashSecret(secret) } : {}),
            address: {
              provider: input.provider,
              token,
              ...(environment !== undefined ? { environment } : {}),
              ...(input.pushType !== undefined ? { pushType: input.pushType } : {}),
              ...(input.voipToken !== undefined ? { voipToken: input.voipToken.toLowerCase() } : {}),
            },
          },
          clock.now(),
        );
        cache.invalidate(registration.node);
        return { ok: true, registration, created, ...(secret !== undefined ? { secret } : {}) };
      } catch (err) {
        if (isNodeTaken(err)) return refuse("node-taken", "this node is registered for another device");
        throw err;
      }
    },

    async unregister({ ownerJid, app, deviceId, channel, provider, registrar }) {
      if (hasControlCharacter(ownerJid, app, deviceId, channel)) return false;
      const appId = appFor(app)?.id;
      if (appId === undefined) return false;
      const reg = await store.findByDevice({ app: appId, ownerJid, deviceId, channel: channel ?? "", registrar: registrar ?? "" });
      if (!reg) return false;
      const others = reg.addresses.filter((a) => a.provider !== provider);
      if (provider !== undefined && others.length === reg.addresses.length) return false;
      const removed =
        provider !== undefined && others.length > 0 ? await store.removeAddress(reg.node, provider) : await store.remove(reg.node);
      cache.invalidate(reg.node);
      return removed;
    },

    async unregisterToken(ownerJid, provider, token) {
      const normalized = normalizeToken(provider, token);
      const regs = (await store.findByToken(provider, normalized)).filter((r) => r.ownerJid === ownerJid && r.registrar === undefined);
      for (const r of regs) {
        await store.remove(r.node);
        cache.invalidate(r.node);
      }
      return regs.length;
    },

    async removeNode(node, registrar) {
      const removed = await store.remove(node, registrar);
      cache.invalidate(node);
      return removed;
    },
  };
}

function validate(input: RegisterInput): string | undefined {
  if (input.deviceId.length === 0 || input.deviceId.length > 256) return "device-id must be 1 to 256 characters";
  if (hasControlCharacter(input.deviceId, input.ownerJid, input.channel)) return "fields must not contain control characters";
  if (!isWellFormedToken(input.provider, input.token)) return `the ${input.provider} token is not well-formed`;
  if (input.voipToken !== undefined && !isWellFormedToken("apns", input.voipToken)) return "the VoIP (PushKit) token is not well-formed";
  if (input.voipToken !== undefined && input.provider !== "apns") return "a VoIP token goes with an APNs registration";
  if (input.node !== undefined && !NODE_RULE.test(input.node)) return `the node ${NODE_RULE_TEXT}`;
  if ((input.channel ?? "").length > 3071) return "the channel is too long";
  return undefined;
}

// Kept for callers that still import it from here (delivery/publish-service.ts); the rule is domain/jid.ts.
export { domainOf } from "../domain/jid.js";
