import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError } from '../errors.js';
import {
  bridgePortHairpin, broadcast4, eachAttr, formatIp, linkInfo, linkKindOf, macvlanData, networkOf, nlattr,
  parseCidr, parseIp, parseMac, formatMac, vethPeer, vxlanData, NLA_F_NESTED,
} from './encode.js';
import { addrMessage } from './addrs.js';
import { routeMessage } from './routes.js';
import { fdbMessage, neighMessage } from './neigh.js';

const hex = (b: Uint8Array | Uint8Array[]): string => Buffer.concat(Array.isArray(b) ? b : [b]).toString('hex');

function attrs(buf: Buffer): [number, Buffer][] {
  const out: [number, Buffer][] = [];
  eachAttr(buf, (t, d) => out.push([t, d]));
  return out;
}

test('nlattr pads to 4 bytes and sets the nested flag', () => {
  assert.is(hex(nlattr(3, Buffer.from('ab\0'))), '070003006162' + '0000');
  const n = nlattr(1, nlattr(2, Buffer.from([1])), true);
  assert.is(n.readUInt16LE(2), 1 | NLA_F_NESTED);
  assert.is(n.length, 12);
});

test('linkInfo: kind string, data nested', () => {
  const li = linkInfo('macvlan', macvlanData('bridge'));
  const top = attrs(li);
  assert.equal(top.map(([t]) => t), [1, 2]);
  assert.is(top[0]?.[1].toString(), 'macvlan\0');
  const mode = attrs(top[1]![1]);
  assert.equal(mode, [[1, Buffer.from([4, 0, 0, 0])]]);
  assert.is(linkKindOf(li), 'macvlan');
  assert.is(linkKindOf(linkInfo('bridge')), 'bridge');
  assert.is(linkKindOf(undefined), undefined);
});

test('macvlan modes map to kernel values', () => {
  for (const [mode, v] of [['private', 1], ['vepa', 2], ['bridge', 4], ['passthru', 8]] as const) {
    assert.is(macvlanData(mode)[0]!.readUInt32LE(4), v);
  }
});

test('veth peer: ifinfomsg then name and netns fd', () => {
  const peer = vethPeer({ name: 'eth0', netnsFd: 7, mtu: 1400 });
  const [[type, payload]] = attrs(peer) as [[number, Buffer]];
  assert.is(type, 1);
  assert.is(peer.readUInt16LE(2) & NLA_F_NESTED, NLA_F_NESTED);
  const ifinfo = payload.subarray(0, 16);
  assert.is(hex(ifinfo), '00'.repeat(16));
  const inner = attrs(payload.subarray(16));
  const byType = new Map(inner);
  assert.is(byType.get(3)?.toString(), 'eth0\0');
  assert.is(byType.get(28)?.readUInt32LE(0), 7); // IFLA_NET_NS_FD
  assert.is(byType.get(4)?.readUInt32LE(0), 1400); // IFLA_MTU
});

test('vxlan data: vni, port big-endian, local v4/v6, dev, learning', () => {
  const m = new Map(attrs(Buffer.concat(vxlanData({ vni: 42, port: 4789, local: '192.0.2.1', devIndex: 3, learning: false }))));
  assert.is(m.get(1)?.readUInt32LE(0), 42);
  assert.is(hex(m.get(15)!), '12b5');
  assert.is(hex(m.get(4)!), 'c0000201');
  assert.is(m.get(3)?.readUInt32LE(0), 3);
  assert.is(hex(m.get(7)!), '00');
  const v6 = new Map(attrs(Buffer.concat(vxlanData({ vni: 1, port: 8472, local: 'fd00::1' }))));
  assert.is(v6.get(17)?.length, 16);
  assert.throws(() => vxlanData({ vni: 1 << 24, port: 4789 }), (e: unknown) => e instanceof ConfigError);
});

test('hairpin protinfo is nested IFLA_PROTINFO with IFLA_BRPORT_MODE', () => {
  const b = bridgePortHairpin(true);
  assert.is(b.readUInt16LE(2), 12 | NLA_F_NESTED);
  assert.equal(attrs(b.subarray(4)), [[4, Buffer.from([1])]]);
  assert.equal(attrs(bridgePortHairpin(false).subarray(4)), [[4, Buffer.from([0])]]);
});

