import type { AddressKind, DeviceAddress, NewRegistration, Registration } from "../../../src/domain/registration.js";
import type { DeviceKey, RegistrationStore } from "../../../src/ports/registration-store.js";
import { NodeTakenError } from "../../../src/store/registration-store-pg.js";

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
type Row = Mutable<Omit<Registration, "addresses">> & { addresses: Array<Mutable<DeviceAddress>> };

/**
 * The registration store in memory, with the Postgres store's semantics (the contract suite in
 * test/support/contracts/ runs against both): one row per (app, owner, device, channel, registrar),
 * one address per provider, a disabled registration revived by registering again.
 */
export function memoryRegistrationStore(): RegistrationStore {
  const rows = new Map<string, Row>();
  const registrarOf = (r: { registrar?: string }) => r.registrar ?? "";
  const sameDevice = (r: Row, k: DeviceKey) =>
    r.app === k.app &&
    r.ownerJid === k.ownerJid &&
    r.deviceId === k.deviceId &&
    r.channel === k.channel &&
    registrarOf(r) === registrarOf(k);
  // Copies out, so a caller never holds (or changes) the stored row; addresses sorted by provider as the SQL orders them.
  const view = (r: Row): Registration => ({
    ...r,
    addresses: [...r.addresses].sort((a, b) => a.provider.localeCompare(b.provider)).map((a) => ({ ...a })),
  });

  return {
    async register(input: NewRegistration, now: Date) {
      const existing = [...rows.values()].find((r) => sameDevice(r, input));
      let row: Row;
      if (existing) {
        row = existing;
        row.dialect = input.dialect;
        if (input.secretHash !== undefined) row.secretHash = input.secretHash;
        else delete row.secretHash;
        row.updatedAtMs = now.getTime();
        delete row.disabledAtMs;
        delete row.disabledReason;
      } else {
        if (rows.has(input.node)) throw new NodeTakenError();
        row = {
          node: input.node,
          app: input.app,
          ownerJid: input.ownerJid,
          deviceId: input.deviceId,
          channel: input.channel,
          dialect: input.dialect,
          ...(input.registrar ? { registrar: input.registrar } : {}),
          ...(input.secretHash !== undefined ? { secretHash: input.secretHash } : {}),
          addresses: [],
          createdAtMs: now.getTime(),
          updatedAtMs: now.getTime(),
        };
        rows.set(row.node, row);
      }
      row.addresses = [
        ...row.addresses.filter((a) => a.provider !== input.address.provider),
        { ...input.address, updatedAtMs: now.getTime() },
      ];
      return { registration: view(row), created: existing === undefined };
    },

    async findByNode(node) {
      const r = rows.get(node);
      return r && view(r);
    },

    async findByNodes(nodes) {
      const found = new Map<string, Registration>();
      for (const n of nodes) {
        const r = rows.get(n);
        if (r) found.set(n, view(r));
      }
      return found;
    },

    async findByDevice(key) {
      const r = [...rows.values()].find((x) => sameDevice(x, key));
      return r && view(r);
    },

    async findByToken(provider, token) {
      return [...rows.values()].filter((r) => r.addresses.some((a) => a.provider === provider && a.token === token)).map(view);
    },

    async countByOwner(ownerJid, registrar = "") {
      return [...rows.values()].filter((r) => r.ownerJid === ownerJid && registrarOf(r) === registrar).length;
    },

    async remove(node, registrar) {
      const r = rows.get(node);
      if (!r || (registrar !== undefined && registrarOf(r) !== registrar)) return false;
      return rows.delete(node);
    },

    async adoptRegistrar(from, to) {
      let n = 0;
      for (const r of rows.values()) {
        if (registrarOf(r) !== from) continue;
        if (to) r.registrar = to;
        else delete r.registrar;
        n += 1;
      }
      return n;
    },

    async removeAddress(node, provider: AddressKind) {
      const r = rows.get(node);
      if (!r) return false;
      const before = r.addresses.length;
      r.addresses = r.addresses.filter((a) => a.provider !== provider);
      return r.addresses.length < before;
    },

    async disableAddress({ node, provider, reason, at, unlessUpdatedAfter }) {
      const r = rows.get(node);
      const a = r?.addresses.find((x) => x.provider === provider && x.disabledAtMs === undefined);
      if (!r || !a || (unlessUpdatedAfter !== undefined && a.updatedAtMs > unlessUpdatedAfter.getTime()))
        return { changed: false, registrationDisabled: false };
      a.disabledAtMs = at.getTime();
      a.disabledReason = reason;
      if (r.addresses.some((x) => x.disabledAtMs === undefined)) return { changed: true, registrationDisabled: false };
      if (r.disabledAtMs === undefined) {
        r.disabledAtMs = at.getTime();
        r.disabledReason = reason;
      }
      return { changed: true, registrationDisabled: true };
    },

    async touchLastPush(nodes, at) {
      for (const n of nodes) {
        const r = rows.get(n);
        if (r) r.lastPushAtMs = at.getTime();
      }
    },

    async countAddresses() {
      const counts = new Map<string, { app: string; provider: AddressKind; live: number; total: number }>();
      for (const r of rows.values()) {
        for (const a of r.addresses) {
          const k = `${r.app}\u0000${a.provider}`;
          const c = counts.get(k) ?? { app: r.app, provider: a.provider, live: 0, total: 0 };
          c.total += 1;
          if (r.disabledAtMs === undefined && a.disabledAtMs === undefined) c.live += 1;
          counts.set(k, c);
        }
      }
      return [...counts.values()].sort((a, b) => a.app.localeCompare(b.app) || a.provider.localeCompare(b.provider));
    },
    async countActiveByApp() {
      const counts = new Map<string, { app: string; provider: AddressKind; count: number }>();
      for (const r of rows.values()) {
        if (r.disabledAtMs !== undefined) continue;
        for (const a of r.addresses) {
          if (a.disabledAtMs !== undefined) continue;
          const k = `${r.app}\u0000${a.provider}`;
          const c = counts.get(k) ?? { app: r.app, provider: a.provider, count: 0 };
          c.count += 1;
          counts.set(k, c);
        }
      }
      return [...counts.values()];
    },
  };
}
