import type { Element } from "@xmpp/xml";
import type { Notification } from "../domain/notification.js";
import { hasControlCharacter } from "../shared/control-characters.js";
import { fieldValue, findForms } from "./data-form.js";
import { NS } from "./namespaces.js";

// XEP-0357 §5 publish, as Prosody 0.12 and ejabberd 23.01 really send it (docs/xmpp-server-setup.md, test/fixtures/captured/*.xml):
// the summary form is type form (Prosody) or submit (ejabberd), its fields may be valueless or absent,
// the whole form may be missing (ejabberd's empty <notification/>), and other modules add elements we
// must tolerate (tigase:push:encrypt:0, tigase:push:priority:0).

export interface ParsedPublish {
  readonly node: string;
  /** publish-options fields (secret, fpush's pushModule, …), first value each. */
  readonly options: ReadonlyMap<string, string>;
  readonly notification: Notification;
}

const MAX_NODE_LENGTH = 1024;
const MAX_TEXT_LENGTH = 4096;

export function parsePublish(pubsub: Element): ParsedPublish | { readonly error: string } {
  const publishes = pubsub.getChildren("publish");
  if (publishes.length !== 1) return { error: "expected exactly one <publish/>" };
  const publish = publishes[0]!;
  const node = publish.attrs.node;
  if (node === undefined || node.trim() === "") return { error: "the publish has no node" };
  if (node.length > MAX_NODE_LENGTH) return { error: "the node is too long" };
  if (hasControlCharacter(node)) return { error: "the node contains control characters" };

  const options = new Map<string, string>();
  const optionsForm =
    pubsub.getChild("publish-options") &&
    findForms(pubsub.getChild("publish-options")!).find((f) => f.formType === NS.publishOptions || f.formType === undefined);
  if (optionsForm) {
    for (const name of optionsForm.fields.keys()) {
      const v = fieldValue(optionsForm, name);
      if (name !== "FORM_TYPE" && v !== undefined) options.set(name, v);
    }
  }

  const item = publish.getChild("item");
  const notificationEl = item?.getChild("notification", NS.push);
  return { node, options, notification: notificationFrom(notificationEl) };
}

function notificationFrom(el: Element | undefined): Notification {
  const summary = el ? findForms(el).find((f) => f.formType === NS.pushSummary) : undefined;
  const body = summary ? clip(fieldValue(summary, "last-message-body")) : undefined;
  const sender = summary ? clip(fieldValue(summary, "last-message-sender")) : undefined;
  const messageCount = summary ? count(fieldValue(summary, "message-count")) : undefined;
  const pending = summary ? count(fieldValue(summary, "pending-subscription-count")) : undefined;

  const encryptedEl = el?.getChild("encrypted", NS.tigaseEncrypt);
  const iv = encryptedEl?.attrs.iv;
  const payload = encryptedEl?.text().trim();
  const encrypted = iv && payload ? { payload: payload.slice(0, 8192), iv: iv.slice(0, 64) } : undefined;
  // mod_cloud_notify_encrypted marks Jingle call proposals with type="voip".
  const call = encryptedEl?.attrs.type === "voip";
  // mod_cloud_notify_priority_tag marks important pushes; otherwise Prosody's and ejabberd's convention
  // applies: a body in the summary means a message worth showing, none means a chat state or keepalive.
  const tagged = el?.getChildText("priority", NS.tigasePriority)?.trim();
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
