/** wasi:random (random, insecure, insecure-seed) for guests, from Node's CSPRNG. */
import { randomFillSync } from 'node:crypto';

const MAX_RANDOM_BYTES = 1 << 20;

function bytes(len: bigint): Uint8Array {
  // Bound the allocation: a guest asking for 2^64 bytes gets a trap, not an out-of-memory gateway.
  if (len > BigInt(MAX_RANDOM_BYTES)) throw new RangeError(`random bytes request of ${len} exceeds ${MAX_RANDOM_BYTES}`);
  return randomFillSync(new Uint8Array(Number(len)));
}

function u64(): bigint {
  const b = randomFillSync(new BigUint64Array(1));
  return b[0]!;
}

/** `wasi:random/random`. */
export const random = {
  getRandomBytes: bytes,
  getRandomU64: u64,
};

/** `wasi:random/insecure`. */
export const insecure = {
  getInsecureRandomBytes: bytes,
  getInsecureRandomU64: u64,
};

/** `wasi:random/insecure-seed`. */
export const insecureSeed = {
  insecureSeed(): [bigint, bigint] {
    return [u64(), u64()];
  },
};
