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

/** What a purge removed: records deleted one by one, and whole partitions (days of records) dropped. */
export interface AuditPurge {
  readonly deletedRows: number;
  readonly droppedPartitions: readonly string[];
}

export interface DeliveryAudit {
  /** Appends rows; one call may carry a whole batch (group commit). */
  record(rows: readonly DeliveryRecord[]): Promise<void>;
  /** Newest first. */
  list(query: AuditQuery): Promise<readonly DeliveryRecord[]>;
  /**
   * Removes records older than `cutoff`. Where the audit is kept in whole days (Postgres), a day goes
   * once all of it is older, so a record may outlive the cutoff by up to one day.
   */
  purgeOlderThan(cutoff: Date): Promise<AuditPurge>;
  /** Attempts since an instant per app, provider and outcome (`xmpp-push stats`). */
  countOutcomesSince(since: Date): Promise<readonly { app: string; provider: string; outcome: string; count: number }[]>;
}
