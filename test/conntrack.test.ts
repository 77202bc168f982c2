// Conntrack entries of published UDP ports, in the throwaway host netns: core/netlink's
// deleteConntrack, and the manager deleting the entries of a UDP host port whenever it adds or
// removes its DNAT (as Docker does), so that a UDP flow with a fixed source port is answered
// by the current target: one that began before the publish, and one that went to a former
// container. "outside" is another host linked to the test's host netns by a veth.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Started } from '../core/exec/index.js';
import { closeConntrackSocket, deleteConntrack } from '../core/netlink/index.js';
import { deferFlowDeletes, deleteFlows, flowWalks, settleFlows } from '../core/flow-sweeper/index.js';
import type { EndpointInfo, NetworkManager, PortBinding, PortRequest } from '../drivers/index.js';
import { udpFlowMatches } from '../drivers/manager.js';
import { ask, cleanup, dropSandbox, inNs, linkOutside, newManager, newSandbox, serve, UPLINK_HOST_IP as HOST_IP, UPLINK_OUTSIDE_IP as OUTSIDE_IP } from './helpers.js';

const t = suite('conntrack of published UDP ports');
const DNS: PortRequest = { proto: 'udp', containerPort: 53, hostPort: 18054 };
let mgr: NetworkManager;
let dbFile: string;
const sandboxes: Record<string, string> = {};
const servers: Started[] = [];

const sb = (n: string) => sandboxes[n]!;
const ip4 = (ep: EndpointInfo) => ep.addresses.find((a) => a.family === 4)!.ip;
const attach = (s: string, ports: PortRequest[] = []) =>
  mgr.attach({ network: 'ct', sandbox: s, placement: { kind: 'netns', netnsPath: sb(s), ifname: 'eth0' }, ports });
/** One datagram from "outside", always from `sourcePort`: the same flow (conntrack entry) each time. */
const askFromOutside = (port: number, sourcePort: number) => ask(sb('outside'), 'udp', HOST_IP, port, sourcePort);

t.before(async () => {
  ({ mgr, dbFile } = newManager());
  for (const n of ['a', 'b', 'outside']) sandboxes[n] = await newSandbox(`ct-${n}`);
  await linkOutside(sb('outside'), 'ctup0');
  // The network's rules (conntrack matches, masquerade) make the kernel track this netns's flows.
  await mgr.createNetwork({ name: 'ct', subnets: [{ subnet: '10.213.60.0/24' }] });
  servers.push(await serve(sb('a'), 'udp', 53, 'dns-a'));
  servers.push(await serve(sb('b'), 'udp', 53, 'dns-b'));
});

t.after(async () => {
  deferFlowDeletes(false);
  await settleFlows();
  for (const s of servers) await s.stop();
  await cleanup(mgr, dbFile);
  await inNs(undefined, ['ip', 'link', 'del', 'ctup0'], [1]);
  for (const p of Object.values(sandboxes)) dropSandbox(p);
  closeConntrackSocket();
});

t('udpFlowMatches: UDP only, the container\'s family, the host IP only when it is one address', () => {
  const b = (proto: 'tcp' | 'udp', hostIp: string, hostPort: number, containerIp = '10.0.0.2'): PortBinding =>
    ({ proto, hostIp, hostPort, containerIp, containerPort: 53 });
  assert.equal(udpFlowMatches([b('tcp', '0.0.0.0', 80)]), []);
  assert.equal(udpFlowMatches([
    b('udp', '0.0.0.0', 53), b('udp', '0.0.0.0', 53), b('udp', '::', 54), b('udp', '127.0.0.1', 55),
    b('udp', '::', 56, 'fd00::2'), b('udp', 'fd00::1', 57, 'fd00::2'), b('tcp', '127.0.0.1', 58),
  ]), [
    { family: 4, proto: 'udp', port: 53, local: true }, { family: 4, proto: 'udp', port: 54, local: true }, { family: 4, proto: 'udp', port: 55, dst: '127.0.0.1' },
    { family: 6, proto: 'udp', port: 56, local: true }, { family: 6, proto: 'udp', port: 57, dst: 'fd00::1' },
  ]);
});