test('MAC, IP and CIDR parsing', () => {
  assert.is(formatMac(parseMac('02:42:AC:11:00:02')), '02:42:ac:11:00:02');
  assert.throws(() => parseMac('02:42:ac:11:00'), (e: unknown) => e instanceof ConfigError);
  assert.is(hex(parseIp('10.1.2.3').bytes), '0a010203');
  assert.is(parseIp('::1').bytes.length, 16);
  assert.is(formatIp(parseIp('::1').bytes), '::1');
  assert.is(formatIp(parseIp('fd00:0::0:2').bytes), 'fd00::2');
  const c = parseCidr('fd00::2/64');
  assert.is(c.family, 6);
  assert.is(c.prefixLen, 64);
  assert.throws(() => parseCidr('10.0.0.1'), (e: unknown) => e instanceof ConfigError);
  assert.throws(() => parseCidr('10.0.0.1/33'), (e: unknown) => e instanceof ConfigError);
  assert.throws(() => parseIp('10.0.0.256'), (e: unknown) => e instanceof ConfigError);
});

test('broadcast and network addresses', () => {
  assert.is(formatIp(broadcast4(parseIp('10.0.0.2').bytes, 24)!), '10.0.0.255');
  assert.is(formatIp(broadcast4(parseIp('10.0.0.2').bytes, 0)!), '255.255.255.255');
  assert.is(broadcast4(parseIp('10.0.0.2').bytes, 31), undefined);
  assert.is(formatIp(networkOf(parseIp('10.1.2.3').bytes, 20)), '10.1.0.0');
  assert.is(formatIp(networkOf(parseIp('fd00:1:2:3::9').bytes, 48)), 'fd00:1:2::');
});

test('address message: family, prefix, index, local+address, broadcast, nodad', () => {
  const b = Buffer.concat(addrMessage(5, '10.0.0.2/24'));
  assert.is(b[0], 2); // AF_INET
  assert.is(b[1], 24);
  assert.is(b.readUInt32LE(4), 5);
  const m = new Map(attrs(b.subarray(8)));
  assert.is(hex(m.get(2)!), '0a000002'); // IFA_LOCAL
  assert.is(hex(m.get(1)!), '0a000002'); // IFA_ADDRESS
  assert.is(hex(m.get(4)!), '0a0000ff'); // IFA_BROADCAST
  const v6 = Buffer.concat(addrMessage(5, 'fd00::2/64', { noDad: true }));
  assert.is(v6[0], 10);
  assert.is(v6[2]! & 0x02, 0x02); // IFA_F_NODAD
  assert.not.ok(new Map(attrs(v6.subarray(8))).has(4));
});

test('route message: iproute2 scope defaults, canonical dst, table attr', () => {
  const onLink = Buffer.concat(routeMessage({ dst: '10.1.2.3/16', dev: 'x' }, 4, false));
  assert.is(onLink[1], 16); // dst_len
  assert.is(onLink[4], 254); // main table
  assert.is(onLink[5], 3); // RTPROT_BOOT
  assert.is(onLink[6], 253); // link scope without gateway
  const m = new Map(attrs(onLink.subarray(12)));
  assert.is(hex(m.get(1)!), '0a010000'); // RTA_DST canonical
  assert.is(m.get(4)?.readUInt32LE(0), 4); // RTA_OIF
  const viaGw = Buffer.concat(routeMessage({ dst: 'default', gateway: '10.0.0.1', table: 1000, metric: 5 }, undefined, false));
  assert.is(viaGw[1], 0);
  assert.is(viaGw[4], 0); // table > 255 goes in RTA_TABLE
  assert.is(viaGw[6], 0); // universe
  const g = new Map(attrs(viaGw.subarray(12)));
  assert.is(hex(g.get(5)!), '0a000001');
  assert.is(g.get(15)?.readUInt32LE(0), 1000);
  assert.is(g.get(6)?.readUInt32LE(0), 5);
  const del = Buffer.concat(routeMessage({ dst: 'default', gateway: 'fd00::1' }, undefined, true));
  assert.is(del[0], 10); // family from the gateway
  assert.is(del[6], 255); // delete matches any scope
  assert.throws(() => routeMessage({ dst: '10.0.0.0/8', gateway: 'fd00::1' }, undefined, false), (e: unknown) => e instanceof ConfigError);
});

test('neighbour and fdb messages', () => {
  const n = Buffer.concat(neighMessage(3, '10.0.0.9', '02:00:00:00:00:09', true));
  assert.is(n[0], 2);
  assert.is(n.readUInt32LE(4), 3);
  assert.is(n.readUInt16LE(8), 0x80); // NUD_PERMANENT
  const f = Buffer.concat(fdbMessage(4, { mac: '00:00:00:00:00:00', dst: '192.0.2.7' }));
  assert.is(f[0], 7); // AF_BRIDGE
  assert.is(f[10], 0x02); // NTF_SELF
  const fm = new Map(attrs(f.subarray(12)));
  assert.is(hex(fm.get(1)!), 'c0000207'); // NDA_DST
  assert.is(hex(fm.get(2)!), '000000000000'); // NDA_LLADDR
  assert.is(Buffer.concat(fdbMessage(4, { mac: '02:00:00:00:00:01', self: false }))[10], 0x04); // NTF_MASTER
});

test.run();
