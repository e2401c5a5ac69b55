import { deliveryAuditContract, deliveryQueueContract, registrationStoreContract } from "../../support/contracts/store-contracts.js";
import { memoryDeliveryAudit } from "../../support/memory/memory-delivery-audit.js";
import { memoryDeliveryQueue } from "../../support/memory/memory-delivery-queue.js";
import { memoryRegistrationStore } from "../../support/memory/memory-registration-store.js";

// The in-memory fakes the delivery-core unit tests run on pass the same contract as the Postgres stores
// (test/integration/store.test.ts). One instance per suite: the contract tolerates earlier rows, as a shared database has them.

const registrations = memoryRegistrationStore();
const audit = memoryDeliveryAudit();
const queue = memoryDeliveryQueue();
registrationStoreContract("in memory", () => registrations);
deliveryAuditContract("in memory", () => audit);
deliveryQueueContract("in memory", () => queue);
