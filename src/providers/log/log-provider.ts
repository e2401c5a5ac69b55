import { tokenFingerprint } from "../../domain/secret.js";
import type { Logger } from "../../observability/logger.js";
import type { PushProvider } from "../../ports/push-provider.js";

// The dry-run provider: every push "succeeds", is audited like a real one and logged (token
// fingerprint only), and nothing leaves the machine. For admins trying out a setup before they have
// provider credentials, and the default for an app with none configured.
export function createLogProvider({ app, log }: { app: string; log: Logger }): PushProvider {
  return {
    kind: "log",
    name: `log:${app}`,
    async send(attempt) {
      log.info(
        {
          app,
          node: attempt.node,
          pushId: attempt.pushId,
          attempt: attempt.attempt,
          addressProvider: attempt.address.provider,
          tokenFp: tokenFingerprint(attempt.address.token),
          priority: attempt.notification.priority,
          call: attempt.notification.call,
        },
        "dry run: push not sent (log provider)",
      );
      return { class: "delivered", reason: "dry-run", messageId: `log-${attempt.pushId}` };
    },
    async close() {},
  };
}
