// What a publish means once the wire format is gone: the XEP-0357 summary plus what we infer from it.

export interface Notification {
  readonly messageCount?: number;
  readonly pendingSubscriptionCount?: number;
  readonly lastMessageSender?: string;
  readonly lastMessageBody?: string;
  /**
   * high: a message worth showing (the server put a body in the summary, Prosody's "New Message!" marker);
   * low: a chat state, an empty ejabberd notification, a keepalive.
   */
  readonly priority: "high" | "low";
  /** The triggering stanza was a call (Jingle propose, or an encrypted push marked voip). */
  readonly call: boolean;
  /** Server-side encrypted payload (tigase:push:encrypt:0), passed through untouched. */
  readonly encrypted?: { readonly payload: string; readonly iv: string };
}

/** One publish accepted for delivery. pushId ties together its audit rows, its queue job and provider idempotency keys. */
export interface PushRequest {
  readonly pushId: string;
  readonly node: string;
  readonly app: string;
  readonly notification: Notification;
  readonly receivedAt: Date;
}
