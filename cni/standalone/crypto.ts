/**
 * `node:crypto`'s createHash and randomBytes for the standalone CNI bundle only
 * (scripts/bundle-cni.mjs puts this module in place of `node:crypto` for importers that take
 * nothing else from it). Loading `node:crypto` (its OpenSSL bindings) costs ~2–3 ms of every
 * standalone plugin exec; the plugins need a few SHA-256 digests of short strings (ids,
 * interface names) and a few random bytes (MAC addresses, ids). So: SHA-256 from
 * @noble/hashes (audited, no dependencies; its sha2 module loads nothing of Node's), random
 * bytes read from /dev/urandom; any other algorithm, option, callback or failure goes to the
 * real module, loaded then. standalone/crypto.test.ts compares the digests with
 * `node:crypto`'s.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { createRequire } from 'node:module';
import { sha256 } from '@noble/hashes/sha2.js';

type NodeCrypto = typeof import('node:crypto');
let realModule: NodeCrypto | undefined;
const real = (): NodeCrypto => (realModule ??= createRequire(import.meta.url)('node:crypto') as NodeCrypto);

/** What the plugins use of a Hash: update() (chained) and one digest(). */
export interface Hash {
  update(data: string | NodeJS.ArrayBufferView, inputEncoding?: BufferEncoding): Hash;
  digest(): Buffer;
  digest(encoding: BufferEncoding): string;
}

/** node:crypto's Hash surface (input encodings, digest encodings, its errors) over noble's SHA-256. */
class Sha256 implements Hash {
  private readonly inner = sha256.create();
  private finished = false;

  update(data: string | NodeJS.ArrayBufferView, inputEncoding?: BufferEncoding): Hash {
    if (this.finished) throw finalized();
    // noble takes bytes only: strings are encoded as node:crypto does (utf8 unless told).
    this.inner.update(typeof data === 'string' ? Buffer.from(data, inputEncoding ?? 'utf8') : new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    return this;
  }

  digest(): Buffer;
  digest(encoding: BufferEncoding): string;
  digest(encoding?: BufferEncoding): Buffer | string {
    if (this.finished) throw finalized();
    this.finished = true;
    const bytes = this.inner.digest();
    const out = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return encoding === undefined || (encoding as string) === 'buffer' ? out : out.toString(encoding);
  }
}

/** Node's error for a second digest() or an update() after it (noble's own message differs). */
function finalized(): Error {
  return Object.assign(new Error('Digest already called'), { code: 'ERR_CRYPTO_HASH_FINALIZED' });
}

/** SHA-256 here; anything else (or with options) is `node:crypto`'s createHash. */
export function createHash(algorithm: string, ...options: unknown[]): Hash {
  if (algorithm === 'sha256' && options.length === 0) return new Sha256();
  return (real().createHash as (a: string, ...o: unknown[]) => Hash)(algorithm, ...options);
}

/**
 * `size` bytes from /dev/urandom (the kernel's CSPRNG, as OpenSSL seeds from); with a
 * callback, an unusual size or no /dev/urandom, `node:crypto`'s randomBytes.
 */
export function randomBytes(size: number, ...callback: unknown[]): Buffer {
  if (callback.length === 0 && Number.isInteger(size) && size >= 0 && size <= 4096) {
    const bytes = urandom(size);
    if (bytes) return bytes;
  }
  return (real().randomBytes as (n: number, ...cb: unknown[]) => Buffer)(size, ...callback);
}

function urandom(size: number): Buffer | undefined {
  const out = Buffer.alloc(size);
  let fd: number | undefined;
  try {
    fd = openSync('/dev/urandom', 'r');
    for (let off = 0; off < size;) {
      const n = readSync(fd, out, off, size - off, null);
      if (n <= 0) return undefined;
      off += n;
    }
    return out;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
