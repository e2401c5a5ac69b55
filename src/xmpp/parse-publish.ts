import type { Element } from "@xmpp/xml";
import type { Notification } from "../domain/notification.js";
import { hasControlCharacter } from "../shared/control-characters.js";
import { fieldValue, findForms, type DataForm } from "./data-form.js";
import { NS } from "./namespaces.js";

// XEP-0357 §5 publish, as Prosody 0.12 and ejabberd 23.01 really send it (docs/xmpp-server-setup.md, test/fixtures/captured/*.xml):
// the summary form is type form (Prosody) or submit (ejabberd), its fields may be valueless or absent,
// the whole form may be missing (ejabberd's empty <notification/>), and other modules add elements we
// must tolerate (tigase:push:encrypt:0, tigase:push:priority:0).
//
// Two readers feed one decision: parsePublish reads an element tree (any publish the stream parser
// built), publish-scanner.ts reads the text of the common shape without building one. Both only pick
// out the parts below; what the parts mean is decided once, in publishFromParts.

export interface ParsedPublish {
  readonly node: string;
  /** publish-options fields (secret, fpush's pushModule, …), first value each. */
  readonly options: ReadonlyMap<string, string>;
  readonly notification: Notification;
}

/** What a publish carries, as found in the stanza, before any of it is judged. */
export interface PublishParts {
  readonly node: string | undefined;
  /** The publish-options form (FORM_TYPE publish-options, or none). */
  readonly optionsForm: DataForm | undefined;
  /** The notification's summary form (FORM_TYPE urn:xmpp:push:summary). */
  readonly summary: DataForm | undefined;
  /** Tigase's <encrypted/>: its attributes and text. */
  readonly encrypted: { readonly iv: string | undefined; readonly type: string | undefined; readonly text: string } | undefined;
  /** Tigase's <priority/> text. */
  readonly priorityTag: string | undefined;
}

const MAX_NODE_LENGTH = 1024;
const MAX_TEXT_LENGTH = 4096;

export function parsePublish(pubsub: Element): ParsedPublish | { readonly error: string } {
  const publishes = pubsub.getChildren("publish");
  if (publishes.length !== 1) return { error: "expected exactly one <publish/>" };
  const publish = publishes[0]!;
  const optionsEl = pubsub.getChild("publish-options");
  const notification = publish.getChild("item")?.getChild("notification", NS.push);
  const encryptedEl = notification?.getChild("encrypted", NS.tigaseEncrypt);
  return publishFromParts({
    node: publish.attrs.node,
    optionsForm: optionsEl && findForms(optionsEl).find(isOptionsForm),
    summary: notification && findForms(notification).find(isSummaryForm),
    encrypted: encryptedEl && { iv: encryptedEl.attrs.iv, type: encryptedEl.attrs.type, text: encryptedEl.text() },
    priorityTag: notification?.getChildText("priority", NS.tigasePriority) ?? undefined,
  });
}

export const isOptionsForm = (f: DataForm): boolean => f.formType === NS.publishOptions || f.formType === undefined;
export const isSummaryForm = (f: DataForm): boolean => f.formType === NS.pushSummary;

export function publishFromParts(parts: PublishParts): ParsedPublish | { readonly error: string } {
  const { node, optionsForm } = parts;
  if (node === undefined || node.trim() === "") return { error: "the publish has no node" };
  if (node.length > MAX_NODE_LENGTH) return { error: "the node is too long" };
  if (hasControlCharacter(node)) return { error: "the node contains control characters" };

  const options = new Map<string, string>();
  if (optionsForm) {
    for (const name of optionsForm.fields.keys()) {
      const v = fieldValue(optionsForm, name);
      if (name !== "FORM_TYPE" && v !== undefined) options.set(name, v);
    }
  }
  return { node, options, notification: notificationFrom(parts) };
}

function notificationFrom({ summary, encrypted: encryptedPart, priorityTag }: PublishParts): Notification {
  const body = summary ? clip(fieldValue(summary, "last-message-body")) : undefined;
  const sender = summary ? clip(fieldValue(summary, "last-message-sender")) : undefined;
  const messageCount = summary ? count(fieldValue(summary, "message-count")) : undefined;
  const pending = summary ? count(fieldValue(summary, "pending-subscription-count")) : undefined;

  const iv = encryptedPart?.iv;
  const payload = encryptedPart?.text.trim();
  const encrypted = iv && payload ? { payload: payload.slice(0, 8192), iv: iv.slice(0, 64) } : undefined;
  // mod_cloud_notify_encrypted marks Jingle call proposals with type="voip".
  const call = encryptedPart?.type === "voip";
  // mod_cloud_notify_priority_tag marks important pushes; otherwise Prosody's and ejabberd's convention
  // applies: a body in the summary means a message worth showing, none means a chat state or keepalive.
  const tagged = priorityTag?.trim();
  const high = tagged === "high" || body !== undefined || encrypted !== undefined || call;

  return {
    priority: high ? "high" : "low",
    call,
    ...(messageCount !== undefined ? { messageCount } : {}),
    ...(pending !== undefined ? { pendingSubscriptionCount: pending } : {}),
    ...(sender !== undefined ? { lastMessageSender: sender } : {}),
    ...(body !== undefined ? { lastMessageBody: body } : {}),
    ...(encrypted !== undefined ? { encrypted } : {}),
  };
}

function count(v: string | undefined): number | undefined {
  if (v === undefined || !/^\d{1,9}$/.test(v)) return undefined;
  return Number(v);
}

function clip(v: string | undefined): string | undefined {
  return v === undefined ? undefined : v.slice(0, MAX_TEXT_LENGTH);
}
