import { execFileSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Key material for the loopback provider fakes, generated once per process. */
export interface TestCerts {
  /** PEM key of the self-signed TLS certificate (P-256). */
  readonly tlsKey: string;
  /** PEM self-signed certificate for CN=localhost, SAN DNS:localhost + IP:127.0.0.1; pass it as `ca`. */
  readonly tlsCert: string;
  /** P-256 PKCS#8 PEM private key for APNs ES256 provider tokens (what Apple's .p8 file holds). */
  readonly apnsKey: string;
  /** SPKI PEM public half of `apnsKey`, for `startFakeApns({ verifyJwtWith })`. */
  readonly apnsPublicKey: string;
  /** RSA PKCS#8 PEM private key for the fake FCM service account (RS256 OAuth assertions). */
  readonly fcmKey: string;
  /** SPKI PEM public half of `fcmKey`. */
  readonly fcmPublicKey: string;
  /** Temp directory holding `tls-key.pem` and `tls-cert.pem`; removed when the process exits. */
  readonly dir: string;
}

// Generating an RSA key and shelling out to openssl costs ~100 ms; every fake in a test file (and
// every benchmark run) shares one set, so it is cached for the life of the process.
let cached: TestCerts | undefined;

/** Returns the process-wide test key material, generating it on first use. */
export function testCerts(): TestCerts {
  cached ??= generateTestCerts();
  return cached;
}

function generateTestCerts(): TestCerts {
  const dir = mkdtempSync(join(tmpdir(), "xmpp-push-fake-certs-"));
  process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
  const keyPath = join(dir, "tls-key.pem");
  const certPath = join(dir, "tls-cert.pem");
  // node:crypto cannot issue X.509 certificates. The APNs client connects to `https://<address>` with
  // address 127.0.0.1 or localhost, so the SAN must name both or TLS verification fails (docs/provider-internals.md, "Local fakes").
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      keyPath,
      "-out",
      certPath,
      "-days",
      "30",
      "-subj",
      "/CN=localhost",
      "-addext",
      "subjectAltName=DNS:localhost,IP:127.0.0.1",
    ],
    { stdio: ["ignore", "ignore", "pipe"], timeout: 30_000 },
  );
  const apns = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  const fcm = generateKeyPairSync("rsa", { modulusLength: 2048 });
  return {
    tlsKey: readFileSync(keyPath, "utf8"),
    tlsCert: readFileSync(certPath, "utf8"),
    apnsKey: apns.privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    apnsPublicKey: apns.publicKey.export({ type: "spki", format: "pem" }).toString(),
    fcmKey: fcm.privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    fcmPublicKey: fcm.publicKey.export({ type: "spki", format: "pem" }).toString(),
    dir,
  };
}
