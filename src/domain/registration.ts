// A device registration: which app it belongs to, who owns it, and where a push can reach it.
// Nothing here knows about XMPP stanzas, HTTP or SQL.

export const addressKinds = ["apns", "jpush", "fcm"] as const;
export type AddressKind = (typeof addressKinds)[number];
export type ApnsEnvironment = "sandbox" | "production";
export type ApnsPushType = "alert" | "background";

/** How the device registered; decides which checks a publish gets (secretless dialects have none). */
export type Dialect = "p2" | "appserver" | "tigase" | "fpush" | "rest";

/**
 * A moment as milliseconds since the Unix epoch. A registration's moments are numbers, not Dates: the
 * registration cache keeps thousands of registrations, and a Date costs 96 heap bytes where a number
 * costs 16 (five of them were ~400 of a cached registration's ~1,310 bytes).
 */
export type EpochMs = number;

/** One way to reach the device: an APNs token, a JPush registration id or an FCM token. */
export interface DeviceAddress {
  readonly provider: AddressKind;
  readonly token: string;
  /** APNs environment the token belongs to; for JPush, whether its iOS devices use production APNs. */
  readonly environment?: ApnsEnvironment;
  readonly pushType?: ApnsPushType;
  /** PushKit token for call pushes (Tigase `device-second-token`). */
  readonly voipToken?: string;
  readonly updatedAtMs: EpochMs;
  readonly disabledAtMs?: EpochMs;
  readonly disabledReason?: string;
}

export interface Registration {
  readonly node: string;
  readonly app: string;
  readonly ownerJid: string;
  readonly deviceId: string;
  /** p2's per-MUC registrations; empty for the account itself. */
  readonly channel: string;
  readonly dialect: Dialect;
  /**
   * Who made it, and the only one (besides the operator) who may see or change it: absent for the XMPP
   * side, otherwise the fingerprint of the HTTP registration token.
   */
  readonly registrar?: string;
  /** sha256 of the publish secret; absent for dialects that hand out none (Tigase, fpush). */
  readonly secretHash?: string;
  readonly addresses: readonly DeviceAddress[];
  readonly createdAtMs: EpochMs;
  readonly updatedAtMs: EpochMs;
  readonly lastPushAtMs?: EpochMs;
  readonly disabledAtMs?: EpochMs;
  readonly disabledReason?: string;
}

/** What a registration command asks to store; node and secret are generated unless the dialect supplies them. */
export interface NewRegistration {
  readonly node: string;
  readonly app: string;
  readonly ownerJid: string;
  readonly deviceId: string;
  readonly channel: string;
  readonly dialect: Dialect;
  readonly registrar?: string;
  readonly secretHash?: string;
  readonly address: Omit<DeviceAddress, "updatedAtMs" | "disabledAtMs" | "disabledReason">;
}

export function activeAddresses(reg: Registration): readonly DeviceAddress[] {
  return reg.addresses.filter((a) => a.disabledAtMs === undefined);
}

export function isActive(reg: Registration): boolean {
  return reg.disabledAtMs === undefined && activeAddresses(reg).length > 0;
}
