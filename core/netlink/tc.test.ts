/**
 * tc encoders/decoders against byte layouts written out from the uapi headers: struct tcmsg
 * (rtnetlink.h), tc_ratespec / tc_tbf_qopt / TCA_TBF_* / tc_htb_glob / tc_htb_opt / TCA_HTB_* /
 * tc_fifo_qopt (pkt_sched.h), tc_u32_sel / tc_u32_key / TCA_U32_* / TCA_ACT_* / tc_gen
 * (pkt_cls.h), tc_mirred / TCA_MIRRED_* (tc_act/tc_mirred.h).
 * Every number is little-endian (host order) unless the header says __be.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError } from '../errors.js';
import { nlattr } from './encode.js';
import {
  filterInfo, mirredParms, parseTbfOptions, parseU32Redirects, tcMessage, ratespec, redirectFilterMessage,
  tbfOptions, tcmsg, u32MatchAllSel, u32RedirectOptions, xmitTicks, INGRESS_HANDLE, TBF_HANDLE, TC_H_INGRESS, TC_H_ROOT,
  htbQdiscOptions, htbClassOptions, htbQuantum, fifoOptions, u32Sel, prefixKeys, prefixFilter, classifyFilterMessage,
  parseHtbDefault, parseHtbClassOptions, parseFifoLimit, parseU32Sel, parseU32Classify, tcHandle,
  HTB_HANDLE, HTB_SHAPED_CLASS, HTB_UNSHAPED_CLASS, SHAPED_LEAF_HANDLE, UNSHAPED_LEAF_HANDLE, ETH_P_IP, ETH_P_IPV6,
} from './tc.js';
import { parseCidr } from './encode.js';

const hex = (b: Uint8Array | Uint8Array[]): string => Buffer.concat(Array.isArray(b) ? b : [b]).toString('hex');
const h = (s: string): string => s.replace(/\s+/g, '');

test('handles: TC_H_ROOT, TC_H_INGRESS, ffff: and 1:', () => {
  assert.is(TC_H_ROOT, 0xffffffff);
  assert.is(TC_H_INGRESS, 0xfffffff1);
  assert.is(INGRESS_HANDLE, 0xffff0000);
  assert.is(TBF_HANDLE, 0x00010000);
});

test('tcmsg: family, pad1, pad2, ifindex, handle, parent, info (20 bytes)', () => {
  assert.is(hex(tcmsg(7, TBF_HANDLE, TC_H_ROOT)), h('00 00 0000  07000000  00000100  ffffffff  00000000'));
});

test('filter tcm_info: prio << 16 | htons(protocol), as tc does (TC_H_MAKE(prio<<16, proto))', () => {
  assert.is(filterInfo(1, 0x0003), 0x00010300); // ETH_P_ALL 0x0003 -> 0x0300 in network order
  assert.is(filterInfo(49152, 0x0800), 0xc0000008);
  assert.is(hex(tcmsg(1, 0, INGRESS_HANDLE, filterInfo(1, 0x0003))).slice(32), '00030100');
});

test('tc_ratespec: cell_log, linklayer=ETHERNET(1), overhead, cell_align, mpu, rate (12 bytes); rate saturates at u32', () => {
  assert.is(hex(ratespec(1_000_000)), h('00 01 0000 0000 0000 40420f00'));
  assert.is(hex(ratespec(5_000_000_000)), h('00 01 0000 0000 0000 ffffffff'));
});

test('psched ticks are 64 ns: 100000 B at 1 MB/s = 100 ms = 1562500 ticks', () => {
  assert.is(xmitTicks(100_000, 1_000_000), 1_562_500);
  assert.is(xmitTicks(2 ** 32, 1), 0xffffffff);
});

test('tbf options: TCA_TBF_PARMS (tc_tbf_qopt, 36 bytes) then TCA_TBF_BURST (u32); no RATE64 under 2^32', () => {
  const got = hex(tbfOptions({ rateBytes: 1_000_000, burstBytes: 100_000, limitBytes: 125_000 }));
  const parms = h(`
    2800 0100
    00 01 0000 0000 0000 40420f00
    00 00 0000 0000 0000 00000000
    48e80100
    84d71700
    00000000`); // len 40, type 1; rate; peakrate none; limit 125000; buffer 1562500 ticks; mtu 0
  const burst = h('0800 0600 a0860100'); // len 8, type 6 (TCA_TBF_BURST), 100000
  assert.is(got, parms + burst);
});

test('tbf options: TCA_TBF_RATE64 (type 4, u64) beyond u32, the PARMS rate saturated', () => {
  const attrs = tbfOptions({ rateBytes: 5_000_000_000, burstBytes: 1_000_000, limitBytes: 5_000_000 });
  assert.is(attrs.length, 3);
  assert.is(hex(attrs[0]!).slice(8 + 16, 8 + 24), 'ffffffff');
  assert.is(hex(attrs[1]!), h('0c00 0400 00f2052a01000000'));
  assert.is(hex(attrs[2]!), h('0800 0600 40420f00'));
});

test('tbf options refuse what the kernel cannot hold', () => {
  assert.throws(() => tbfOptions({ rateBytes: 0, burstBytes: 1, limitBytes: 1 }), (e: unknown) => e instanceof ConfigError);
  assert.throws(() => tbfOptions({ rateBytes: 1, burstBytes: 0, limitBytes: 1 }), (e: unknown) => e instanceof ConfigError);
  assert.throws(() => tbfOptions({ rateBytes: 1, burstBytes: 2 ** 32, limitBytes: 1 }), (e: unknown) => e instanceof ConfigError);
});

test('qdisc messages: tbf root 1: with nested TCA_OPTIONS; ingress ffff: under TC_H_INGRESS; delete has no kind', () => {
  const tbf = tcMessage(3, TBF_HANDLE, TC_H_ROOT, 'tbf', tbfOptions({ rateBytes: 1_000_000, burstBytes: 100_000, limitBytes: 125_000 }));
  assert.is(hex(tbf.subarray(0, 20)), hex(tcmsg(3, TBF_HANDLE, TC_H_ROOT)));
  assert.is(hex(tbf.subarray(20, 28)), h('0800 0100 74626600')); // TCA_KIND "tbf\0"
  assert.is(hex(tbf.subarray(28, 32)), h('3400 0280')); // TCA_OPTIONS, len 4+40+8, NLA_F_NESTED
  assert.is(tbf.length, 20 + 8 + 52);
  assert.is(hex(tcMessage(3, INGRESS_HANDLE, TC_H_INGRESS, 'ingress')), h(`
    00 00 0000 03000000 0000ffff f1ffffff 00000000
    0c00 0100 696e677265737300`)); // TCA_KIND "ingress\0" (len 12)
  assert.is(hex(tcMessage(3, 0, TC_H_ROOT)), hex(tcmsg(3, 0, TC_H_ROOT)));
});

test('u32 selector: flags=TERMINAL, nkeys=1, one key mask 0 val 0 off 0 (16 + 16 bytes)', () => {
  assert.is(hex(u32MatchAllSel()), h(`
    01 00 01 00  0000 0000  0000 0000  00000000
    00000000 00000000 00000000 00000000`));
});

test('tc_mirred: index, capab, action=TC_ACT_STOLEN(4), refcnt, bindcnt, eaction=TCA_EGRESS_REDIR(1), ifindex', () => {
  assert.is(hex(mirredParms(9)), h('00000000 00000000 04000000 00000000 00000000 01000000 09000000'));
});

test('redirect filter: tcmsg on ffff:, kind u32, options { SEL, ACT { 1 { KIND mirred, OPTIONS { PARMS } } } }', () => {
  const want = h(`
    00 00 0000 05000000 00000000 0000ffff 00030100
    0800 0100 75333200
    6000 0280
      2400 0500 01000100 00000000 00000000 00000000 00000000 00000000 00000000 00000000
      3800 0780
        3400 0180
          0b00 0100 6d697272656400 00
          2400 0280
            2000 0200 00000000 00000000 04000000 00000000 00000000 01000000 07000000`);
  assert.is(hex(redirectFilterMessage(5, 7)), want);
});

test('parseTbfOptions: rate (or RATE64), limit and the burst from buffer ticks at the rate', () => {
  const qopt = Buffer.alloc(36);
  ratespec(200_000).copy(qopt, 0);
  qopt.writeUInt32LE(21_000, 24);
  qopt.writeUInt32LE(1_250_000, 28); // 80 ms at 200 kB/s = 16000 B
  const pad = nlattr(8, Buffer.alloc(0)); // the kernel's TCA_TBF_PAD is skipped
  assert.equal(parseTbfOptions(Buffer.concat([nlattr(1, qopt), pad])), { rateBytes: 200_000, burstBytes: 16_000, limitBytes: 21_000 });
  const r64 = Buffer.alloc(8);
  r64.writeBigUInt64LE(5_000_000_000n);
  ratespec(5_000_000_000).copy(qopt, 0);
  qopt.writeUInt32LE(3124, 28);
  assert.equal(parseTbfOptions(Buffer.concat([nlattr(1, qopt), nlattr(4, r64)])), { rateBytes: 5_000_000_000, burstBytes: 999_680, limitBytes: 21_000 });
  assert.is(parseTbfOptions(nlattr(1, Buffer.alloc(12))), undefined, 'short PARMS');
  assert.is(parseTbfOptions(Buffer.alloc(0)), undefined);
});

test('parseU32Redirects: egress redirects of mirred actions only, among other attributes', () => {
  assert.equal(parseU32Redirects(Buffer.concat(u32RedirectOptions(7))), [7]);
  const mirror = mirredParms(8);
  mirror.writeInt32LE(2, 20); // TCA_EGRESS_MIRROR: not a redirect
  const act = (kind: string, opts: Buffer[]) => Buffer.concat([nlattr(1, Buffer.from(`${kind}\0`)), nlattr(2, opts, true), nlattr(4, Buffer.alloc(8))]);
  const dumped = Buffer.concat([
    nlattr(5, u32MatchAllSel()),
    nlattr(7, [
      nlattr(1, act('gact', [nlattr(2, Buffer.alloc(20))]), true),
      nlattr(2, act('mirred', [nlattr(1, Buffer.alloc(32)), nlattr(2, mirror)]), true),
      nlattr(3, act('mirred', [nlattr(1, Buffer.alloc(32)), nlattr(2, mirredParms(11))]), true),
    ], true),
    nlattr(9, Buffer.alloc(16)),
  ]);
  assert.equal(parseU32Redirects(dumped), [11]);
  assert.equal(parseU32Redirects(nlattr(5, u32MatchAllSel())), [], 'no actions');
});

test('htb handles: root 1:, classes 1:1 and 1:30 (minor 0x30), leaves 10: and 30:; tc notation', () => {
  assert.is(HTB_HANDLE, 0x00010000);
  assert.is(HTB_UNSHAPED_CLASS, 0x00010001);
  assert.is(HTB_SHAPED_CLASS, 0x00010030);
  assert.is(UNSHAPED_LEAF_HANDLE, 0x00100000);
  assert.is(SHAPED_LEAF_HANDLE, 0x00300000);
  assert.equal([tcHandle(HTB_SHAPED_CLASS), tcHandle(HTB_HANDLE), tcHandle(INGRESS_HANDLE), tcHandle(SHAPED_LEAF_HANDLE)], ['1:30', '1:', 'ffff:', '30:']);
  assert.equal([ETH_P_IP, ETH_P_IPV6], [0x0800, 0x86dd]);
  assert.is(filterInfo(16, ETH_P_IP), 0x00100008);
  assert.is(filterInfo(15, ETH_P_IPV6), 0x000fdd86);
});

test('htb qdisc: root 1:, TCA_OPTIONS { TCA_HTB_INIT tc_htb_glob: version 3, rate2quantum 10, defcls, debug 0, direct_pkts 0 }', () => {
  assert.is(hex(htbQdiscOptions(0x30)), h('1800 0200  03000000 0a000000 30000000 00000000 00000000'));
  assert.is(hex(tcMessage(4, HTB_HANDLE, TC_H_ROOT, 'htb', htbQdiscOptions(1))), h(`
    00 00 0000 04000000 00000100 ffffffff 00000000
    0800 0100 68746200
    1c00 0280
      1800 0200 03000000 0a000000 01000000 00000000 00000000`));
});

test('htb class: TCA_HTB_PARMS tc_htb_opt (rate, ceil, buffer and cbuffer in 64 ns ticks, quantum, level, prio: 44 bytes)', () => {
  const got = htbClassOptions({ rateBytes: 200_000, ceilBytes: 200_000, burstBytes: 16_000, cburstBytes: 16_000, quantum: 20_000 });
  assert.is(hex(got), h(`
    3000 0100
    00 01 0000 0000 0000 400d0300
    00 01 0000 0000 0000 400d0300
    d0121300 d0121300 204e0000 00000000 00000000`)); // 16000 B at 200 kB/s = 80 ms = 1250000 ticks; quantum 20000
  const msg = tcMessage(4, HTB_SHAPED_CLASS, HTB_HANDLE, 'htb', got);
  assert.is(hex(msg.subarray(0, 20)), h('00 00 0000 04000000 30000100 00000100 00000000'));
  assert.is(hex(msg.subarray(28, 32)), h('3400 0280'));
});

test('htb class beyond u32: PARMS rates saturated, TCA_HTB_RATE64 (6) and TCA_HTB_CEIL64 (7) as u64', () => {
  const got = htbClassOptions({ rateBytes: 100_000_000_000, ceilBytes: 100_000_000_000, burstBytes: 100_000_000, cburstBytes: 100_000_000, quantum: 200_000 });
  assert.is(got.length, 3);
  assert.is(hex(got[0]!), h(`
    3000 0100
    00 01 0000 0000 0000 ffffffff
    00 01 0000 0000 0000 ffffffff
    093d0000 093d0000 400d0300 00000000 00000000`)); // 1 ms = 15625 ticks
  assert.is(hex(got[1]!), h('0c00 0600 00e8764817000000'));
  assert.is(hex(got[2]!), h('0c00 0700 00e8764817000000'));
  const bad = (c: Partial<Parameters<typeof htbClassOptions>[0]>) => () => htbClassOptions({ rateBytes: 1000, ceilBytes: 1000, burstBytes: 100, cburstBytes: 100, quantum: 1000, ...c });
  for (const c of [{ rateBytes: 0 }, { ceilBytes: 999 }, { burstBytes: 0 }, { quantum: 0 }, { rateBytes: 1.5 }]) {
    assert.throws(bad(c), (e: unknown) => e instanceof ConfigError, JSON.stringify(c));
  }
});

test('htb quantum: rate / 10 within 1000..200000, as the kernel picks at r2q 10', () => {
  assert.equal([htbQuantum(200_000), htbQuantum(5_000), htbQuantum(100_000_000_000)], [20_000, 1_000, 200_000]);
});

test('fifo leaf: TCA_OPTIONS holds tc_fifo_qopt raw (not nested)', () => {
  assert.is(hex(fifoOptions(21_000)), '08520000');
  assert.is(hex(tcMessage(4, SHAPED_LEAF_HANDLE, HTB_SHAPED_CLASS, 'bfifo', fifoOptions(21_000))), h(`
    00 00 0000 04000000 00003000 30000100 00000000
    0a00 0100 626669666f00 0000
    0800 0200 08520000`));
});

test('u32 selector with keys: mask and val big-endian (val masked), off and offmask host order', () => {
  assert.is(hex(u32Sel([{ mask: 0xffff0000, val: 0x0a01ffff, off: 16 }, { mask: 0xffffffff, val: 1, off: -4 }])), h(`
    01 00 02 00  0000 0000  0000 0000  00000000
    ffff0000 0a010000 10000000 00000000
    ffffffff 00000001 fcffffff 00000000`));
  assert.is(hex(u32MatchAllSel()), hex(u32Sel([{ mask: 0, val: 0, off: 0 }])));
});

test('prefix keys: IPv4 src at 12, dst at 16; IPv6 src at 8, dst at 24, one key per word; host bits dropped; /0 matches all', () => {
  const k = (c: string, f: 'src' | 'dst') => prefixKeys(parseCidr(c), f);
  assert.equal(k('10.1.2.3/16', 'dst'), [{ mask: 0xffff0000, val: 0x0a010000, off: 16 }]);
  assert.equal(k('10.1.2.3/16', 'src'), [{ mask: 0xffff0000, val: 0x0a010000, off: 12 }]);
  assert.equal(k('192.168.7.9/32', 'dst'), [{ mask: 0xffffffff, val: 0xc0a80709, off: 16 }]);
  assert.equal(k('172.31.255.1/20', 'src'), [{ mask: 0xfffff000, val: 0xac1ff000, off: 12 }]);
  assert.equal(k('0.0.0.0/0', 'dst'), [{ mask: 0, val: 0, off: 0 }]);
  assert.equal(k('fd00:1:2::/48', 'dst'), [{ mask: 0xffffffff, val: 0xfd000001, off: 24 }, { mask: 0xffff0000, val: 0x00020000, off: 28 }]);
  assert.equal(k('fd00:1:2::/48', 'src'), [{ mask: 0xffffffff, val: 0xfd000001, off: 8 }, { mask: 0xffff0000, val: 0x00020000, off: 12 }]);
  assert.equal(k('2001:db8::8000:0:1/33', 'dst'), [{ mask: 0xffffffff, val: 0x20010db8, off: 24 }, { mask: 0x80000000, val: 0, off: 28 }]);
  assert.equal(k('fd74::1:2/128', 'src').map((x) => [x.val, x.off]), [[0xfd740000, 8], [0, 12], [0, 16], [0x00010002, 20]]);
  assert.equal(k('::/0', 'src'), [{ mask: 0, val: 0, off: 0 }]);
});

test('prefix filter: protocol ip prio 16 or ipv6 prio 15, flowid the class', () => {
  const f4 = prefixFilter(parseCidr('10.1.0.0/16'), 'dst', HTB_UNSHAPED_CLASS);
  assert.equal([f4.prio, f4.ethProto, f4.classid], [16, 0x0800, 0x00010001]);
  const f6 = prefixFilter(parseCidr('fd00::/8'), 'src', HTB_SHAPED_CLASS);
  assert.equal([f6.prio, f6.ethProto, f6.classid, f6.keys], [15, 0x86dd, 0x00010030, [{ mask: 0xff000000, val: 0xfd000000, off: 8 }]]);
});

test('classify filter: tcmsg on 1: (prio 16, ip), kind u32, options { CLASSID 1:1, SEL with one key }', () => {
  assert.is(hex(classifyFilterMessage(5, HTB_HANDLE, prefixFilter(parseCidr('10.1.0.0/16'), 'dst', HTB_UNSHAPED_CLASS))), h(`
    00 00 0000 05000000 00000000 00000100 08001000
    0800 0100 75333200
    3000 0280
      0800 0100 01000100
      2400 0500
        01 00 01 00 0000 0000 0000 0000 00000000
        ffff0000 0a010000 10000000 00000000`));
  const v6 = classifyFilterMessage(5, HTB_HANDLE, prefixFilter(parseCidr('fd00:1:2::/48'), 'src', HTB_SHAPED_CLASS));
  assert.is(hex(v6.subarray(16, 20)), '86dd0f00', 'tcm_info: htons(ETH_P_IPV6) | 15 << 16');
  assert.is(hex(v6.subarray(28)), h(`
    4000 0280
      0800 0100 30000100
      3400 0500
        01 00 02 00 0000 0000 0000 0000 00000000
        ffffffff fd000001 08000000 00000000
        ffff0000 00020000 0c000000 00000000`));
});

test('parse htb: default class of the qdisc; class rates (RATE64/CEIL64), bursts from ticks, quantum', () => {
  const direct = nlattr(5, Buffer.from([0xe8, 0x03, 0, 0])); // the kernel's TCA_HTB_DIRECT_QLEN
  assert.is(parseHtbDefault(Buffer.concat([...htbQdiscOptions(0x30), direct])), 0x30);
  assert.is(parseHtbDefault(direct), undefined);
  const shaped = { rateBytes: 200_000, ceilBytes: 400_000, burstBytes: 16_000, cburstBytes: 32_000, quantum: 20_000 };
  assert.equal(parseHtbClassOptions(Buffer.concat(htbClassOptions(shaped))), shaped);
  const big = { rateBytes: 100_000_000_000, ceilBytes: 100_000_000_000, burstBytes: 100_000_000, cburstBytes: 100_000_000, quantum: 200_000 };
  assert.equal(parseHtbClassOptions(Buffer.concat([...htbClassOptions(big), nlattr(8, Buffer.alloc(0))])), big);
  assert.is(parseHtbClassOptions(nlattr(1, Buffer.alloc(40))), undefined, 'short PARMS');
});

test('parse u32 rules: keys and flowid (a hash table entry has neither); fifo limit', () => {
  const f = prefixFilter(parseCidr('fd00:1:2::/48'), 'dst', HTB_SHAPED_CLASS);
  const opts = classifyFilterMessage(5, HTB_HANDLE, f).subarray(20 + 8 + 4);
  const dumped = Buffer.concat([nlattr(2, Buffer.from([0, 0, 0x80, 0x80])), opts, nlattr(9, Buffer.alloc(16))]); // TCA_U32_HASH, PCNT around
  assert.equal(parseU32Classify(dumped), { keys: f.keys, classid: 0x00010030 });
  assert.equal(parseU32Classify(nlattr(4, Buffer.from([1, 0, 0, 0]))), {}, 'hash table: divisor only');
  assert.is(parseU32Sel(Buffer.alloc(8)), undefined);
  const truncated = u32Sel(f.keys).subarray(0, 30);
  assert.is(parseU32Sel(truncated), undefined);
  assert.is(parseFifoLimit(fifoOptions(1000)), 1000);
  assert.is(parseFifoLimit(Buffer.alloc(2)), undefined);
});

test.run();
