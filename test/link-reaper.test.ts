/**
 * core/link-reaper in the sandbox's throwaway host netns: with deferral on, removeVeth and
 * removeLinkIn free the names at once (both ends down and renamed tsdead*, in the DYING
 * group) and the worker deletes them; settleRetired waits for it; sweepRetired deletes what
 * a killed daemon left. Each test makes and removes its own netns and links.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as nl from '../core/netlink/index.js';
import { closeNetns, netlinkIn, openNetns } from '../core/netns/index.js';
import { DYING_GROUP, deferLinkDeletes, removeLinkIn, removeVeth, settleRetired, sweepRetired } from '../core/link-reaper/index.js';
import { dropSandbox, ipJson, linkNames, newSandbox } from './helpers.js';

type Link = { ifname: string; group: string | number; flags: string[] };
const h = nl.hostNetlink();

async function vethInto(ns: string, host: string, peer: string): Promise<void> {
  const fd = openNetns(ns);
  try {
    await nl.createLink(h, { name: host, kind: 'veth', veth: { peerName: peer, peerNetnsFd: fd } });
    await nl.setLinkUp(h, host, true);
    const inner = netlinkIn(fd);
    await nl.setLinkUp(inner, peer, true).finally(() => inner.close());
  } finally {
    closeNetns(fd);
  }
}

const dying = (links: Link[]) => links.filter((l) => l.ifname.startsWith('tsdead'));

test.after.each(() => deferLinkDeletes(false));

test('removeVeth deferred: names free at once, both ends down in the DYING group, gone after settle', async () => {
  const ns = await newSandbox('reap-veth');
  try {
    deferLinkDeletes(true);
    await vethInto(ns, 'reapv0', 'eth0');
    await removeVeth('reapv0', ns);
    const host = dying(await ipJson<Link[]>(undefined, ['-d', 'link', 'show']));
    const inner = dying(await ipJson<Link[]>(ns, ['-d', 'link', 'show']));
    assert.ok(!host.concat(await ipJson<Link[]>(undefined, ['link', 'show'])).some((l) => l.ifname === 'reapv0'), 'host name freed');
    assert.ok(!(await ipJson<Link[]>(ns, ['link', 'show'])).some((l) => l.ifname === 'eth0'), 'sandbox name freed');
    // Either retired and waiting for the worker, or already deleted: never up, never under the old name.
    for (const l of [...host, ...inner]) {
      assert.ok(!l.flags.includes('UP'), `${l.ifname} is down`);
      assert.is(Number(l.group), DYING_GROUP);
    }
    // The same names can be used again right away (a container attached again).
    await vethInto(ns, 'reapv0', 'eth0');
    await settleRetired();
    assert.equal(dying(await ipJson<Link[]>(undefined, ['link', 'show'])), []);
    assert.equal(dying(await ipJson<Link[]>(ns, ['link', 'show'])), []);
    assert.ok((await linkNames(ns)).includes('eth0'), 'the new eth0 is untouched by the sweep');
    await nl.deleteLink(h, 'reapv0');
  } finally {
    dropSandbox(ns);
  }
});

test('removeVeth deferred without a peer netns (libnetwork): a peer in the host netns is retired too, one elsewhere goes with the sweep', async () => {
  const ns = await newSandbox('reap-hostend');
  try {
    deferLinkDeletes(true);
    await nl.createLink(h, { name: 'reaph0', kind: 'veth', veth: { peerName: 'reaph1' } });
    await removeVeth('reaph0');
    const names = (await ipJson<Link[]>(undefined, ['link', 'show'])).map((l) => l.ifname);
    assert.not.ok(names.includes('reaph0') || names.includes('reaph1'), `both names free at once: ${names.join(' ')}`);
    await vethInto(ns, 'reaph2', 'eth0');
    await removeVeth('reaph2');
    assert.not.ok((await ipJson<Link[]>(undefined, ['link', 'show'])).some((l) => l.ifname === 'reaph2'));
    await settleRetired();
    assert.equal(dying(await ipJson<Link[]>(undefined, ['link', 'show'])), []);
    assert.equal(await linkNames(ns), ['lo'], 'the peer in the sandbox went with its host end');
  } finally {
    dropSandbox(ns);
  }
});

test('removeVeth without deferral deletes before resolving; gone links are no error', async () => {
  const ns = await newSandbox('reap-direct');
  try {
    await vethInto(ns, 'reapv1', 'eth0');
    await removeVeth('reapv1', ns);
    assert.not.ok((await linkNames()).includes('reapv1'));
    assert.equal(dying(await ipJson<Link[]>(undefined, ['link', 'show'])), []);
    await removeVeth('reapv1', ns);
    deferLinkDeletes(true);
    await removeVeth('reapv1', ns);
  } finally {
    dropSandbox(ns);
  }
});

test('removeLinkIn deferred (a link inside the sandbox): marked, deleted by the worker; a vanished netns is no error', async () => {
  const ns = await newSandbox('reap-in');
  try {
    deferLinkDeletes(true);
    const fd = openNetns(ns);
    await nl.createLink(h, { name: 'mv0', kind: 'bridge', netnsFd: fd, mac: '02:00:00:00:0a:01' });
    closeNetns(fd);
    await removeLinkIn(ns, 'mv0', '02:00:00:00:0a:01');
    // Only marked (a macvlan's down costs an RCU grace period): the worker deletes it.
    const marked = (await ipJson<Link[]>(ns, ['-d', 'link', 'show'])).filter((l) => l.ifname === 'mv0');
    assert.ok(marked.every((l) => Number(l.group) === DYING_GROUP));
    await settleRetired(ns);
    assert.not.ok((await ipJson<Link[]>(ns, ['link', 'show'])).some((l) => l.ifname === 'mv0'));
  } finally {
    dropSandbox(ns);
  }
  await removeLinkIn(ns, 'mv0', '02:00:00:00:0a:01');
});

test('sweepRetired deletes retired links left behind (a daemon killed before its worker ran)', async () => {
  await nl.createLink(h, { name: 'reapleft', kind: 'bridge' });
  const link = await nl.getLink(h, 'reapleft');
  assert.ok(await nl.retireLink(h, link?.index ?? 0, 'tsdeadtest', DYING_GROUP));
  const names = async () => (await ipJson<Link[]>(undefined, ['link', 'show'])).map((l) => l.ifname);
  assert.ok((await names()).includes('tsdeadtest'));
  await sweepRetired();
  assert.not.ok((await names()).includes('tsdeadtest'));
  await sweepRetired();
});

test.run();
