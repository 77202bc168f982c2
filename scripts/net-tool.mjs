#!/usr/bin/env node
// Tiny traffic tool for tests, run inside a netns with nsenter. Every wait is bounded.
//   serve-tcp PORT TEXT      answer every TCP connection with TEXT, then close
//   serve-udp PORT TEXT      answer every UDP datagram with TEXT
//   tcp HOST PORT            print what the server sends (exit 1 after 2 s without answer)
//   udp HOST PORT [SPORT]    send one datagram (from source port SPORT: the same flow each
//                            run), print the answer (exit 1 after 2 s)
import net from 'node:net';
import dgram from 'node:dgram';

const [mode, a, b, c] = process.argv.slice(2);
const fail = (msg) => { process.stderr.write(`${msg}\n`); process.exit(1); };
setTimeout(() => fail('timeout'), mode?.startsWith('serve') ? 120_000 : 2_000).unref?.();

if (mode === 'serve-tcp') {
  const srv = net.createServer((s) => s.end(b ?? 'hello'));
  srv.listen(Number(a), '::', () => process.stdout.write('ready\n'));
  const t = setTimeout(() => process.exit(0), 120_000);
  process.on('SIGTERM', () => { clearTimeout(t); srv.close(); process.exit(0); });
} else if (mode === 'serve-udp') {
  const s = dgram.createSocket({ type: 'udp6' });
  s.on('message', (_m, r) => s.send(b ?? 'hello', r.port, r.address));
  s.bind(Number(a), '::', () => process.stdout.write('ready\n'));
  const t = setTimeout(() => process.exit(0), 120_000);
  process.on('SIGTERM', () => { clearTimeout(t); s.close(); process.exit(0); });
} else if (mode === 'tcp') {
  const s = net.connect({ host: a, port: Number(b) });
  let data = '';
  s.on('data', (d) => (data += d));
  s.on('end', () => { process.stdout.write(data); process.exit(0); });
  s.on('error', (e) => fail(e.message));
} else if (mode === 'udp') {
  const s = dgram.createSocket(net.isIPv6(a ?? '') ? 'udp6' : 'udp4');
  s.on('message', (m) => { process.stdout.write(m.toString()); process.exit(0); });
  s.on('error', (e) => fail(e.message));
  if (c === undefined) s.send('ping', Number(b), a);
  else s.bind(Number(c), () => s.send('ping', Number(b), a));
} else {
  fail(`unknown mode ${mode}`);
}
