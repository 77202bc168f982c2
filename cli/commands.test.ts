import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { containerTable, resolveEnv, runRequest } from './container-commands.js';
import { imageTable } from './image-commands.js';
import { filterNetworks, networkTable } from './network-commands.js';
import type { NetworkInspect } from './types.js';

const NOW = Date.parse('2024-05-01T12:00:00Z');
const net = (Name: string, Driver: string, Id: string, Labels: Record<string, string> = {}): NetworkInspect => ({ Name, Driver, Id, Scope: 'local', Labels });
const NETS = [
  net('bridge', 'bridge', '1111111111111111aaaa'),
  net('host', 'host', '2222222222222222bbbb'),
  net('frontend', 'bridge', '3333333333333333cccc', { tier: 'web' }),
  net('lan', 'macvlan', '4444444444444444dddd', { tier: 'db' }),
];

test('network ls table', () => {
  assert.fixture(
    networkTable(NETS.slice(0, 3)),
    'NETWORK ID     NAME       DRIVER    SCOPE\n' +
      '111111111111   bridge     bridge    local\n' +
      '222222222222   host       host      local\n' +
      '333333333333   frontend   bridge    local\n',
  );
});

test('network filters: same key OR, different keys AND', () => {
  const names = (f: [string, string[]][]): string[] => filterNetworks(NETS, new Map(f)).map((n) => n.Name);
  assert.equal(names([['driver', ['bridge']]]), ['bridge', 'frontend']);
  assert.equal(names([['driver', ['bridge', 'macvlan']]]), ['bridge', 'frontend', 'lan']);
  assert.equal(names([['driver', ['bridge']], ['name', ['front']]]), ['frontend']);
  assert.equal(names([['type', ['custom']]]), ['frontend', 'lan']);
  assert.equal(names([['type', ['builtin']]]), ['bridge', 'host']);
  assert.equal(names([['label', ['tier']]]), ['frontend', 'lan']);
  assert.equal(names([['label', ['tier=db']]]), ['lan']);
  assert.equal(names([['id', ['3333']]]), ['frontend']);
  assert.equal(filterNetworks(NETS, undefined).length, 4);
});

test('ps table', () => {
  const out = containerTable(
    [
      {
        Id: 'abcdef0123456789', Name: 'web', Image: 'busybox', Command: ['httpd', '-f', '-p', '80'], State: 'running',
        StartedAt: new Date(NOW - 3000).toISOString(), Created: new Date(NOW - 5000).toISOString(),
        Ports: [{ HostIp: '0.0.0.0', HostPort: '8080', ContainerPort: '80/tcp' }], Networks: ['bridge', 'frontend'],
      },
      { Id: '9876543210fedcba', Name: 'job', Image: 'busybox', Command: 'true', State: 'exited', Status: 'Exited (0) 1 minute ago', Networks: { none: {} } },
    ],
    NOW,
  );
  assert.fixture(
    out,
    'CONTAINER ID   IMAGE     COMMAND            CREATED         STATUS                    PORTS                  NETWORKS          NAMES\n' +
      'abcdef012345   busybox   "httpd -f -p 80"   5 seconds ago   Up 3 seconds              0.0.0.0:8080->80/tcp   bridge,frontend   web\n' +
      '9876543210fe   busybox   "true"                             Exited (0) 1 minute ago                          none              job\n',
  );
});

test('image ls table', () => {
  assert.fixture(
    imageTable([{ Name: 'busybox', Id: 'sha256:0123456789abcdef', Created: (NOW - 2 * 86_400_000) / 1000, Size: 1_234_567 }], NOW),
    'NAME      IMAGE ID       CREATED      SIZE\nbusybox   0123456789ab   2 days ago   1.23MB\n',
  );
});

test('run request: only given fields, -e K from the environment', () => {
  assert.equal(runRequest('busybox', [], { format: 'table' }, {}), { Image: 'busybox' });
  assert.equal(
    runRequest(
      'busybox',
      ['sh', '-c', 'echo hi'],
      {
        format: 'table', rm: true, name: 'a', network: 'frontend', ip: '10.0.0.9', networkAlias: ['x'], publish: ['8080:80', '127.0.0.1::53/udp'],
        publishAll: true, hostname: 'h', env: ['A=1', 'HOME', 'UNSET'],
      },
      { HOME: '/root' },
    ),
    {
      Image: 'busybox', Name: 'a', Cmd: ['sh', '-c', 'echo hi'], Hostname: 'h', Env: ['A=1', 'HOME=/root'], NetworkMode: 'frontend',
      IPv4Address: '10.0.0.9', Aliases: ['x'], Ports: ['8080:80', '127.0.0.1::53/udp'], PublishAll: true, AutoRemove: true,
    },
  );
  assert.equal(resolveEnv(['X'], {}), []);
});

test.run();
