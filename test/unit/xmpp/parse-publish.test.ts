import { describe, expect, it } from "vitest";
import { parsePublish } from "../../../src/xmpp/parse-publish.js";
import { captured, parseXml } from "../../support/stanzas.js";

const pubsubOf = (name: string) => captured(name).getChild("pubsub", "http://jabber.org/protocol/pubsub")!;

describe("parsePublish on what real servers send", () => {
  it("reads Prosody's default publish: form type, body marker, valueless fields", () => {
    const p = parsePublish(pubsubOf("prosody-default-body"));
    expect(p).toEqual({
      node: "testnode123",
      options: new Map([["secret", "s3cr3t"]]),
      notification: { priority: "high", call: false, messageCount: 1, lastMessageBody: "New Message!" },
    });
  });

  it("treats Prosody's chat-state push (no body) as low priority", () => {
    const p = parsePublish(pubsubOf("prosody-default-chatstate"));
    expect("notification" in p && p.notification).toEqual({ priority: "low", call: false, messageCount: 1 });
  });

  it("takes sender and body when the server includes them", () => {
    const prosody = parsePublish(pubsubOf("prosody-with-body-sender"));
    const ejabberd = parsePublish(pubsubOf("ejabberd-with-body-sender"));
    expect("notification" in prosody && prosody.notification).toMatchObject({
      lastMessageSender: "bob@localhost/laptop",
      lastMessageBody: "Hello alice, this is bob (1)",
    });
    expect("notification" in ejabberd && ejabberd.notification).toMatchObject({
      lastMessageSender: "bob@localhost/laptop",
      lastMessageBody: "Hello alice, this is bob (message 1)",
      priority: "high",
    });
  });

  it("accepts ejabberd's empty <notification/> (no summary form)", () => {
    const p = parsePublish(pubsubOf("ejabberd-empty-notification"));
    expect(p).toEqual({ node: "testnode123", options: new Map([["secret", "s3cr3t"]]), notification: { priority: "low", call: false } });
  });

  it("reads ejabberd's default and encrypted-message publishes as messages worth showing", () => {
    for (const name of ["ejabberd-default", "ejabberd-encrypted-msg"]) {
      const p = parsePublish(pubsubOf(name));
      expect("notification" in p && p.notification.priority).toBe("high");
    }
  });

  it("tolerates unknown elements and forms, and reads Tigase-encrypted call pushes", () => {
    const p = parsePublish(
      parseXml(`<pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='n1'><item><notification xmlns='urn:xmpp:push:0'>
        <x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>urn:example:other</value></field><field var='last-message-body'><value>not the summary</value></field></x>
        <encrypted xmlns='tigase:push:encrypt:0' iv='aXY=' type='voip'>Y2lwaGVy</encrypted>
        <unknown xmlns='urn:example:extra'><deep/></unknown></notification></item><other/></publish>
        <publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field><field var='secret'><value>s</value></field><field var='pushModule'><value>monalProdiOS</value></field></x></publish-options></pubsub>`),
    );
    expect(p).toEqual({
      node: "n1",
      options: new Map([
        ["secret", "s"],
        ["pushModule", "monalProdiOS"],
      ]),
      notification: { priority: "high", call: true, encrypted: { payload: "Y2lwaGVy", iv: "aXY=" } },
    });
  });

  it("honours the Tigase priority tag and ignores a malformed message-count", () => {
    const p = parsePublish(
      parseXml(`<pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='n'><item><notification xmlns='urn:xmpp:push:0'>
        <x xmlns='jabber:x:data' type='form'><field var='FORM_TYPE'><value>urn:xmpp:push:summary</value></field><field var='message-count'><value>lots</value></field></x>
        <priority xmlns='tigase:push:priority:0'>high</priority></notification></item></publish></pubsub>`),
    );
    expect(p).toEqual({ node: "n", options: new Map(), notification: { priority: "high", call: false } });
  });

  it("rejects a publish without a node, or with several publishes", () => {
    expect(parsePublish(parseXml(`<pubsub xmlns='http://jabber.org/protocol/pubsub'><publish><item/></publish></pubsub>`))).toEqual({
      error: "the publish has no node",
    });
    expect(parsePublish(parseXml(`<pubsub xmlns='http://jabber.org/protocol/pubsub'/>`))).toEqual({
      error: "expected exactly one <publish/>",
    });
    expect(
      parsePublish(parseXml(`<pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='a'/><publish node='b'/></pubsub>`)),
    ).toEqual({ error: "expected exactly one <publish/>" });
  });
});
