export interface SettingsStore {
  /** Returns the stored value, or stores and returns `create()` when none exists (first writer wins across replicas). */
  getOrCreate(name: string, create: () => string): Promise<string>;
}
