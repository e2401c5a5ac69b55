import type { DeliveryOutcome } from "../domain/delivery-outcome.js";
import type { Notification } from "../domain/notification.js";
import type { AddressKind, DeviceAddress } from "../domain/registration.js";

export type ProviderKind = AddressKind | "log";

/** What an app lets a push show: a generic text unless the admin opted in to message content. */
export interface PushContent {
  readonly title: string;
  readonly body: string;
  readonly includeMessageContent: boolean;
}

/** One provider request for one device address. */
export interface PushAttempt {
  /** Stable across the retries of one push: providers derive idempotency keys from it (apns-collapse-id, JPush cid). */
  readonly pushId: string;
  readonly node: string;
  /** 1 for the first try of this push. */
  readonly attempt: number;
  readonly address: DeviceAddress;
  readonly notification: Notification;
  readonly content: PushContent;
  /** Custom key/values the client app reads (e.g. p2's `account` hash, Siskin's `account` JID). */
  readonly data: Readonly<Record<string, string>>;
  /** Past this instant the push is worthless (apns-expiration, JPush/FCM time to live). */
  readonly expiresAt: Date;
  /** Aborted when the caller's deadline passes: the provider must give up and answer `retry`. */
  readonly signal: AbortSignal;
}

/**
 * One instance per app and provider (and credential). send() resolves for every answer the remote side
 * gives, including network errors and timeouts, as a DeliveryOutcome; a rejection means a bug.
 */
export interface PushProvider {
  readonly kind: ProviderKind;
  /** For logs and metrics: "apns:chat". */
  readonly name: string;
  send(attempt: PushAttempt): Promise<DeliveryOutcome>;
  close(): Promise<void>;
  /**
   * When the credential this provider signs in with stops working (an APNs client certificate), for
   * the expiry metric and alert; absent, or undefined, when it has no such date (tokens, keys).
   */
  credentialExpiresAt?(): Date | undefined;
}
