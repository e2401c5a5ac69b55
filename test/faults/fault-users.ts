import type { XmppServer } from "../support/servers/xmpp-servers.js";
import { connectUser } from "../support/xmpp-client.js";
import { resultField, runCommand } from "../support/xmpp-commands.js";

// The people of the fault scenarios on a real Prosody or ejabberd: users who register a phone with us
// and go offline (so a message to them becomes a push), and bob, who writes to them. Every user's
// password is "<name>-pass" (StartOptions.extraUsers).

/** `user` registers an APNs device with us, enables push on its server with the answer, and goes offline. */
export async function enableApnsPush(xmpp: XmppServer, user: string, token: string, deviceId = "phone"): Promise<void> {
  const client = await connectUser(xmpp, user, `${user}-pass`);
  const r = await runCommand(client, xmpp.componentDomain, "register-push-apns", { token, "device-id": deviceId });
  await client.enablePush({ jid: xmpp.componentDomain, node: resultField(r, "node")!, secret: resultField(r, "secret")! });
  await client.stop();
}

/** bob writes `body` to each of `users`, over one connection. */
export async function messageEach(xmpp: XmppServer, users: readonly string[], body: string): Promise<void> {
  const bob = await connectUser(xmpp, "bob", "bob-pass");
  for (const u of users) await bob.sendMessage(`${u}@localhost`, body);
  await bob.stop();
}
