// Provider-confirmed delivery receipts (JPush's Report API): what the audit keeps and how the poller asks.

export type ReceiptState = "pending" | "received" | "not_received" | "unconfirmed";

/** An audit row whose push the provider has not yet confirmed. */
export interface PendingReceipt {
  readonly id: string;
  readonly messageId: string;
  readonly createdAt: Date;
}

export interface ReceiptStore {
  /** Up to `limit` pending rows of the app created at or after `since`, least recently checked first; marks them checked. */
  takePending(app: string, since: Date, limit: number, at: Date): Promise<readonly PendingReceipt[]>;
  /** Rows now confirmed received; returns how many changed (a row already settled is left alone). */
  markReceived(rows: ReadonlyArray<{ readonly id: string; readonly channel: string }>, at: Date): Promise<number>;
  /** Up to `limit` pending rows of the app created before `before` (their window is over), oldest first. */
  takeExpired(app: string, before: Date, limit: number): Promise<ReadonlyArray<PendingReceipt & { readonly node: string }>>;
  /** The final verdict on rows whose window is over; returns how many changed (only pending rows change). */
  settle(
    rows: ReadonlyArray<{ readonly id: string; readonly state: "received" | "not_received" | "unconfirmed" }>,
    at: Date,
  ): Promise<number>;
  /** Pending rows of the app created before `before` become unconfirmed; returns how many. */
  expire(app: string, before: Date): Promise<number>;
  /** The receipt of one push's provider message, if the audit has one. */
  find(pushId: string, messageId: string): Promise<{ readonly id: string; readonly state: ReceiptState } | undefined>;
}

/** What the provider said about a batch of messages. */
export type ReceiptAnswer =
  | {
      readonly ok: true;
      /** messageId → the channel that delivered it; a message absent here is not (yet) received. */
      readonly received: ReadonlyMap<string, string>;
      /** The provider's rate limit asks us to wait this long before the next call. */
      readonly waitMs?: number;
    }
  | { readonly ok: false; readonly reason: string; readonly waitMs?: number };

/** The provider's verdict on one message for one device. */
export type DeviceVerdict =
  | { readonly ok: true; readonly state: "received" | "not_received" | "unknown"; readonly waitMs?: number }
  | { readonly ok: false; readonly reason: string; readonly waitMs?: number };

export interface ReceiptLookup {
  /** At most 100 message ids per call. */
  lookup(messageIds: readonly string[]): Promise<ReceiptAnswer>;
  /** Whether one message reached one device (JPush: POST /status/message). */
  verdict(messageId: string, registrationId: string): Promise<DeviceVerdict>;
}
