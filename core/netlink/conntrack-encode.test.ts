import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError } from '../errors.js';
import { be16, eachAttr, nlattr, parseIp, u8 } from './encode.js';
import {
  CT_DELETE, CT_ENTRY, CT_GET, checkMatch, deleteRequest, dumpRequest, entryMatches, matchKey, parseEntry, type ConntrackMatch,
} from './conntrack-encode.js';

const udp = (port: number, dst?: string, family: 4 | 6 = 4): ConntrackMatch => ({ family, proto: 'udp', port, ...(dst ? { dst } : {}) });

/** Type (nested flag kept) and payload of each attribute. */
function attrs(buf: Buffer): [number, Buffer][] {
  const out: [number, Buffer][] = [];
  for (let off = 0; off + 4 <= buf.length;) {
    const len = buf.readUInt16LE(off);
    out.push([buf.readUInt16LE(off + 2), buf.subarray(off + 4, off + len)]);
    off += (len + 3) & ~3;
  }
  return out;
}

/** The CTA_FILTER_ORIG_FLAGS of a dump request, or undefined without a filter. */
function filterFlags(req: Buffer): number | undefined {
  const filter = attrs(req.subarray(4)).find(([t]) => (t & 0x3fff) === 25)?.[1];
  return filter ? attrs(filter)[0]?.[1].readUInt32LE(0) : undefined;
}

/** A dumped entry's payload as the kernel sends it: nfgenmsg, CTA_TUPLE_ORIG, CTA_TUPLE_REPLY, CTA_ID. */
function dumped(src: string, dst: string, sport: number, dport: number, proto = 17): Buffer {
  const v6 = src.includes(':');
  const tuple = (a: string, b: string, p: number, q: number) => [
    nlattr(1, [nlattr(v6 ? 3 : 1, parseIp(a).bytes), nlattr(v6 ? 4 : 2, parseIp(b).bytes)], true),
    nlattr(2, [nlattr(1, u8(proto)), nlattr(2, be16(p)), nlattr(3, be16(q))], true),
  ];
  return Buffer.concat([
    Buffer.from([v6 ? 10 : 2, 0, 0, 0]),
    nlattr(1, tuple(src, dst, sport, dport), true),
    nlattr(2, tuple('10.0.0.2', src, 53, sport), true),
    nlattr(12, Buffer.from([0xde, 0xad, 0xbe, 0xef])),
  ]);
}

test('message types: subsystem 1 (ctnetlink) in the high byte', () => {
  assert.equal([CT_ENTRY, CT_GET, CT_DELETE], [0x100, 0x101, 0x102]);
});

test('dumpRequest: one UDP port, any address: the kernel filters on protocol and destination port', () => {
  assert.is(dumpRequest(4, [udp(18054)]).toString('hex'),
    '02000000' // nfgenmsg: AF_INET, version 0, res_id 0
    + '18000180' + '14000280' + '0500010011000000' + '0600030046860000' // CTA_TUPLE_ORIG { PROTO { NUM 17, DST_PORT 18054 } }
    + '0c001980' + '0800010028000000'); // CTA_FILTER { ORIG_FLAGS PROTO_NUM|PROTO_DST_PORT }
});

test('dumpRequest: one IPv4 address too (never IPv6); several ports: protocol only; several protocols: family only', () => {
  const v4 = dumpRequest(4, [udp(53, '127.0.0.1'), udp(53, '127.0.0.1')]);
  assert.is(filterFlags(v4), (1 << 1) | (1 << 3) | (1 << 5));
  const ip = attrs(attrs(attrs(v4.subarray(4))[0]![1]).find(([t]) => (t & 0x3fff) === 1)![1]);
  assert.equal(ip, [[2, Buffer.from([127, 0, 0, 1])]]);
  // IPv6: no address in the filter (the kernel's IPv6 address match is inverted), port only.
  const v6 = dumpRequest(6, [udp(53, 'fd00::1', 6)]);
  assert.is(v6.readUInt8(0), 10);
  assert.is(filterFlags(v6), (1 << 3) | (1 << 5));
  assert.is(attrs(attrs(v6.subarray(4))[0]![1]).find(([t]) => (t & 0x3fff) === 1), undefined, 'no CTA_TUPLE_IP');
  assert.is(filterFlags(dumpRequest(4, [udp(53, '127.0.0.1'), udp(53)])), (1 << 3) | (1 << 5), 'any address among them: port only');
  assert.is(filterFlags(dumpRequest(4, [udp(53), udp(54)])), 1 << 3);
  assert.is(dumpRequest(4, [udp(53), { family: 4, proto: 'tcp', port: 53 }]).toString('hex'), '02000000');
});

