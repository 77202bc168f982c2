/**
 * tc encoders/decoders against byte layouts written out from the uapi headers: struct tcmsg
 * (rtnetlink.h), tc_ratespec / tc_tbf_qopt / TCA_TBF_* (pkt_sched.h), tc_u32_sel / tc_u32_key /
 * TCA_U32_* / TCA_ACT_* / tc_gen (pkt_cls.h), tc_mirred / TCA_MIRRED_* (tc_act/tc_mirred.h).
 * Every number is little-endian (host order) unless the header says __be.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError } from '../errors.js';
import { nlattr } from './encode.js';
import {
  filterInfo, mirredParms, parseTbfOptions, parseU32Redirects, qdiscMessage, ratespec, redirectFilterMessage,
  tbfOptions, tcmsg, u32MatchAllSel, u32RedirectOptions, xmitTicks, INGRESS_HANDLE, TBF_HANDLE, TC_H_INGRESS, TC_H_ROOT,
} from './tc.js';

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
  const tbf = qdiscMessage(3, TBF_HANDLE, TC_H_ROOT, 'tbf', tbfOptions({ rateBytes: 1_000_000, burstBytes: 100_000, limitBytes: 125_000 }));
  assert.is(hex(tbf.subarray(0, 20)), hex(tcmsg(3, TBF_HANDLE, TC_H_ROOT)));
  assert.is(hex(tbf.subarray(20, 28)), h('0800 0100 74626600')); // TCA_KIND "tbf\0"
  assert.is(hex(tbf.subarray(28, 32)), h('3400 0280')); // TCA_OPTIONS, len 4+40+8, NLA_F_NESTED
  assert.is(tbf.length, 20 + 8 + 52);
  assert.is(hex(qdiscMessage(3, INGRESS_HANDLE, TC_H_INGRESS, 'ingress')), h(`
    00 00 0000 03000000 0000ffff f1ffffff 00000000
    0c00 0100 696e677265737300`)); // TCA_KIND "ingress\0" (len 12)
  assert.is(hex(qdiscMessage(3, 0, TC_H_ROOT)), hex(tcmsg(3, 0, TC_H_ROOT)));
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

test.run();
