import { test } from 'uvu';
import * as assert from 'uvu/assert';
import dnsPacket from 'dns-packet';
import type { RecordType } from 'dns-packet';
import { decide, ptrToIp } from './answer.js';
import { NameTable } from './names.js';

const t = new NameTable();
t.add('net1', { id: 'a', name: 'web', aliases: ['big'], ips: ['10.0.0.2', 'fd00::2'] });
for (let i = 0; i < 60; i++) t.add('net1', { id: `b${i}`, name: `b${i}`, aliases: ['big'], ips: [`10.0.1.${i + 1}`] });
const handlers = { resolve: t.resolver(['net1']), resolvePtr: t.ptrResolver(['net1']) };

function query(name: string, type: RecordType, extra: Partial<dnsPacket.Packet> = {}): Buffer {
  return dnsPacket.encode({ type: 'query', id: 4242, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name }], ...extra });
}

function reply(buf: Buffer, limit?: number): dnsPacket.DecodedPacket & { rcode?: string } {
  const d = decide(buf, handlers, { ttl: 0, limit });
  if (d.kind !== 'reply') throw new Error(`expected a reply, got ${d.kind}`);
  return dnsPacket.decode(d.packet);
}

test('A and AAAA of our names, authoritative, id and RD echoed, TTL 0', () => {
  const a = reply(query('WEB.net1.', 'A'));
  assert.is(a.id, 4242);
  assert.ok(a.flag_aa && a.flag_rd && a.flag_ra && a.flag_qr);
  assert.is(a.rcode, 'NOERROR');
  assert.equal(a.answers?.map((x) => [x.type, 'data' in x ? x.data : undefined, 'ttl' in x ? x.ttl : undefined]), [['A', '10.0.0.2', 0]]);
  assert.equal(reply(query('web', 'AAAA')).answers?.map((x) => ('data' in x ? x.data : undefined)), ['fd00::2']);
});

test('our name with another type: NOERROR, no answers; unknown names are forwarded', () => {
  const mx = reply(query('web', 'MX'));
  assert.is(mx.rcode, 'NOERROR');
  assert.is(mx.answers?.length, 0);
  assert.equal(decide(query('example.org', 'A'), handlers, { ttl: 0 }), { kind: 'forward', id: 4242 });
  assert.equal(decide(query('web', 'A', { questions: [{ type: 'A', name: 'web', class: 'CH' }] }), handlers, { ttl: 0 }), { kind: 'forward', id: 4242 });
});

test('PTR for our addresses, forwarded otherwise', () => {
  const p = reply(query('2.0.0.10.in-addr.arpa', 'PTR'));
  assert.equal(p.answers?.map((x) => ('data' in x ? x.data : undefined)), ['web.net1']);
  const v6 = `2.${'0.'.repeat(29)}d.f.ip6.arpa`;
  assert.is(ptrToIp(v6), 'fd00::2');
  assert.equal(reply(query(v6, 'PTR')).answers?.map((x) => ('data' in x ? x.data : undefined)), ['web.net1']);
  assert.is(decide(query('9.9.9.10.in-addr.arpa', 'PTR'), handlers, { ttl: 0 }).kind, 'forward');
  assert.is(ptrToIp('1.2.3.in-addr.arpa'), undefined);
  assert.is(ptrToIp('x.ip6.arpa'), undefined);
});

test('malformed, responses, several questions, other opcodes', () => {
  assert.equal(decide(Buffer.from([1, 2, 3]), handlers, { ttl: 0 }), { kind: 'drop', reason: 'malformed' });
  assert.is(decide(Buffer.concat([query('web', 'A'), Buffer.from([0xc0])]).subarray(0, 20), handlers, { ttl: 0 }).kind, 'drop');
  assert.equal(decide(dnsPacket.encode({ type: 'response', id: 1, questions: [] }), handlers, { ttl: 0 }), { kind: 'drop', reason: 'not a query' });
  const two = query('web', 'A', { questions: [{ type: 'A', name: 'web' }, { type: 'A', name: 'b1' }] });
  assert.is(reply(two).rcode, 'FORMERR');
  assert.is(reply(query('web', 'A', { flags: 2 << 11 })).rcode, 'NOTIMP');
});

test('a UDP answer above 512 bytes (no EDNS) is truncated; EDNS or TCP size gets it all', () => {
  const small = reply(query('big', 'A'));
  assert.ok(small.flag_tc);
  assert.is(small.answers?.length, 0);
  const edns = query('big', 'A', { additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 4096 } as dnsPacket.Answer] });
  assert.is(reply(edns).answers?.length, 61);
  assert.is(reply(query('big', 'A'), 65535).answers?.length, 61);
});

test('a throwing resolver gives SERVFAIL', () => {
  const d = decide(query('web', 'A'), { resolve: () => { throw new Error('boom'); } }, { ttl: 0 });
  assert.is(d.kind, 'reply');
  if (d.kind === 'reply') {
    assert.is((dnsPacket.decode(d.packet) as { rcode?: string }).rcode, 'SERVFAIL');
    assert.ok(d.error instanceof Error);
  }
});

test.run();
