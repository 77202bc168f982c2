import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as nodeCrypto from 'node:crypto';
import { createHash, randomBytes } from './crypto.js';

test('sha256: same digests as node:crypto at every length around the block and padding edges', () => {
  const data = nodeCrypto.randomBytes(300);
  for (let n = 0; n <= 300; n++) {
    const part = data.subarray(0, n);
    assert.equal(createHash('sha256').update(part).digest(), nodeCrypto.createHash('sha256').update(part).digest(), `length ${n}`);
  }
});

test('sha256: strings (utf8 by default, other encodings), split updates, digest encodings', () => {
  const texts = ['', 'abc', 'tsnet-cni\0bridge\0net\0c1\0eth0', 'é日本\u{1f600}'.repeat(20), 'x'.repeat(1000)];
  for (const t of texts) {
    const want = nodeCrypto.createHash('sha256').update(t).digest('hex');
    assert.is(createHash('sha256').update(t).digest('hex'), want);
    const h = createHash('sha256');
    const chars = Array.from(t); // code points: a split surrogate pair would encode otherwise
    for (let i = 0; i < chars.length; i += 7) h.update(chars.slice(i, i + 7).join(''));
    assert.is(h.digest('hex'), want, 'split every 7 characters');
    assert.is(createHash('sha256').update(t).digest('base64'), nodeCrypto.createHash('sha256').update(t).digest('base64'));
  }
  assert.is(createHash('sha256').update('616263', 'hex').digest('hex'), nodeCrypto.createHash('sha256').update('abc').digest('hex'));
  // FIPS 180-4 example "abc"
  assert.is(createHash('sha256').update('abc').digest('hex'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  const view = new Uint16Array([1, 2, 3, 4]).subarray(1, 3);
  assert.equal(createHash('sha256').update(view).digest(), nodeCrypto.createHash('sha256').update(view).digest());
  const dv = new DataView(new Uint8Array([9, 8, 7, 6, 5]).buffer, 1, 3);
  assert.equal(createHash('sha256').update(dv).digest(), nodeCrypto.createHash('sha256').update(dv).digest());
});

test('sha256: a second digest or an update after it throws as node:crypto does', () => {
  const h = createHash('sha256').update('a');
  h.digest();
  assert.throws(() => h.digest(), (e: unknown) => (e as { code?: string }).code === 'ERR_CRYPTO_HASH_FINALIZED');
  assert.throws(() => h.update('b'), (e: unknown) => (e as { code?: string }).code === 'ERR_CRYPTO_HASH_FINALIZED');
});

test('other algorithms are node:crypto\'s', () => {
  assert.is(createHash('md5').update('abc').digest('hex'), '900150983cd24fb0d6963f7d28e17f72');
  assert.is(createHash('sha1').update('abc').digest('hex'), nodeCrypto.createHash('sha1').update('abc').digest('hex'));
  assert.throws(() => createHash('no-such-hash'));
});

test('randomBytes: the asked length, not constant; odd sizes go to node:crypto', () => {
  for (const n of [0, 1, 6, 8, 32, 4096, 5000]) assert.is(randomBytes(n).length, n);
  const seen = new Set(Array.from({ length: 20 }, () => randomBytes(16).toString('hex')));
  assert.is(seen.size, 20);
  assert.throws(() => randomBytes(-1));
});

test.run();
