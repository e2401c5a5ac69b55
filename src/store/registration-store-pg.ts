import type { Knex } from "knex";
import type { AddressKind, DeviceAddress, Dialect, NewRegistration, Registration } from "../domain/registration.js";
import type { DeviceKey, DisableAddressInput, RegistrationStore } from "../ports/registration-store.js";
import { affectedRows } from "./affected-rows.js";
import { preparedStatement } from "./prepared-statement.js";
import { tokenLookupHash, UnreadableTokenError, type TokenCipher } from "./token-cipher.js";

/** A registration command names a node already used by another device (client-chosen nodes). */
export class NodeTakenError extends Error {
  constructor() {
    super("this node is already registered for another device");
    this.name = "NodeTakenError";
  }
}

interface RegistrationRow {
  node: string;
  app: string;
  owner_jid: string;
  device_id: string;
  channel: string;
  dialect: string;
  registrar: string;
  secret_hash: string | null;
  created_at: number;
  updated_at: number;
  last_push_at: number | null;
  disabled_at: number | null;
  disabled_reason: string | null;
  addresses: AddressRow[] | string;
}

interface AddressRow {
  provider: AddressKind;
  token: string;
  environment: "sandbox" | "production" | null;
  push_type: "alert" | "background" | null;
  voip_token: string | null;
  updated_at: number;
  disabled_at: number | null;
  disabled_reason: string | null;
}

// Timestamps leave Postgres as whole milliseconds since the epoch (a registration's EpochMs), truncated
// as a Date would truncate them: neither pg nor we build a Date per timestamp of every row read, and the
// float8 is exact for any date a registration can have.
const epochMs = (column: string) => `floor(extract(epoch FROM ${column}) * 1000)::float8`;

const SELECT_WITH_ADDRESSES = `
  SELECT r.node, r.app, r.owner_jid, r.device_id, r.channel, r.dialect, r.registrar, r.secret_hash,
         ${epochMs("r.created_at")} AS created_at, ${epochMs("r.updated_at")} AS updated_at,
         ${epochMs("r.last_push_at")} AS last_push_at, ${epochMs("r.disabled_at")} AS disabled_at, r.disabled_reason,
         COALESCE(json_agg(json_build_object(
           'provider', a.provider, 'token', a.token, 'environment', a.environment, 'push_type', a.push_type,
           'voip_token', a.voip_token, 'updated_at', ${epochMs("a.updated_at")}, 'disabled_at', ${epochMs("a.disabled_at")},
           'disabled_reason', a.disabled_reason) ORDER BY a.provider) FILTER (WHERE a.node IS NOT NULL), '[]') AS addresses
    FROM registrations r
    LEFT JOIN registration_addresses a ON a.node = r.node`;

/** A stored address whose token no configured key opens (wrong or lost tokenEncryptionKey, a damaged row). */
export interface UnreadableAddress {
  readonly node: string;
  readonly provider: AddressKind;
  readonly reason: string;
}

export interface PgRegistrationStoreDeps {
  readonly knex: Knex;
  readonly cipher: TokenCipher;
  /** Told about every address left out because its token cannot be decrypted. */
  readonly onUnreadable?: (address: UnreadableAddress) => void;
  /** database.preparedStatements: the read behind cache misses as a named statement (true by default). */
  readonly preparedStatements?: boolean;
}