t('deleteConntrack deletes the entries of a host port, and only them', async () => {
  // Nothing listens: the host answers with an ICMP error and the entry stays (unreplied, 30 s).
  assert.is(await askFromOutside(18055, 40003), undefined);
  assert.is(await deleteConntrack([]), 0);
  assert.is(await deleteConntrack([{ family: 4, proto: 'tcp', port: 18055 }]), 0, 'tcp: none');
  assert.is(await deleteConntrack([{ family: 4, proto: 'udp', port: 18055, dst: '203.0.113.9' }]), 0, 'another address: none');
  assert.is(await deleteConntrack([{ family: 6, proto: 'udp', port: 18055 }]), 0, 'IPv6: none');
  assert.is(await deleteConntrack([{ family: 4, proto: 'udp', port: 18056 }, { family: 4, proto: 'udp', port: 18055, dst: HOST_IP }]), 1);
  assert.is(await deleteConntrack([{ family: 4, proto: 'udp', port: 18055 }]), 0, 'gone');
  try {
    await deleteConntrack([{ family: 4, proto: 'udp', port: 0 }]);
    assert.unreachable('port 0 accepted');
  } catch (err) {
    assert.match((err as Error).message, /invalid port 0/);
  }
});

/** Detaches whatever a test attached, pass or fail, so the next one starts clean. */
t.after.each(async () => {
  for (const ep of mgr.listEndpoints()) await mgr.detach(ep.id);
});

t('a UDP flow that began before the port was published is answered once it is', async () => {
  assert.is(await askFromOutside(18054, 40001), undefined, 'nothing published yet');
  await attach('a', [DNS]);
  assert.is(await askFromOutside(18054, 40001), 'dns-a', 'the same flow, after the publish');
});

t('a UDP flow that went to a former container goes to the one the port is published to now', async () => {
  const a = await attach('a', [DNS]);
  assert.is(await askFromOutside(18054, 40002), 'dns-a');
  await mgr.detach(a.id);
  const b = await attach('b');
  assert.is.not(ip4(b), ip4(a), 'a new address: the old entry would not reach b');
  await mgr.publish(b.id, [DNS]);
  assert.is(await askFromOutside(18054, 40002), 'dns-b', 'the same flow, after the re-publish');
});

t('tsnetd: the worker deletes the flows after the publish returns, and the flow is answered then', async () => {
  deferFlowDeletes(true);
  try {
    assert.is(await askFromOutside(18054, 40004), undefined, 'nothing published yet');
    const walks = flowWalks();
    await attach('a', [DNS]);
    // The worker's answer is a message: none can have arrived between the attach's last step and here.
    assert.is(flowWalks(), walks, 'attach resolved before the walk');
    await settleFlows();
    assert.ok(flowWalks() > walks, 'the worker walked');
    assert.is(await askFromOutside(18054, 40004), 'dns-a', 'the same flow, once the worker ran');
  } finally {
    deferFlowDeletes(false);
  }
});

t('tsnetd: requests that arrive together share one walk; a bad match fails before any', async () => {
  assert.is(await askFromOutside(18058, 40005), undefined);
  assert.is(await askFromOutside(18059, 40005), undefined);
  deferFlowDeletes(true);
  try {
    await settleFlows();
    const walks = flowWalks();
    const asked = [18058, 18059, 18058, 18060].map((port) => deleteFlows([{ family: 4, proto: 'udp', port }]));
    const deleted = await Promise.all(asked);
    assert.ok(flowWalks() - walks <= 2, `${flowWalks() - walks} walks for 4 requests`);
    assert.is(flowWalks() - walks >= 1, true);
    // Each request hears what its walk deleted: both entries, once (the walk shared).
    assert.equal(deleted, deleted.map(() => 2));
    assert.is(await deleteConntrack([{ family: 4, proto: 'udp', port: 18058 }, { family: 4, proto: 'udp', port: 18059 }]), 0, 'gone');
    try {
      await deleteFlows([{ family: 4, proto: 'udp', port: 70000 }]);
      assert.unreachable('port 70000 accepted');
    } catch (err) {
      assert.match((err as Error).message, /invalid port 70000/);
    }
  } finally {
    deferFlowDeletes(false);
  }
});

