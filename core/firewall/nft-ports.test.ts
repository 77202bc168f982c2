// Pure tests of the nftables port-map encoding: golden bytes (checked against what
// `nft --debug=mnl add element inet tsnet dnat4 { tcp . 8080 : 10.0.0.2 . 80 }` sends),
// key/data layouts, batch framing, error parsing, layout text and `nft -j` parsing.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError } from '../errors.js';
import {
  elementMapping, elementMessage, encodeBatch, mappingElement, parseErrorPayload,
  NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST, type NftPortMapping,
} from './nft-ports-encode.js';
import { describeMapping, parsePortMapList, renderPortMapLayout } from './nft-ports.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const M4: NftPortMapping = { proto: 'tcp', hostPort: 8080, containerIp: '10.0.0.2', containerPort: 80 };

// nfgenmsg + table + set + elements{ elem{ key{value}, data{value} } }
const ADD_PAYLOAD = `
  01000000
  0a000100 74736e65 74000000
  0a000200 646e6174 34000000
  28000380 24000180
    10000180 0c000100 06000000 1f900000
    10000280 0c000100 0a000002 00500000`;

test('add element message: golden bytes, CREATE without EXCL, ACK', () => {
  const msg = elementMessage('add', mappingElement(M4));
  assert.is(msg.type, 0x0a0c);
  assert.is(msg.flags, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE);
  assert.is(msg.flags & NLM_F_EXCL, 0);
  assert.equal(msg.payload, hex(ADD_PAYLOAD));
});

test('delete element message: key only', () => {
  const msg = elementMessage('delete', mappingElement(M4));
  assert.is(msg.type, 0x0a0e);
  assert.is(msg.flags, NLM_F_REQUEST | NLM_F_ACK);
  assert.equal(msg.payload, hex(`
    01000000
    0a000100 74736e65 74000000
    0a000200 646e6174 34000000
    18000380 14000180
      10000180 0c000100 06000000 1f900000`));
});

test('batch: begin, messages, end with consecutive sequence numbers', () => {
  const msg = elementMessage('add', mappingElement(M4));
  const b = encodeBatch([msg], 7);
  assert.is(b.begin, 7);
  assert.equal(b.seqs, [8]);
  assert.is(b.end, 9);
  assert.equal(b.bytes, Buffer.concat([
    hex('14000000 1000 0100 07000000 00000000 0000000a'),
    hex('54000000 0c0a 0504 08000000 00000000'), hex(ADD_PAYLOAD),
    hex('14000000 1100 0100 09000000 00000000 0000000a'),
  ]));
  const wrapped = encodeBatch([msg, msg], 0xfffffffe);
  assert.equal([wrapped.begin, ...wrapped.seqs, wrapped.end], [0xfffffffe, 0xffffffff, 1, 2]);
});

test('key and data layouts: every component padded to 4 bytes', () => {
  const v4ip = mappingElement({ proto: 'udp', hostIp: '127.0.0.1', hostPort: 53, containerIp: '10.0.0.2', containerPort: 5353 });
  assert.is(v4ip.map, 'dnat4ip');
  assert.equal(v4ip.key, hex('11000000 7f000001 00350000'));
  assert.equal(v4ip.data, hex('0a000002 14e90000'));
  const v6 = mappingElement({ proto: 'tcp', hostIp: '::', hostPort: 443, containerIp: 'fd00::2', containerPort: 8443 });
  assert.is(v6.map, 'dnat6');
  assert.equal(v6.key, hex('06000000 01bb0000'));
  assert.equal(v6.data, hex('fd000000 00000000 00000000 00000002 20fb0000'));
  const v6ip = mappingElement({ proto: 'tcp', hostIp: 'fd00::1', hostPort: 443, containerIp: 'fd00::2', containerPort: 8443 });
  assert.is(v6ip.map, 'dnat6ip');
  assert.equal(v6ip.key, hex('06000000 fd000000 00000000 00000000 00000001 01bb0000'));
  assert.is(mappingElement({ ...M4, hostIp: '0.0.0.0' }).map, 'dnat4');
  assert.is(mappingElement({ ...M4, hostIp: '' }).map, 'dnat4');
});

test('elementMapping inverts mappingElement (canonical addresses)', () => {
  const cases: NftPortMapping[] = [
    M4,
    { proto: 'udp', hostIp: '127.0.0.1', hostPort: 53, containerIp: '10.0.0.2', containerPort: 5353 },
    { proto: 'tcp', hostIp: 'fd00:0:0::1', hostPort: 1, containerIp: 'fd00::2', containerPort: 65535 },
  ];
  for (const m of cases) {
    const el = mappingElement(m);
    const back = elementMapping(el.map, el.key, el.data);
    assert.equal(back, { ...m, ...(m.hostIp ? { hostIp: m.hostIp.replace('fd00:0:0::1', 'fd00::1') } : {}) });
  }
});

