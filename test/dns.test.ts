/**
 * Embedded DNS (engine/dns) over real sockets, inside the sandbox's throwaway host netns
 * (addresses on its loopback only). A fake upstream (a DnsServer with its own names) sits on
 * 127.0.0.2:5353; the server under test forwards to it. Queries are made with dns-packet over
 * node's dgram/net with bounded waits, and with a real client (busybox nslookup, port 53 only).
 * Every test closes every server and socket it opened.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket from 'dns-packet';
import type { DecodedPacket, RecordType } from 'dns-packet';
import { run } from '../core/exec/index.js';
import { log } from '../core/log.js';
import { ConflictError, KernelError } from '../core/errors.js';
import { DnsServer, NameTable } from '../engine/dns/index.js';

const quiet = log.child({ component: 'dns-test' }, { level: 'silent' });
const UPSTREAM = { address: '127.0.0.2', port: 5353 };
const PORT = 5300;

type Reply = DecodedPacket & { rcode?: string };

function names(): NameTable {
  const t = new NameTable();
  t.add('net1', { id: 'c1', name: 'web', aliases: ['frontend'], ips: ['10.89.0.2', 'fd89::2'] });
  t.add('net1', { id: 'c2', name: 'db', ips: ['10.89.0.3'] });
  t.add('net2', { id: 'c3', name: 'other', ips: ['10.90.0.2'] });
  return t;
}

/** The fake upstream: knows example.test (A only) and answers SERVFAIL for anything else. */
async function startUpstream(): Promise<DnsServer> {
  const up = new DnsServer({
    resolve: (name, type) => (name.toLowerCase().replace(/\.$/, '') === 'example.test' ? (type === 'A' ? ['192.0.2.10'] : []) : undefined),
    upstreams: [],
    log: quiet,
  });
  await up.listen(UPSTREAM.address, UPSTREAM.port);
  return up;
}

async function startServer(extra: Partial<ConstructorParameters<typeof DnsServer>[0]> = {}): Promise<DnsServer> {
  const t = names();
  const s = new DnsServer({
    resolve: t.resolver(['net1']),
    resolvePtr: t.ptrResolver(['net1']),
    upstreams: [`${UPSTREAM.address}:${UPSTREAM.port}`],
    log: quiet,
    ...extra,
  });
  await s.listen('127.0.0.1', PORT);
  return s;
}

let nextId = 1000;
function query(name: string, type: RecordType): { id: number; buf: Buffer } {
  const id = nextId++;
  return { id, buf: dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name }] }) };
}

/** One datagram to host:port; the decoded reply, or undefined after `timeoutMs`. */
function udpRaw(host: string, port: number, buf: Buffer, timeoutMs = 1500): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const sock = dgram.createSocket('udp4');
    let done = false;
    const finish = (b: Buffer | undefined): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.close();
      resolve(b);
    };
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    sock.on('error', () => finish(undefined));
    sock.on('message', (m) => finish(m));
    sock.connect(port, host, () => !done && sock.send(buf));
  });
}

async function udp(host: string, name: string, type: RecordType, port = PORT): Promise<Reply | undefined> {
  const q = query(name, type);
  const raw = await udpRaw(host, port, q.buf);
  if (!raw) return undefined;
  const r = dnsPacket.decode(raw) as Reply;
  assert.is(r.id, q.id, 'reply carries the query id');
  return r;
}

/** Frames sent in order on one TCP connection; resolves with `expect` decoded replies. */
function tcpRaw(host: string, port: number, frames: Buffer[], expect: number, timeoutMs = 3000): Promise<Reply[]> {
  return new Promise((resolve) => {
    const out: Reply[] = [];
    let buffered: Buffer = Buffer.alloc(0);
    const sock = net.connect({ host, port });
    const finish = (): void => {
      clearTimeout(timer);
      sock.destroy();
      resolve(out);
    };
    const timer = setTimeout(finish, timeoutMs);
    sock.on('error', finish);
    sock.on('connect', () => {
      for (const f of frames) {
        const len = Buffer.alloc(2);
        len.writeUInt16BE(f.length);
        sock.write(Buffer.concat([len, f]));
      }
    });
    sock.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 2 && buffered.length >= buffered.readUInt16BE(0) + 2) {
        out.push(dnsPacket.decode(buffered.subarray(2, buffered.readUInt16BE(0) + 2)) as Reply);
        buffered = buffered.subarray(buffered.readUInt16BE(0) + 2);
      }
      if (out.length >= expect) finish();
    });
  });
}

