import { defineXmppScenarios } from "../support/xmpp-scenarios.js";

// Against a real Prosody 0.12 with mod_cloud_notify (+ smacks, mam), started on loopback ports.
defineXmppScenarios("prosody");
