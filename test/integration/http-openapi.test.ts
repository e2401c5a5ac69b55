import { Validator } from "@seriousme/openapi-schema-validator";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServer, type Server } from "../../src/main.js";
import { freshTestDatabase, type TestDatabase } from "../support/db.js";
import { recordingLogger } from "../support/memory/recording-logger.js";
import { testConfig } from "../support/test-config.js";

// Issue 10.4: /openapi.json is generated from the zod schemas the routes validate with, so it is a
// valid OpenAPI 3.1 document that lists exactly the routes the server has.

interface OpenApi {
  openapi: string;
  paths: Record<
    string,
    Record<
      string,
      {
        requestBody?: { content: Record<string, { schema: Record<string, unknown> }> };
        deprecated?: boolean;
        parameters?: Array<{ name: string; in: string }>;
      }
    >
  >;
}

let db: TestDatabase;
let server: Server;
let doc: OpenApi;

beforeAll(async () => {
  db = await freshTestDatabase();
  server = await createServer(
    testConfig({
      component: { service: "xmpp://127.0.0.1:1", domain: "push.localhost" },
      http: { port: 0, adminToken: "admin-token-0123456789abcdef", registrationToken: "registration-token-0123456789" },
    }),
    { log: recordingLogger("warn").log, db },
  );
  await server.start();
  const res = await fetch(`${server.httpAddress()}/openapi.json`);
  expect(res.status).toBe(200);
  doc = (await res.json()) as OpenApi;
});

afterAll(async () => {
  await server?.stop();
  await db?.dispose();
});

const toOpenApiPath = (url: string) => url.replace(/:(\w+)/g, "{$1}");

describe("/openapi.json", () => {
  it("is a valid OpenAPI 3.1 document", async () => {
    expect(doc.openapi).toMatch(/^3\.1\./);
    const result = await new Validator().validate(doc as unknown as Parameters<Validator["validate"]>[0]);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it("documents every route, and every documented route exists", () => {
    const served = server.http
      .routes()
      .map((r) => `${r.method} ${toOpenApiPath(r.url)}`)
      .sort();
    const documented = Object.entries(doc.paths)
      .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`))
      .sort();
    expect(documented).toEqual(served);
    expect(served).toEqual(
      expect.arrayContaining([
        "POST /v1/registrations",
        "DELETE /v1/registrations",
        "GET /admin/v1/registrations/{node}",
        "GET /openapi.json",
      ]),
    );
  });

  it("describes the request bodies and parameters the routes check", async () => {
    const body = doc.paths["/v1/registrations"]!.post!.requestBody!.content["application/json"]!.schema;
    expect(body).toMatchObject({
      type: "object",
      additionalProperties: false,
      required: expect.arrayContaining(["deviceId", "provider", "token"]),
    });
    expect((body.properties as Record<string, unknown>).provider).toMatchObject({ enum: ["apns", "jpush", "fcm"] });
    // What the document says is refused, the route refuses.
    const res = await fetch(`${server.httpAddress()}/v1/registrations`, {
      method: "POST",
      headers: { authorization: "Bearer registration-token-0123456789", "content-type": "application/json" },
      body: JSON.stringify({ deviceId: "d", provider: "carrier-pigeon", token: "x" }),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toMatch(/^provider: /);
    expect(doc.paths["/push_appserver/v1/register"]!.post!.requestBody!.content).toHaveProperty("application/x-www-form-urlencoded");
    expect(doc.paths["/admin/v1/registrations/{node}"]!.get!.parameters).toEqual([expect.objectContaining({ name: "node", in: "path" })]);
    expect(doc.paths["/v1/registrations/{node}"]!.get!.deprecated).toBe(true);
    expect(doc.paths["/admin/v1/registrations/{node}"]!.get!.deprecated).toBeUndefined();
  });
});
