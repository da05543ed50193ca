import { randomFillSync, randomUUID } from 'node:crypto';

let lastMs = 0;
let counter = 0;

/** Random bytes fetched 4 KiB at a time: one call into the crypto library per 400 ids rather than two per id. */
const entropy = Buffer.alloc(4096);
let entropyUsed = entropy.length;

function randomSlice(size: number): Buffer {
  if (entropyUsed + size > entropy.length) {
    randomFillSync(entropy);
    entropyUsed = 0;
  }
  const slice = entropy.subarray(entropyUsed, entropyUsed + size);
  entropyUsed += size;
  return slice;
}

/**
 * UUIDv7 (RFC 9562): 48-bit ms timestamp, then a 12-bit counter seeded at random each ms (method 1 of section 6.2),
 * so ids made in one process sort in creation order even within a millisecond. Ordered ids append to B-trees
 * instead of scattering inserts: about 5x the insert rate of random ids on SQLite (shared/anchors/RESULTS.md).
 */
export function uuidv7(now = Date.now()): string {
  if (now > lastMs) {
    lastMs = now;
    counter = randomSlice(2).readUInt16BE(0) & 0x7ff;
  } else if (++counter > 0xfff) {
    lastMs++;
    counter = 0;
  }
  const rand = randomSlice(8);
  idBytes.writeUIntBE(lastMs, 0, 6);
  idBytes.writeUInt16BE(0x7000 | counter, 6);
  idBytes[8] = (rand[0] & 0x3f) | 0x80;
  rand.copy(idBytes, 9, 1, 8);
  const hex = idBytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The 16 bytes of the id being made, turned into hex at once. */
const idBytes = Buffer.alloc(16);

export function newAttemptToken(): string {
  return randomUUID();
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
export function isUuid(value: string): boolean {
  return UUID_RE.test(value);
}
