import type { AddressKind, NewRegistration, Registration } from "../domain/registration.js";

export interface DeviceKey {
  readonly app: string;
  readonly ownerJid: string;
  readonly deviceId: string;
  readonly channel: string;
  /** The space the device lives in ('' or absent: the XMPP side); see Registration.registrar. */
  readonly registrar?: string;
}

export interface DisableAddressInput {
  readonly node: string;
  readonly provider: AddressKind;
  readonly reason: string;
  readonly at: Date;
  /** APNs 410: skip when the address was re-registered after this instant (the token came back). */
  readonly unlessUpdatedAfter?: Date;
}

export interface RegistrationStore {
  /**
   * Inserts the device, or updates it when (app, owner, device, channel) already exists: the node stays,
   * the address is merged in (one per provider) and a disabled registration comes back to life.
   */
  register(input: NewRegistration, now: Date): Promise<{ registration: Registration; created: boolean }>;
  findByNode(node: string): Promise<Registration | undefined>;
  /** Many lookups in one query; nodes without a registration are absent from the map. */
  findByNodes(nodes: readonly string[]): Promise<ReadonlyMap<string, Registration>>;
  findByDevice(key: DeviceKey): Promise<Registration | undefined>;
  findByToken(provider: AddressKind, token: string): Promise<readonly Registration[]>;
  /** Registrations of an account in one registrar's space ('' by default: the XMPP side). */
  countByOwner(ownerJid: string, registrar?: string): Promise<number>;
  /**
   * Removes the registration and its addresses; true when something was removed. With a registrar, only
   * when the registration is that registrar's.
   */
  remove(node: string, registrar?: string): Promise<boolean>;
  /** Hands the registrations of one registrar to another (rows marked at migration to a token's fingerprint). */
  adoptRegistrar(from: string, to: string): Promise<number>;
  /** Removes one provider address of a registration; true when something was removed. */
  removeAddress(node: string, provider: AddressKind): Promise<boolean>;
  /** Marks one address dead; the registration is disabled when no live address is left. */
  disableAddress(input: DisableAddressInput): Promise<{ changed: boolean; registrationDisabled: boolean }>;
  touchLastPush(nodes: readonly string[], at: Date): Promise<void>;
  countActiveByApp(): Promise<readonly { app: string; provider: AddressKind; count: number }[]>;
  /** Device addresses per app and provider, live (neither it nor its registration disabled) and in all (`xmpp-push stats`). */
  countAddresses(): Promise<readonly { app: string; provider: AddressKind; live: number; total: number }[]>;
}
