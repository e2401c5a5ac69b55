// Remembers, approximately, which keys were asked for recently: one 32-bit hash per slot of a typed
// array. It lives outside the JavaScript heap and holds no object per key, so remembering a million
// keys costs the garbage collector nothing. Memory fades by itself: a newer key that lands in the same
// slot overwrites an older one, so how long a key is remembered depends on how many other keys came
// since (with n slots, about n of them), not on a timer. A hash collision can make a key look seen
// (about one chance in 2^32 per lookup, plus the slot's); never the other way round.

export interface SeenFilter {
  /** Whether key was marked since its slot was last overwritten; marks it either way. */
  markSeen(key: string): boolean;
}

/** `slots` is rounded up to a power of two, at least 64. */
export function createSeenFilter(slots: number): SeenFilter {
  let bits = 6;
  while (bits < 30 && 2 ** bits < slots) bits += 1;
  const marks = new Uint32Array(2 ** bits);
  return {
    markSeen(key) {
      const h = fnv1a(key) || 1; // 0 marks an empty slot
      // The slot is the top bits of the hash, scrambled (Fibonacci hashing); the mark is the whole hash.
      const i = Math.imul(h, 0x9e3779b1) >>> (32 - bits);
      const seen = marks[i] === h;
      marks[i] = h;
      return seen;
    },
  };
}

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