export function createPgRegistrationStore({
  knex,
  cipher,
  onUnreadable,
  preparedStatements = true,
}: PgRegistrationStoreDeps): RegistrationStore {
  // Every row read brings its own copy of the app, dialect, provider, environment and push type, and
  // the registration cache keeps thousands of registrations: one shared copy of each of these few values
  // saved ~110 heap bytes per cached registration (1,432 → 1,321, measured on 20,000 while timestamps
  // were still Dates; bench/cached-registration-bytes.ts measures what one costs now). Only fields with
  // a handful of values are interned; the bound keeps a surprise from growing the table.
  const interned = new Map<string, string>();
  const intern = <T extends string>(v: T): T => {
    const known = interned.get(v);
    if (known !== undefined) return known as T;
    if (interned.size < 256) interned.set(v, v);
    return v;
  };
  // One unreadable row must not fail a whole batched lookup: its address is left out (and reported), and a
  // registration with no readable address is unknown, as if absent. Registering the device again
  // overwrites the address with a readable one.
  const toAddress = (node: string, a: AddressRow): DeviceAddress | undefined => {
    try {
      return {
        provider: intern(a.provider),
        token: cipher.open(a.token),
        ...(a.environment ? { environment: intern(a.environment) } : {}),
        ...(a.push_type ? { pushType: intern(a.push_type) } : {}),
        ...(a.voip_token ? { voipToken: cipher.open(a.voip_token) } : {}),
        updatedAtMs: a.updated_at,
        ...(a.disabled_at !== null ? { disabledAtMs: a.disabled_at } : {}),
        ...(a.disabled_reason ? { disabledReason: a.disabled_reason } : {}),
      };
    } catch (err) {
      if (!(err instanceof UnreadableTokenError)) throw err;
      onUnreadable?.({ node, provider: a.provider, reason: err.message });
      return undefined;
    }
  };

  const toRegistration = (row: RegistrationRow): Registration | undefined => {
    const rows = typeof row.addresses === "string" ? (JSON.parse(row.addresses) as AddressRow[]) : row.addresses;
    const addresses = rows.flatMap((a) => toAddress(row.node, a) ?? []);
    if (addresses.length === 0 && rows.length > 0) return undefined;
    return {
      node: row.node,
      app: intern(row.app),
      ownerJid: row.owner_jid,
      deviceId: row.device_id,
      channel: row.channel,
      dialect: intern(row.dialect as Dialect),
      ...(row.registrar ? { registrar: row.registrar } : {}),
      ...(row.secret_hash ? { secretHash: row.secret_hash } : {}),
      addresses,
      createdAtMs: row.created_at,
      updatedAtMs: row.updated_at,
      ...(row.last_push_at !== null ? { lastPushAtMs: row.last_push_at } : {}),
      ...(row.disabled_at !== null ? { disabledAtMs: row.disabled_at } : {}),
      ...(row.disabled_reason ? { disabledReason: row.disabled_reason } : {}),
    };
  };

  // The read behind every push that misses the registration cache, outside knex (prepared-statement.ts;
  // named unless database.preparedStatements is false).
  const selectByNodes = preparedStatement<RegistrationRow>(
    knex,
    "xmpp_push_registrations_by_nodes",
    `${SELECT_WITH_ADDRESSES} WHERE r.node IN (SELECT json_array_elements_text($1::json)) GROUP BY r.node`,
    { named: preparedStatements },
  );

  const selectOne = async (db: Knex | Knex.Transaction, where: string, bindings: readonly unknown[]) => {
    const result = await db.raw<{ rows: RegistrationRow[] }>(
      `${SELECT_WITH_ADDRESSES} WHERE ${where} GROUP BY r.node`,
      bindings as Knex.RawBinding[],
    );
    return result.rows.flatMap((row) => toRegistration(row) ?? []);
  };

  return {
    async register(input: NewRegistration, now: Date) {
      try {
        return await knex.transaction(async (trx) => {
          const inserted = await trx("registrations")
            .insert({
              node: input.node,
              app: input.app,
              owner_jid: input.ownerJid,
              device_id: input.deviceId,
              channel: input.channel,
              dialect: input.dialect,
              registrar: input.registrar ?? "",
              secret_hash: input.secretHash ?? null,
              created_at: now,
              updated_at: now,
            })
            .onConflict(["app", "owner_jid", "device_id", "channel", "registrar"])
            .ignore()
            .returning("node");
          const created = inserted.length > 0;
          let node = input.node;
          if (!created) {
            const existing = await trx("registrations")
              .where({
                app: input.app,
                owner_jid: input.ownerJid,
                device_id: input.deviceId,
                channel: input.channel,
                registrar: input.registrar ?? "",
              })
              .forUpdate()
              .first("node");
            node = (existing as { node: string }).node;
            await trx("registrations")
              .where({ node })
              .update({
                dialect: input.dialect,
                secret_hash: input.secretHash ?? null,
                updated_at: now,
                disabled_at: null,
                disabled_reason: null,
              });
          }
          const a = input.address;
          await trx("registration_addresses")
            .insert({
              node,
              provider: a.provider,
              token: cipher.seal(a.token),
              token_hash: tokenLookupHash(a.token),
              environment: a.environment ?? null,
              push_type: a.pushType ?? null,
              voip_token: a.voipToken !== undefined ? cipher.seal(a.voipToken) : null,
              updated_at: now,
              disabled_at: null,
              disabled_reason: null,
            })
            .onConflict(["node", "provider"])
            .merge();
          const [registration] = await selectOne(trx, "r.node = ?", [node]);
          return { registration: registration!, created };
        });
      } catch (err) {
        if ((err as { code?: string; constraint?: string }).code === "23505") throw new NodeTakenError();
        throw err;
      }
    },

    async findByNode(node) {
      const [reg] = await selectOne(knex, "r.node = ?", [node]);
      return reg;
    },

    async findByNodes(nodes) {
      const found = new Map<string, Registration>();
      if (nodes.length === 0) return found;
      for (const row of await selectByNodes([JSON.stringify(nodes)])) {
        const reg = toRegistration(row);
        if (reg) found.set(reg.node, reg);
      }
      return found;
    },

    async findByDevice(key: DeviceKey) {
      const [reg] = await selectOne(knex, "r.app = ? AND r.owner_jid = ? AND r.device_id = ? AND r.channel = ? AND r.registrar = ?", [
        key.app,
        key.ownerJid,
        key.deviceId,
        key.channel,
        key.registrar ?? "",
      ]);
      return reg;
    },

    async findByToken(provider, token) {
      return selectOne(knex, "r.node IN (SELECT node FROM registration_addresses WHERE provider = ? AND token_hash = ?)", [
        provider,
        tokenLookupHash(token),
      ]);
    },

    async countByOwner(ownerJid, registrar = "") {
      const row = (await knex("registrations").where({ owner_jid: ownerJid, registrar }).count({ n: "*" }).first()) as { n: number };
      return Number(row.n);
    },

    async remove(node, registrar) {
      return (
        affectedRows(
          await knex("registrations")
            .where({ node, ...(registrar !== undefined ? { registrar } : {}) })
            .del(),
        ) > 0
      );
    },

    async adoptRegistrar(from, to) {
      return affectedRows(await knex("registrations").where({ registrar: from }).update({ registrar: to }));
    },

    async removeAddress(node, provider) {
      return affectedRows(await knex("registration_addresses").where({ node, provider }).del()) > 0;
    },

    async disableAddress({ node, provider, reason, at, unlessUpdatedAfter }: DisableAddressInput) {
      return knex.transaction(async (trx) => {
        let q = trx("registration_addresses").where({ node, provider }).whereNull("disabled_at");
        if (unlessUpdatedAfter !== undefined) q = q.where("updated_at", "<=", unlessUpdatedAfter);
        const changed = (await q.update({ disabled_at: at, disabled_reason: reason })) > 0;
        if (!changed) return { changed: false, registrationDisabled: false };
        const live = (await trx("registration_addresses").where({ node }).whereNull("disabled_at").count({ n: "*" }).first()) as {
          n: number;
        };
        if (Number(live.n) > 0) return { changed: true, registrationDisabled: false };
        await trx("registrations").where({ node }).whereNull("disabled_at").update({ disabled_at: at, disabled_reason: reason });
        return { changed: true, registrationDisabled: true };
      });
    },

    async touchLastPush(nodes, at) {
      if (nodes.length === 0) return;
      await knex.raw(`UPDATE registrations SET last_push_at = ? WHERE node IN (SELECT json_array_elements_text(?::json))`, [
        at,
        JSON.stringify(nodes),
      ]);
    },

    async countActiveByApp() {
      const rows = (await knex("registrations as r")
        .join("registration_addresses as a", "a.node", "r.node")
        .whereNull("r.disabled_at")
        .whereNull("a.disabled_at")
        .groupBy("r.app", "a.provider")
        .select("r.app", "a.provider")
        .count({ n: "*" })) as Array<{ app: string; provider: AddressKind; n: number }>;
      return rows.map((r) => ({ app: r.app, provider: r.provider, count: Number(r.n) }));
    },

    async countAddresses() {
      const rows = (await knex("registrations as r")
        .join("registration_addresses as a", "a.node", "r.node")
        .groupBy("r.app", "a.provider")
        .select("r.app", "a.provider")
        .count({ total: "*" })
        .select(knex.raw("count(*) FILTER (WHERE r.disabled_at IS NULL AND a.disabled_at IS NULL) AS live"))
        .orderBy(["r.app", "a.provider"])) as Array<{ app: string; provider: AddressKind; total: number | string; live: number | string }>;
      return rows.map((r) => ({ app: r.app, provider: r.provider, live: Number(r.live), total: Number(r.total) }));
    },
  };
}
