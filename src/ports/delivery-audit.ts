import type { OutcomeClass } from "../domain/delivery-outcome.js";
import type { ReceiptState } from "./delivery-receipts.js";

/** One provider attempt, as the audit keeps it. */
export interface DeliveryRecord {
  readonly pushId: string;
  readonly node: string;
  readonly app: string;
  readonly provider: string;
  readonly environment?: string;
  readonly outcome: OutcomeClass;
  readonly status?: number;
  readonly reason?: string;
  readonly messageId?: string;
  readonly attempt: number;
  readonly latencyMs: number;
  readonly createdAt: Date;
  /** JPush delivery receipt (when the app polls for them): pending, received or unconfirmed. */
  readonly receipt?: ReceiptState;
  /** The channel that delivered it, when the provider says (jpush, vendor, apns, hmos). */
  readonly receiptChannel?: string;
  /** When the receipt poller saw the confirmation. */
  readonly receiptAt?: Date;
}

export interface AuditQuery {
  readonly node?: string;
  readonly since?: Date;
  readonly limit: number;
}

export interface DeliveryAudit {
  /** Appends rows; one call may carry a whole batch (group commit). */
  record(rows: readonly DeliveryRecord[]): Promise<void>;
  /** Newest first. */
  list(query: AuditQuery): Promise<readonly DeliveryRecord[]>;
  purgeOlderThan(cutoff: Date): Promise<number>;
  /** Attempts since an instant per app, provider and outcome (`xmpp-push stats`). */
  countOutcomesSince(since: Date): Promise<readonly { app: string; provider: string; outcome: string; count: number }[]>;
}
