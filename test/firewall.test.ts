// core/firewall against the real iptables-nft, inside the throwaway host netns made by
// scripts/in-sandbox.mjs. Every test tears down what it made (rules, links, netns).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { connect } from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import { ExecError } from '../core/errors.js';
import { dropSandbox, newSandbox } from './helpers.js';
import { run } from '../core/exec/index.js';
import {
  baseRules,
  Firewall,
  IptablesBackend,
  networkRules,
  portRules,
  renderRestore,
  planChanges,
  FirewallState,
  type Backend,
  type Family,
  type Op,
  type RuleSet,
} from '../core/firewall/index.js';

const NET = { id: 'fwt', bridge: 'fwt-h0', subnets: ['10.123.0.0/24', 'fd12:3::/64'], internal: false, icc: true, masquerade: true, protect: [4, 6] as const };
const PORTS = [
  portRules({ bridge: 'fwt-h0', proto: 'tcp', hostPort: 18080, containerIp: '10.123.0.2', containerPort: 8080, family: 4, networkId: 'fwt' }),
  portRules({ bridge: 'fwt-h0', proto: 'udp', hostIp: '127.0.0.1', hostPort: 15353, containerIp: '10.123.0.2', containerPort: 53, family: 4 }),
];

/** Counts execs of the real backend. */
class CountingBackend implements Backend {
  readonly name = 'counting';
  applies = 0;
  reads = 0;
  constructor(private readonly inner: Backend = new IptablesBackend()) {}
  render(ops: readonly Op[]) { return this.inner.render(ops); }
  async apply(family: Family, ops: readonly Op[]) { this.applies++; return this.inner.apply(family, ops); }
  async read(family: Family) { this.reads++; return this.inner.read(family); }
  committed(ops: readonly Op[], err: ExecError) { return this.inner.committed(ops, err); }
}

/** iptables-save without comments and counters. */
async function save(family: Family): Promise<string> {
  const { stdout } = await run([family === 4 ? 'iptables-save' : 'ip6tables-save']);
  return stdout.split('\n').filter((l) => !l.startsWith('#')).map((l) => l.replace(/\[\d+:\d+\]/, '[0:0]')).join('\n');
}

function tsnetLines(text: string): string[] {
  return text.split('\n').filter((l) => l.includes('TSNET'));
}

/** What iptables-save should show for these sets: their chain declarations and -A lines. */
function expectedLines(sets: RuleSet[]): string[] {
  const ops = planChanges(new FirewallState(), { add: sets }).ops;
  return renderRestore(ops).split('\n').filter((l) => l.includes('TSNET')).map((l) => l.replace(/^-I /, '-A ').replace(/--comment (\S+)/, '--comment "$1"'));
}

const sorted = (a: string[]) => [...a].sort();

const fw = suite('firewall (iptables-nft)');

fw.after.each(async () => {
  await new Firewall().teardown();
});

fw('ensureBase + network + two ports: iptables-save shows exactly them; twice is a no-op', async () => {
  const backend = new CountingBackend();
  const f = new Firewall({ backend });
  const v4 = [baseRules(4), ...networkRules(NET).filter((s) => s.family === 4), ...PORTS];
  const v6 = [baseRules(6), ...networkRules(NET).filter((s) => s.family === 6)];
  await f.ensureBase();
  await f.apply({ add: [...networkRules(NET), ...PORTS] });
  const saved4 = await save(4);
  assert.equal(sorted(tsnetLines(saved4)), sorted(expectedLines(v4)));
  assert.equal(sorted(tsnetLines(await save(6))), sorted(expectedLines(v6)));
  assert.ok(saved4.indexOf('-A FORWARD -j TSNET-FORWARD') >= 0);
  assert.equal((await f.list(4)).rules.length, v4.reduce((n, s) => n + s.rules.length, 0));

  const applies = backend.applies;
  await f.ensureBase();
  await f.apply({ add: [...networkRules(NET), ...PORTS] });
  assert.is(backend.applies, applies, 'no exec for a change already in place');
  assert.is(await save(4), saved4);
  // A second Firewall (cold cache) reads the kernel and also finds nothing to do.
  const other = new CountingBackend();
  await new Firewall({ backend: other }).apply({ add: [...networkRules(NET), ...PORTS] });
  assert.is(other.applies, 0);
  assert.is(other.reads, 2);
});

fw('removal is symmetric; teardown leaves no TSNET line', async () => {
  const f = new Firewall();
  const before = await save(4);
  await f.ensureBase();
  const withBase = await save(4);
  await f.apply({ add: [...networkRules(NET), ...PORTS] });
  await f.apply({ remove: [PORTS[0]!] });
  await f.apply({ remove: [PORTS[0]!] }); // absent: no-op
  await f.apply({ remove: [...PORTS, ...networkRules(NET)] });
  assert.is(await save(4), withBase);
  await f.teardown();
  assert.is(await save(4), before);
  assert.equal(tsnetLines(await save(6)), []);
  await f.teardown(); // nothing left: no-op
});