test('parseEntry reads the original tuple and id; deleteRequest sends them back as they came', () => {
  const data = dumped('203.0.113.2', '203.0.113.1', 40001, 18054);
  const e = parseEntry(data)!;
  assert.is(e.family, 4);
  assert.is(e.proto, 17);
  assert.equal([e.src, e.dst], [parseIp('203.0.113.2').bytes, parseIp('203.0.113.1').bytes]);
  assert.equal([e.sport, e.dport], [40001, 18054]);
  const del = deleteRequest(e);
  assert.is(del.subarray(0, 4).toString('hex'), '02000000');
  const top = attrs(del.subarray(4));
  assert.equal(top.map(([t]) => t), [1 | 0x8000, 12]);
  assert.ok(top[0]![1].equals(attrs(data.subarray(4))[0]![1]), 'the original tuple, byte for byte');
  assert.is(top[1]![1].toString('hex'), 'deadbeef');
  const v6 = parseEntry(dumped('fd00::2', 'fd00::1', 40001, 53))!;
  assert.equal([v6.family, v6.dst], [6, parseIp('fd00::1').bytes]);
  assert.is(deleteRequest(v6).readUInt8(0), 10);
  assert.is(parseEntry(Buffer.from([7, 0, 0, 0])), undefined, 'another family');
  assert.is(parseEntry(Buffer.from([2, 0, 0, 0])), undefined, 'no tuple');
  let types = 0;
  eachAttr(del.subarray(4), () => types++);
  assert.is(types, 2);
});

test('entryMatches: protocol, family, destination port, and address when given', () => {
  const e = parseEntry(dumped('203.0.113.2', '203.0.113.1', 40001, 18054))!;
  assert.ok(entryMatches(e, udp(18054)));
  assert.ok(entryMatches(e, udp(18054, '203.0.113.1')));
  assert.not.ok(entryMatches(e, udp(18054, '203.0.113.9')));
  assert.not.ok(entryMatches(e, udp(40001)), 'the source port is not the published one');
  assert.not.ok(entryMatches(e, { family: 4, proto: 'tcp', port: 18054 }));
  assert.not.ok(entryMatches(e, udp(18054, undefined, 6)));
  assert.not.ok(entryMatches(parseEntry(dumped('203.0.113.2', '203.0.113.1', 40001, 18054, 6))!, udp(18054)));
});

test('entryMatches, keepTo: an entry whose reply comes from the current target is kept; matchKey tells matches apart', () => {
  const e = parseEntry(dumped('203.0.113.2', '203.0.113.1', 40001, 18054))!;
  const target = { ip: '10.0.0.2', port: 53 };
  const current = { ...e, replySrc: Buffer.from([10, 0, 0, 2]), replySport: 53 };
  assert.not.ok(entryMatches(current, { ...udp(18054), keepTo: target }), 'made by the current mapping');
  assert.ok(entryMatches({ ...current, replySport: 5353 }, { ...udp(18054), keepTo: target }), 'another port of that container: stale');
  assert.ok(entryMatches({ ...e, replySrc: Buffer.from([203, 0, 113, 1]), replySport: 18054 }, { ...udp(18054), keepTo: target }), 'not DNATed: stale');
  assert.ok(entryMatches(current, udp(18054)), 'no keepTo (an unpublish): every entry of the port');
  const keys = new Set([udp(18054), { ...udp(18054), local: true }, { ...udp(18054), keepTo: target }, { ...udp(18054), local: true, keepTo: target }].map(matchKey));
  assert.is(keys.size, 4);
  assert.throws(() => checkMatch({ ...udp(53), keepTo: { ip: 'fd00::2', port: 53 } }), /keepTo/);
});

test('entryMatches, local: only entries to an address the host has (none without the test)', () => {
  const e = parseEntry(dumped('203.0.113.2', '203.0.113.1', 40001, 18054))!;
  const local = { ...udp(18054), local: true };
  const hostHas = (...ips: number[][]) => (ip: Buffer) => ips.some((x) => Buffer.from(x).equals(ip));
  assert.ok(entryMatches(e, local, hostHas([203, 0, 113, 1])));
  assert.not.ok(entryMatches(e, local, hostHas([203, 0, 113, 9])), 'forwarded: to another host');
  assert.not.ok(entryMatches(e, local), 'no local test: none');
  assert.ok(entryMatches(e, udp(18054)), 'not local: any destination');
});

test('checkMatch refuses what could select nothing sensible', () => {
  checkMatch(udp(1));
  checkMatch(udp(65535, 'fd00::1', 6));
  for (const bad of [udp(0), udp(65536), udp(1.5), udp(53, 'fd00::1'), udp(53, '10.0.0.1', 6), { family: 4, proto: 'icmp', port: 1 } as unknown as ConntrackMatch]) {
    assert.throws(() => checkMatch(bad), (err: unknown) => err instanceof ConfigError, JSON.stringify(bad));
  }
});

test.run();