test('bad mappings: ConfigError naming the field', () => {
  const bad: [Partial<NftPortMapping>, string][] = [
    [{ proto: 'sctp' as 'tcp' }, 'proto'],
    [{ hostPort: 0 }, 'hostPort'],
    [{ hostPort: 65536 }, 'hostPort'],
    [{ containerPort: 1.5 }, 'containerPort'],
    [{ containerIp: '10.0.0.300' }, 'containerIp'],
    [{ containerIp: 'fe80::1%eth0' }, 'containerIp'],
    [{ hostIp: 'fd00::1' }, 'hostIp'],
    [{ hostIp: 'localhost' }, 'hostIp'],
  ];
  for (const [patch, field] of bad) {
    try {
      mappingElement({ ...M4, ...patch });
      assert.unreachable(`${JSON.stringify(patch)} accepted`);
    } catch (err) {
      assert.instance(err, ConfigError);
      assert.is((err as ConfigError).field, field);
    }
  }
});

test('error payload: errno, capped request, extended ACK message', () => {
  const ack = Buffer.concat([hex('00000000'), hex('54000000 0c0a 0504 08000000 00000000')]);
  assert.equal(parseErrorPayload(ack, 0x100), { errno: 0 });
  const tlv = Buffer.concat([hex('efffffff'), hex('54000000 0c0a 0504 08000000 00000000'), hex('08000100 62616400')]); // NLMSGERR_ATTR_MSG "bad"
  assert.equal(parseErrorPayload(tlv, 0x100 | 0x200), { errno: 17, text: 'bad' });
  assert.equal(parseErrorPayload(Buffer.alloc(2), 0), { errno: 5 });
});

test('layout: one transaction that declares, flushes chains (never maps) and re-adds rules', () => {
  const text = renderPortMapLayout('tsnet');
  assert.equal(text.split('\n'), [
    'add table inet tsnet',
    'add map inet tsnet dnat4 { type inet_proto . inet_service : ipv4_addr . inet_service; }',
    'add map inet tsnet dnat4ip { type inet_proto . ipv4_addr . inet_service : ipv4_addr . inet_service; }',
    'add map inet tsnet dnat6 { type inet_proto . inet_service : ipv6_addr . inet_service; }',
    'add map inet tsnet dnat6ip { type inet_proto . ipv6_addr . inet_service : ipv6_addr . inet_service; }',
    'add chain inet tsnet prerouting { type nat hook prerouting priority dstnat; policy accept; }',
    'add chain inet tsnet output { type nat hook output priority -100; policy accept; }',
    'add chain inet tsnet loopback6 { type filter hook output priority -150; policy accept; }',
    'add chain inet tsnet ports',
    'flush chain inet tsnet prerouting',
    'flush chain inet tsnet output',
    'flush chain inet tsnet loopback6',
    'flush chain inet tsnet ports',
    'add rule inet tsnet prerouting ip daddr 127.0.0.0/8 return',
    'add rule inet tsnet prerouting fib daddr type local jump ports',
    'add rule inet tsnet output fib daddr type local jump ports',
    'add rule inet tsnet loopback6 ip6 daddr ::1 meta l4proto tcp meta l4proto . th dport @dnat6 reject with tcp reset',
    'add rule inet tsnet loopback6 ip6 daddr ::1 meta l4proto udp meta l4proto . th dport @dnat6 reject',
    'add rule inet tsnet ports meta nfproto ipv4 dnat ip to meta l4proto . ip daddr . th dport map @dnat4ip',
    'add rule inet tsnet ports meta nfproto ipv4 dnat ip to meta l4proto . th dport map @dnat4',
    'add rule inet tsnet ports meta nfproto ipv6 dnat ip6 to meta l4proto . ip6 daddr . th dport map @dnat6ip',
    'add rule inet tsnet ports meta nfproto ipv6 dnat ip6 to meta l4proto . th dport map @dnat6',
    '',
  ]);
  assert.not.match(text, /flush (map|set|table)/);
});

test('parsePortMapList reads nft -j output (plain and wrapped elements)', () => {
  const json = JSON.stringify({ nftables: [
    { metainfo: { version: '1.0.6' } },
    { table: { family: 'inet', name: 'tsnet' } },
    { map: { name: 'dnat4', elem: [[{ concat: ['tcp', 8080] }, { concat: ['10.0.0.2', 80] }]] } },
    { map: { name: 'dnat4ip', elem: [[{ elem: { val: { concat: ['udp', '127.0.0.1', 5353] } } }, { concat: ['10.0.0.2', 53] }]] } },
    { map: { name: 'dnat6ip', elem: [[{ concat: [6, 'fd00:0::1', '8081'] }, { concat: ['fd00::2', 80] }]] } },
    { map: { name: 'dnat6' } },
    { chain: { name: 'ports' } },
  ] });
  assert.equal(parsePortMapList(json), [
    M4,
    { proto: 'udp', hostPort: 5353, containerIp: '10.0.0.2', containerPort: 53, hostIp: '127.0.0.1' },
    { proto: 'tcp', hostPort: 8081, containerIp: 'fd00::2', containerPort: 80, hostIp: 'fd00::1' },
  ]);
});

test('describeMapping', () => {
  assert.is(describeMapping(M4), 'tcp *:8080 -> 10.0.0.2:80');
  assert.is(describeMapping({ proto: 'udp', hostIp: 'fd00::1', hostPort: 53, containerIp: 'fd00::2', containerPort: 5353 }), 'udp [fd00::1]:53 -> [fd00::2]:5353');
});

test.run();