fw('a failing batch changes nothing and raises ExecError with stderr', async () => {
  const f = new Firewall();
  await f.ensureBase();
  const before4 = await save(4);
  const before6 = await save(6);
  // filter commits before nat in the batch: the good filter rule must be undone.
  const bad: RuleSet = {
    family: 4,
    chains: [{ table: 'filter', name: 'TSNET-EXTRA' }],
    rules: [
      { table: 'filter', chain: 'TSNET-EXTRA', spec: ['-j', 'ACCEPT'] },
      { table: 'filter', chain: 'TSNET-FORWARD', spec: ['-o', 'fwt-x', '-j', 'ACCEPT'] },
      { table: 'nat', chain: 'TSNET-DNAT', spec: ['-p', 'tcp', '-m', 'tcp', '--dport', '1', '-j', 'NO-SUCH-TARGET'] },
    ],
  };
  for (const changes of [{ add: [bad] }, { add: [...networkRules(NET), bad] }]) {
    try {
      await f.apply(changes);
      assert.unreachable('apply should fail');
    } catch (err) {
      assert.instance(err, ExecError);
      assert.match((err as ExecError).stderr, /NO-SUCH-TARGET/);
    }
    assert.is(await save(4), before4);
    assert.is(await save(6), before6);
  }
  // A failing IPv6 batch also undoes the IPv4 one applied just before it.
  const bad6: RuleSet = { family: 6, chains: [], rules: [{ table: 'nat', chain: 'TSNET-DNAT', spec: ['-j', 'NO-SUCH-TARGET'] }] };
  await f.apply({ add: [...networkRules(NET).filter((s) => s.family === 4), bad6] }).then(
    () => assert.unreachable('apply should fail'),
    (err: unknown) => assert.instance(err, ExecError),
  );
  assert.is(await save(4), before4);
  assert.is(await save(6), before6);
});

// ---- end to end: DNAT to a listener inside a netns ----

const NS = 'fwt-ns';

function sysctl(key: string, value?: string): string {
  const file = `/proc/sys/${key.replace(/\./g, '/')}`;
  const old = readFileSync(file, 'utf8').trim();
  if (value !== undefined) writeFileSync(file, value);
  return old;
}

/** One request per attempt; retries (bounded) while the server is starting. */
async function ask(host: string, port: number): Promise<string | undefined> {
  for (let i = 0; i < 50; i++) {
    const answer = await new Promise<string | undefined>((resolve) => {
      const sock = connect({ host, port, timeout: 1000 });
      let data = '';
      sock.on('data', (b) => (data += b.toString()));
      sock.on('end', () => resolve(data));
      sock.on('error', () => resolve(undefined));
      sock.on('timeout', () => { sock.destroy(); resolve(undefined); });
    });
    if (answer) return answer;
    await new Promise((r) => setTimeout(r, 100));
  }
  return undefined;
}

// Serves two connections on 10.123.0.2:8080 then exits; exits anyway after 15 s.
const SERVER = `
const net = require('node:net'); let n = 0;
const s = net.createServer((c) => { c.end('hello from ' + c.localAddress + ' to ' + c.remoteAddress + '\\n'); if (++n === 2) s.close(); });
s.listen(8080, '10.123.0.2');
setTimeout(() => process.exit(3), 15000).unref();`;

fw('end to end: host -> 127.0.0.1:port and -> host address:port reach the netns listener', async () => {
  const saved = { localnet: sysctl('net.ipv4.conf.all.route_localnet'), fwd: sysctl('net.ipv4.ip_forward') };
  // A netns under tsnet's run dir (inside the test's sandbox), not `ip netns add`, whose
  // /run/netns file would be made on the machine's real filesystem.
  const NS_PATH = await newSandbox(NS);
  try {
    await run(['ip', 'link', 'add', 'fwt-h0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', NS_PATH]);
    await run(['ip', 'addr', 'add', '10.123.0.1/24', 'dev', 'fwt-h0']);
    await run(['ip', 'link', 'set', 'fwt-h0', 'up']);
    for (const argv of [['ip', 'link', 'set', 'lo', 'up'], ['ip', 'addr', 'add', '10.123.0.2/24', 'dev', 'eth0'], ['ip', 'link', 'set', 'eth0', 'up'], ['ip', 'route', 'add', 'default', 'via', '10.123.0.1']]) {
      await run(['nsenter', `--net=${NS_PATH}`, ...argv]);
    }
    sysctl('net.ipv4.conf.all.route_localnet', '1');
    sysctl('net.ipv4.conf.fwt-h0.route_localnet', '1');
    sysctl('net.ipv4.ip_forward', '1');
    const f = new Firewall();
    await f.ensureBase();
    await f.apply({ add: [...networkRules({ ...NET, subnets: ['10.123.0.0/24'] }), PORTS[0]!] });

    const server = run(['nsenter', `--net=${NS_PATH}`, process.execPath, '-e', SERVER], { timeoutMs: 20_000 });
    const viaLoopback = await ask('127.0.0.1', 18080);
    const viaHostAddr = await ask('10.123.0.1', 18080);
    await server;
    // The source is masqueraded to the host side of the veth in both cases.
    assert.is(viaLoopback, 'hello from 10.123.0.2 to 10.123.0.1\n');
    assert.is(viaHostAddr, 'hello from 10.123.0.2 to 10.123.0.1\n');
  } finally {
    await run(['ip', 'link', 'del', 'fwt-h0'], { okCodes: [1] });
    dropSandbox(NS_PATH);
    sysctl('net.ipv4.conf.all.route_localnet', saved.localnet);
    sysctl('net.ipv4.ip_forward', saved.fwd);
  }
});

fw.run();
