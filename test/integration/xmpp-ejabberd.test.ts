import { defineXmppScenarios } from "../support/xmpp-scenarios.js";

// Against a real ejabberd 23.01 with mod_push, started on loopback ports.
defineXmppScenarios("ejabberd");