async function tcp(host: string, name: string, type: RecordType, port = PORT): Promise<Reply | undefined> {
  const q = query(name, type);
  const [r] = await tcpRaw(host, port, [q.buf], 1);
  if (r) assert.is(r.id, q.id, 'reply carries the query id');
  return r;
}

function data(r: Reply | undefined): unknown[] {
  return (r?.answers ?? []).map((a) => ('data' in a ? a.data : undefined));
}

test('own names over UDP and TCP on two addresses of one server: A, AAAA, name.network, alias', async () => {
  const up = await startUpstream();
  const s = await startServer();
  try {
    await s.listen('127.0.0.3', PORT);
    await s.listen('127.0.0.3', PORT); // idempotent
    for (const host of ['127.0.0.1', '127.0.0.3']) {
      const a = await udp(host, 'web', 'A');
      assert.is(a?.rcode, 'NOERROR');
      assert.ok(a?.flag_aa);
      assert.equal(data(a), ['10.89.0.2']);
      assert.equal(data(await udp(host, 'WEB.net1.', 'A')), ['10.89.0.2']);
      assert.equal(data(await udp(host, 'frontend', 'A')), ['10.89.0.2']);
      assert.equal(data(await udp(host, 'web', 'AAAA')), ['fd89::2']);
      const noV6 = await udp(host, 'db', 'AAAA');
      assert.is(noV6?.rcode, 'NOERROR');
      assert.is(noV6?.answers?.length, 0);
      assert.equal(data(await tcp(host, 'frontend.net1', 'A')), ['10.89.0.2']);
      assert.equal(data(await tcp(host, 'web', 'AAAA')), ['fd89::2']);
    }
    assert.equal((await s.addresses()).map((a) => a.address).sort(), ['127.0.0.1', '127.0.0.3']);
    assert.ok(await s.unlisten('127.0.0.3'));
    assert.is(await udp('127.0.0.3', 'web', 'A'), undefined, 'no answer once unlistened');
    assert.equal(data(await udp('127.0.0.1', 'web', 'A')), ['10.89.0.2']);
  } finally {
    await s.close();
    await up.close();
  }
});

test('unknown names are forwarded to the upstream (UDP and TCP), its answer relayed', async () => {
  const up = await startUpstream();
  const s = await startServer();
  try {
    const viaUdp = await udp('127.0.0.1', 'example.test', 'A');
    assert.is(viaUdp?.rcode, 'NOERROR');
    assert.equal(data(viaUdp), ['192.0.2.10']);
    assert.equal(data(await tcp('127.0.0.1', 'Example.Test', 'A')), ['192.0.2.10']);
    assert.is((await udp('127.0.0.1', 'other.net2', 'A'))?.rcode, 'SERVFAIL', 'a name on another network is not ours here: forwarded');
    assert.is(s.pendingForwards, 0);
  } finally {
    await s.close();
    await up.close();
  }
});

test('upstream down: SERVFAIL within a bounded time (refused and silent upstreams)', async () => {
  const silent = dgram.createSocket('udp4');
  await new Promise<void>((r) => silent.bind(5356, '127.0.0.6', r)); // swallows queries
  const s = await startServer({ upstreams: ['127.0.0.5:5355', '127.0.0.6:5356'], forwardTimeoutMs: 400 });
  try {
    const t0 = Date.now();
    const r = await udp('127.0.0.1', 'example.test', 'A');
    assert.is(r?.rcode, 'SERVFAIL');
    assert.ok(Date.now() - t0 < 1400, `took ${Date.now() - t0} ms`);
    const t1 = Date.now();
    assert.is((await tcp('127.0.0.1', 'example.test', 'A'))?.rcode, 'SERVFAIL');
    assert.ok(Date.now() - t1 < 1400, `took ${Date.now() - t1} ms`);
  } finally {
    await s.close();
    silent.close();
  }
});

test('an upstream without a route (ENETUNREACH): SERVFAIL, and the server keeps answering', async () => {
  // The sandbox has no route to 10.255.255.53: the forwarder's connect fails at once.
  const s = await startServer({ upstreams: ['10.255.255.53:53'], forwardTimeoutMs: 400 });
  try {
    assert.is((await udp('127.0.0.1', 'example.test', 'A'))?.rcode, 'SERVFAIL');
    assert.is((await udp('127.0.0.1', 'example.test', 'A'))?.rcode, 'SERVFAIL', 'still there after the first');
  } finally {
    await s.close();
  }
});

