/**
 * Interface addresses (v4 and v6). Every function acts in the netns of the handle `h`.
 * The caller removes what it adds (delAddr), or deletes the link/netns holding it.
 */
import { AttrStream, FlagsGet, FlagsNew, rt } from 'netlink';
import { ConflictError, TryAgainError } from '../errors.js';
import { AF_INET, AF_INET6, broadcast4, formatIp, parseCidr } from './encode.js';
import { linkIndex, listLinks } from './links.js';
import { request, requestOr, type NlHandle } from './socket.js';

/** An address; `tentative` while IPv6 duplicate address detection runs, `dadFailed` once it found a duplicate. */
export interface AddrInfo { ifindex: number; ifname?: string; cidr: string; family: 4 | 6; tentative?: boolean; dadFailed?: boolean }

const EADDRNOTAVAIL = 99;
const ENODEV = 19;

/** Pure: the RTM_NEWADDR/DELADDR body for cidr on ifindex. */
export function addrMessage(ifindex: number, cidr: string, opts: { noDad?: boolean } = {}): Uint8Array[] {
  const p = parseCidr(cidr);
  const data: rt.Address = { family: p.family === 4 ? AF_INET : AF_INET6, prefixlen: p.prefixLen, index: ifindex, scope: 0 };
  if (opts.noDad) data.flags = { nodad: true };
  const attrs: rt.AddressAttrs = { local: p.bytes, address: p.bytes };
  const brd = p.family === 4 ? broadcast4(p.bytes, p.prefixLen) : undefined;
  if (brd) attrs.broadcast = brd;
  const out = new AttrStream();
  rt.formatAddressMessage({ kind: 'address', data, attrs }, out);
  return out.bufs;
}

/**
 * Adds cidr ('10.0.0.2/24', 'fd00::2/64') to ifname in h's netns (v4 gets its broadcast
 * address; noDad skips IPv6 duplicate address detection). EEXIST (17) when already there.
 */
export async function addAddr(h: NlHandle, ifname: string | number, cidr: string, opts: { noDad?: boolean } = {}): Promise<void> {
  const op = `add address ${cidr} to ${ifname}`;
  const index = typeof ifname === 'number' ? ifname : await linkIndex(h, ifname, op);
  await request(h, op, rt.MessageType.NEWADDR, addrMessage(index, cidr, opts), FlagsNew.CREATE | FlagsNew.EXCL);
}

/** Removes cidr from ifname in h's netns. false when the address (or the link) was already gone. */
export async function delAddr(h: NlHandle, ifname: string, cidr: string): Promise<boolean> {
  const op = `delete address ${cidr} from ${ifname}`;
  let index: number;
  try {
    index = await linkIndex(h, ifname, op);
  } catch (err) {
    if ((err as { errno?: number }).errno === ENODEV) return false;
    throw err;
  }
  const res = await requestOr(h, op, rt.MessageType.DELADDR, addrMessage(index, cidr), 0, [EADDRNOTAVAIL]);
  return res !== undefined;
}

/** Addresses in h's netns, all links or only ifname's. */
export async function listAddrs(h: NlHandle, ifname?: string): Promise<AddrInfo[]> {
  const links = await listLinks(h);
  const names = new Map(links.map((l) => [l.index, l.name]));
  const only = ifname === undefined ? undefined : links.find((l) => l.name === ifname)?.index;
  if (ifname !== undefined && only === undefined) return [];
  const result = await dumpAddrs(h, only);
  for (const info of result) {
    const name = names.get(info.ifindex);
    if (name !== undefined) info.ifname = name;
  }
  return result;
}

/** Addresses in h's netns (of link `only` when given), without names. */
async function dumpAddrs(h: NlHandle, only?: number): Promise<AddrInfo[]> {
  const out = new AttrStream();
  rt.formatAddressMessage({ kind: 'address', data: {}, attrs: {} }, out);
  const msgs = await request(h, 'list addresses', rt.MessageType.GETADDR, out.bufs, FlagsGet.DUMP);
  const result: AddrInfo[] = [];
  for (const m of msgs) {
    if (m.kind !== 'address') continue;
    const ifindex = m.data.index ?? 0;
    const bytes = m.attrs.local ?? m.attrs.address;
    if (!bytes || (only !== undefined && ifindex !== only)) continue;
    const info: AddrInfo = { ifindex, cidr: `${formatIp(bytes)}/${m.data.prefixlen ?? 0}`, family: bytes.length === 4 ? 4 : 6 };
    // IFA_FLAGS (u32) supersedes ifa_flags (u8) when the kernel sends it.
    const flags = m.attrs.flags ?? m.data.flags;
    if (flags?.tentative) info.tentative = true;
    if (flags?.dadfailed) info.dadFailed = true;
    result.push(info);
  }
  return result;
}

const DAD_POLL_MS = 50;

/**
 * Waits until IPv6 duplicate address detection is over for `cidrs` on link `ifindex` in h's
 * netns, polling as the reference plugins' SettleAddresses does. ConflictError naming the
 * address when DAD found a duplicate; TryAgainError after `timeoutMs`.
 */
export async function waitForDad(h: NlHandle, ifindex: number, cidrs: string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const mine = (await dumpAddrs(h, ifindex)).filter((a) => cidrs.includes(a.cidr));
    const dup = mine.find((a) => a.dadFailed);
    if (dup) throw new ConflictError(`IPv6 address ${dup.cidr} is already in use on the link (duplicate address detection failed)`);
    // Gone is no success: a duplicate with accept_dad=2 takes IPv6 off the link, and a
    // concurrent delete takes the link.
    const gone = cidrs.filter((c) => !mine.some((a) => a.cidr === c));
    if (gone.length > 0) throw new ConflictError(`IPv6 address ${gone.join(', ')} went away during duplicate address detection (a duplicate makes the kernel disable IPv6 with accept_dad=2)`);
    if (!mine.some((a) => a.tentative)) return;
    if (Date.now() >= deadline) throw new TryAgainError(`IPv6 duplicate address detection for ${cidrs.join(', ')} did not finish within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, DAD_POLL_MS));
  }
}
