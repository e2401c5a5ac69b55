import { generateKeyPairSync } from "node:crypto";
import { configSchema, type Config, type ConfigInput } from "../../src/config/config-schema.js";
import { testCerts } from "./fakes/test-certs.js";

let p8: string | undefined;
/** A throwaway P-256 key in PKCS#8 PEM, the shape of an APNs .p8 key. */
export function testP8Key(): string {
  p8 ??= generateKeyPairSync("ec", { namedCurve: "prime256v1" }).privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  return p8;
}

export const JPUSH_APP_KEY = "0123456789abcdefABCDEF01";
export const JPUSH_MASTER_SECRET = "masterSecret0123456789ab";

/** An app with APNs and JPush credentials (aimed at loopback fakes unless overridden). */
export function chatApp(over: Record<string, unknown> = {}) {
  return {
    id: "chat",
    default: true,
    strategy: { providers: ["apns", "jpush"], mode: "fallback" },
    apns: { bundleId: "org.example.chat", teamId: "TEAM123456", keyId: "KEY1234567", key: testP8Key(), defaultEnvironment: "production" },
    jpush: { appKey: JPUSH_APP_KEY, masterSecret: JPUSH_MASTER_SECRET, baseUrl: "http://127.0.0.1:1" },
    ...over,
  };
}

/** An app's APNs section aimed at a fake APNs on loopback (its port, trusting its certificate), signing with the test key. */
export function fakeApnsSection(fake: { readonly port: number; readonly ca: string }, over: Record<string, unknown> = {}) {
  return {
    bundleId: "org.example.chat",
    teamId: "TEAM123456",
    keyId: "KEY1234567",
    key: testCerts().apnsKey,
    address: "127.0.0.1",
    port: fake.port,
    ca: fake.ca,
    ...over,
  };
}

/** A validated Config from a raw object, the way the config file would give it. */
export function testConfig(raw: ConfigInput | Record<string, unknown>): Config {
  return configSchema.parse({ domains: ["localhost"], log: { level: "silent" }, ...raw });
}