test('pending forwards are bounded; beyond the bound queries are dropped', async () => {
  const silent = dgram.createSocket('udp4');
  await new Promise<void>((r) => silent.bind(5356, '127.0.0.6', r));
  const s = await startServer({ upstreams: ['127.0.0.6:5356'], forwardTimeoutMs: 600, maxPendingForwards: 2 });
  try {
    const replies = await Promise.all([1, 2, 3, 4, 5].map(() => udp('127.0.0.1', 'example.test', 'A')));
    assert.is(replies.filter((r) => r?.rcode === 'SERVFAIL').length, 2);
    assert.is(replies.filter((r) => r === undefined).length, 3);
    assert.equal(data(await udp('127.0.0.1', 'web', 'A')), ['10.89.0.2'], 'own names still answered');
    assert.is(s.pendingForwards, 0);
  } finally {
    await s.close();
    silent.close();
  }
});

test('PTR for our addresses; others forwarded', async () => {
  const up = await startUpstream();
  const s = await startServer();
  try {
    const r = await udp('127.0.0.1', '2.0.89.10.in-addr.arpa', 'PTR');
    assert.equal(data(r), ['web.net1']);
    assert.equal(data(await tcp('127.0.0.1', '3.0.89.10.in-addr.arpa', 'PTR')), ['db.net1']);
    assert.is((await udp('127.0.0.1', '2.0.90.10.in-addr.arpa', 'PTR'))?.rcode, 'SERVFAIL');
  } finally {
    await s.close();
    await up.close();
  }
});

test('malformed packets are ignored and the server keeps answering', async () => {
  const up = await startUpstream();
  const s = await startServer();
  try {
    assert.is(await udpRaw('127.0.0.1', PORT, Buffer.from('garbage, not dns'), 300), undefined);
    assert.is(await udpRaw('127.0.0.1', PORT, Buffer.alloc(0), 300), undefined);
    const truncated = query('web', 'A').buf.subarray(0, 15);
    assert.is(await udpRaw('127.0.0.1', PORT, truncated, 300), undefined);
    const reply = dnsPacket.encode({ type: 'response', id: 7, questions: [{ type: 'A', name: 'web' }] });
    assert.is(await udpRaw('127.0.0.1', PORT, reply, 300), undefined, 'responses are not answered');
    assert.equal(data(await udp('127.0.0.1', 'web', 'A')), ['10.89.0.2']);
    const good = query('db', 'A');
    const replies = await tcpRaw('127.0.0.1', PORT, [Buffer.from([1, 2, 3]), good.buf], 1);
    assert.equal(replies.map((r) => r.id), [good.id], 'the bad frame is skipped, the next one answered');
    assert.equal(data(replies[0]), ['10.89.0.3']);
  } finally {
    await s.close();
    await up.close();
  }
});

test('listen errors: another port on a served address, an address in use', async () => {
  const s = await startServer();
  const other = new DnsServer({ resolve: () => undefined, upstreams: [], log: quiet });
  try {
    try {
      await s.listen('127.0.0.1', PORT + 1);
      assert.unreachable('a second port on the same address must fail');
    } catch (err) {
      assert.instance(err, ConflictError);
    }
    try {
      await other.listen('127.0.0.1', PORT);
      assert.unreachable('binding a served address must fail');
    } catch (err) {
      assert.instance(err, KernelError);
      assert.is((err as KernelError).errnoCode, 'EADDRINUSE');
    }
    assert.equal(await other.addresses(), []);
    assert.equal(data(await udp('127.0.0.1', 'web', 'A')), ['10.89.0.2']);
  } finally {
    await other.close();
    await s.close();
  }
});

test('a real client: busybox nslookup on port 53', async () => {
  const up = await startUpstream();
  const s = await startServer();
  try {
    await s.listen('127.0.0.4', 53);
    const lookup = (...args: string[]) => run(['busybox', 'nslookup', ...args, '127.0.0.4'], { timeoutMs: 15_000, okCodes: [1] });
    const own = await lookup('web.net1');
    assert.is(own.exitCode, 0, own.stdout);
    assert.match(own.stdout, /Address: 10\.89\.0\.2/);
    assert.match(own.stdout, /Address: fd89::2/);
    const alias = await lookup('frontend');
    assert.match(alias.stdout, /Address: 10\.89\.0\.2/);
    const fwd = await lookup('example.test');
    assert.is(fwd.exitCode, 0, fwd.stdout);
    assert.match(fwd.stdout, /Address: 192\.0\.2\.10/);
    const ptr = await lookup('10.89.0.3');
    assert.match(ptr.stdout, /name = db\.net1/);
    const unknown = await lookup('nowhere.test');
    assert.is(unknown.exitCode, 1);
    assert.match(unknown.stdout, /SERVFAIL/);
  } finally {
    await s.close();
    await up.close();
  }
});

test.run();
