import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  ellipsis, formatCommand, formatPort, formatPortMapping, formatPorts, formatStatus, humanDuration, humanSize, parseTime, shortId, timeAgo,
} from './format.js';

const NOW = Date.parse('2024-05-01T12:00:00Z');
const ago = (ms: number): string => new Date(NOW - ms).toISOString();

test('humanDuration follows docker units.HumanDuration', () => {
  const cases: [number, string][] = [
    [500, 'Less than a second'], [1000, '1 second'], [3000, '3 seconds'], [59_999, '59 seconds'],
    [60_000, 'About a minute'], [119_000, 'About a minute'], [120_000, '2 minutes'], [59 * 60_000, '59 minutes'],
    [60 * 60_000, 'About an hour'], [89 * 60_000, 'About an hour'], [91 * 60_000, '2 hours'], [47 * 3_600_000, '47 hours'],
    [3 * 86_400_000, '3 days'], [15 * 86_400_000, '2 weeks'], [90 * 86_400_000, '3 months'], [800 * 86_400_000, '2 years'],
  ];
  for (const [ms, want] of cases) assert.is(humanDuration(ms), want, `${ms} ms`);
});

test('formatStatus: Up / Exited / Created as docker ps prints them', () => {
  assert.is(formatStatus({ State: 'running', StartedAt: ago(3000) }, NOW), 'Up 3 seconds');
  assert.is(formatStatus({ State: 'running', StartedAt: ago(5 * 60_000) }, NOW), 'Up 5 minutes');
  assert.is(formatStatus({ State: 'running' }, NOW), 'Up');
  assert.is(formatStatus({ State: 'paused', StartedAt: ago(1000) }, NOW), 'Up 1 second (Paused)');
  assert.is(formatStatus({ State: 'exited', ExitCode: 137, FinishedAt: ago(2 * 60_000) }, NOW), 'Exited (137) 2 minutes ago');
  assert.is(formatStatus({ State: 'exited', ExitCode: 0, FinishedAt: '0001-01-01T00:00:00Z' }, NOW), 'Exited (0)');
  assert.is(formatStatus({ State: 'created' }, NOW), 'Created');
  assert.is(formatStatus({ State: 'dead' }, NOW), 'Dead');
  assert.is(formatStatus({}, NOW), '');
});

test('parseTime and timeAgo accept ISO strings, seconds and ms', () => {
  assert.is(parseTime('2024-05-01T11:59:00Z'), NOW - 60_000);
  assert.is(parseTime(1714564740), NOW - 60_000);
  assert.is(parseTime(NOW), NOW);
  assert.is(parseTime('garbage'), undefined);
  assert.is(timeAgo(ago(3 * 3_600_000), NOW), '3 hours ago');
  assert.is(timeAgo(undefined, NOW), '');
  assert.is(timeAgo(NOW + 5000, NOW), 'Less than a second ago');
});

test('port strings', () => {
  assert.is(formatPort({ HostIp: '0.0.0.0', HostPort: '8080', ContainerPort: '80/tcp' }), '0.0.0.0:8080->80/tcp');
  assert.is(formatPort({ HostIp: '', HostPort: 8080, ContainerPort: 80, Proto: 'udp' }), '0.0.0.0:8080->80/udp');
  assert.is(formatPort({ HostIp: '::', HostPort: '53', ContainerPort: '53/udp' }), '[::]:53->53/udp');
  assert.is(formatPort({ ContainerPort: '443/tcp' }), '443/tcp');
  assert.is(formatPort({ IP: '127.0.0.1', PublicPort: 9000, PrivatePort: 90, Type: 'tcp' }), '127.0.0.1:9000->90/tcp');
  assert.is(formatPort('1.2.3.4:1->2/tcp'), '1.2.3.4:1->2/tcp');
  assert.is(
    formatPorts([
      { HostIp: '0.0.0.0', HostPort: '8080', ContainerPort: '80/tcp' },
      { HostIp: '127.0.0.1', HostPort: '5353', ContainerPort: '53/udp' },
      { HostIp: '0.0.0.0', HostPort: '8080', ContainerPort: '80/tcp' },
    ]),
    '0.0.0.0:8080->80/tcp, 127.0.0.1:5353->53/udp',
  );
  assert.is(formatPorts(undefined), '');
  assert.is(formatPortMapping({ HostIp: '0.0.0.0', HostPort: '8080', ContainerPort: '80/tcp' }), '80/tcp -> 0.0.0.0:8080');
});

test('ids, command, sizes', () => {
  assert.is(shortId('sha256:0123456789abcdef0123'), '0123456789ab');
  assert.is(shortId('abc'), 'abc');
  assert.is(ellipsis('hello', 5), 'hello');
  assert.is(ellipsis('hello world', 5), 'hell…');
  assert.is(formatCommand(['sh', '-c', 'sleep 1000 && echo done']), '"sh -c sleep 1000 &&…"');
  assert.is(formatCommand('top'), '"top"');
  assert.is(formatCommand(undefined), '""');
  assert.is(humanSize(0), '0B');
  assert.is(humanSize(999), '999B');
  assert.is(humanSize(1234), '1.23kB');
  assert.is(humanSize(4_261_234), '4.26MB');
  assert.is(humanSize(2_000_000_000), '2GB');
  assert.is(humanSize(undefined), '');
});

test.run();
