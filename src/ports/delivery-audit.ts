import type { OutcomeClass } from "../domain/delivery-outcome.js";

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
}
