// Some provider answers that mean "this device token is dead" are also what our own misconfiguration
// produces (APNs BadDeviceToken for the wrong environment or bundle id; FCM INVALID_ARGUMENT "not a
// valid registration token" for a message we built wrong). We believe them only when the same setup
// has delivered recently: otherwise a config mistake would disable every registration it touches.

const PROVEN_FOR_MS = 60 * 60 * 1000;

export interface ProvenSetup<K> {
  /** A push through this setup was delivered. */
  succeeded(key: K): void;
  /** Whether a push through this setup was delivered within the last hour. */
  proven(key: K): boolean;
}

export function createProvenSetup<K>(now: () => number): ProvenSetup<K> {
  const lastSuccess = new Map<K, number>();
  return {
    succeeded: (key) => void lastSuccess.set(key, now()),
    proven: (key) => now() - (lastSuccess.get(key) ?? -Infinity) < PROVEN_FOR_MS,
  };
}