t('a local match asks the routing code: an AnyIP prefix (ip route add local ... dev lo) is the host\'s too', async () => {
  await inNs(undefined, ['ip', 'route', 'add', 'local', '10.77.0.0/16', 'dev', 'lo']);
  await inNs(sb('outside'), ['ip', 'route', 'add', '10.77.0.0/16', 'via', HOST_IP]);
  try {
    assert.is(await ask(sb('outside'), 'udp', '10.77.0.5', 18063, 40030), undefined, 'nothing listens: the entry stays');
    assert.is(await deleteConntrack([{ family: 4, proto: 'udp', port: 18063, local: true }]), 1);
  } finally {
    await inNs(sb('outside'), ['ip', 'route', 'del', '10.77.0.0/16'], [2]);
    await inNs(undefined, ['ip', 'route', 'del', 'local', '10.77.0.0/16', 'dev', 'lo'], [2]);
  }
});

t('the flows a publish\'s own mapping made are kept (a walk after them would send their replies out without the reverse NAT); older ones go', async () => {
  assert.is(await askFromOutside(18062, 40020), undefined, 'a flow from before the publish');
  const a = await attach('a', [{ proto: 'udp', containerPort: 53, hostPort: 18062 }]);
  assert.is(await askFromOutside(18062, 40021), 'dns-a', 'a flow the mapping made');
  // What tsnetd's worker does some milliseconds after the publish returned, here after the new flow.
  await mgr.forgetUdpFlows(a.ports, { published: true });
  assert.is(await deleteConntrack([{ family: 4, proto: 'udp', port: 18062, dst: HOST_IP }]), 1, 'only the new flow was left');
});

t('a wildcard publish keeps the flows to that port number elsewhere (a container\'s own, forwarded): only flows to the host are the port\'s', async () => {
  const far = await serve(sb('outside'), 'udp', 18061, 'far');
  try {
    await attach('b');
    assert.is(await ask(sb('b'), 'udp', OUTSIDE_IP, 18061, 40010), 'far', 'b\'s own flow out, masqueraded');
    assert.is(await askFromOutside(18061, 40011), undefined, 'and one to the host\'s port, before the publish');
    await attach('a', [{ proto: 'udp', containerPort: 53, hostPort: 18061 }]);
    assert.is(await askFromOutside(18061, 40011), 'dns-a', 'the flow to the host was forgotten: DNATed now');
    assert.is(await deleteConntrack([{ family: 4, proto: 'udp', port: 18061, dst: OUTSIDE_IP }]), 1, 'b\'s flow out was kept');
    assert.is(await deleteConntrack([{ family: 4, proto: 'udp', port: 18061, local: true }]), 1, 'a local match: the DNATed flow to the host');
  } finally {
    await far.stop();
  }
});

async function publishLoopMs(bindings: PortBinding[], loops: number): Promise<number> {
  const start = process.hrtime.bigint();
  for (let i = 0; i < loops; i++) {
    await mgr.publishRules(bindings);
    await mgr.unpublishRules(bindings);
  }
  return Number(process.hrtime.bigint() - start) / 1e6 / loops;
}

t('measure: publish+unpublish of one UDP port against one TCP port (printed, not asserted)', async () => {
  const port = (proto: 'tcp' | 'udp'): PortBinding[] => [{ proto, hostIp: '0.0.0.0', hostPort: 18057, containerIp: '10.213.60.200', containerPort: 53 }];
  await publishLoopMs(port('udp'), 5);
  const tcp = await publishLoopMs(port('tcp'), 100);
  const udp = await publishLoopMs(port('udp'), 100);
  const start = process.hrtime.bigint();
  for (let i = 0; i < 100; i++) await deleteConntrack([{ family: 4, proto: 'udp', port: 18057 }]);
  const flush = Number(process.hrtime.bigint() - start) / 1e6 / 100;
  process.stderr.write(`conntrack: publish+unpublish ${tcp.toFixed(3)} ms tcp, ${udp.toFixed(3)} ms udp (two flushes); one flush ${flush.toFixed(3)} ms\n`);
});

t.run();
