import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { dotString, renderTopologyDot, renderTopologyTree } from './topology.js';
import type { Topology } from './types.js';

const WEB = 'aaaaaaaaaaaa1111111111111111111111111111111111111111111111111111';
const DB = 'bbbbbbbbbbbb2222222222222222222222222222222222222222222222222222';
const H1 = 'cccccccccccc3333333333333333333333333333333333333333333333333333';
const SIDE = 'dddddddddddd4444444444444444444444444444444444444444444444444444';

const TOPOLOGY: Topology = {
  Networks: [
    {
      Name: 'bridge', Id: 'n1', Driver: 'bridge', Bridge: 'tsnet0', Subnets: ['10.213.0.0/24'],
      Endpoints: [
        {
          Container: 'web', ContainerId: WEB, Interface: 'eth0', HostInterface: 'veth1a2b3c4',
          IPv4Address: '10.213.0.2/24', MacAddress: '02:42:0a:d5:00:02',
          Ports: [{ Proto: 'tcp', HostIp: '0.0.0.0', HostPort: 8080, ContainerPort: 80 }, { Proto: 'udp', HostIp: '127.0.0.1', HostPort: 5353, ContainerPort: 53 }],
        },
        { Container: 'db', ContainerId: DB, Interface: 'eth0', HostInterface: 'veth5d6e7f8', IPv4Address: '10.213.0.3/24', MacAddress: '02:42:0a:d5:00:03', Ports: [] },
      ],
    },
    {
      Name: 'lan', Id: 'n2', Driver: 'macvlan', Subnets: ['192.168.77.0/24'],
      Endpoints: [{ Container: 'web', ContainerId: WEB, Interface: 'eth1', IPv4Address: '192.168.77.5/24', MacAddress: '02:42:c0:a8:4d:05' }],
    },
    { Name: 'host', Id: 'n3', Driver: 'host', Subnets: [], Endpoints: [] },
  ],
  Containers: [
    { Name: 'web', Id: WEB, State: 'running', SandboxKey: '/run/tsnet/netns/aaaaaaaaaaaa', NetworkMode: 'bridge' },
    { Name: 'db', Id: DB, State: 'exited', SandboxKey: '/run/tsnet/netns/bbbbbbbbbbbb', NetworkMode: 'bridge' },
    { Name: 'h1', Id: H1, State: 'running', SandboxKey: '', NetworkMode: 'host' },
    { Name: 'side', Id: SIDE, State: 'running', SandboxKey: '/run/tsnet/netns/aaaaaaaaaaaa', NetworkMode: 'container:web' },
  ],
};

test('tree: networks, bridge, endpoints with veths, ports, then containers without endpoints', () => {
  assert.fixture(
    renderTopologyTree(TOPOLOGY),
    [
      'bridge (bridge)  10.213.0.0/24',
      '└── tsnet0 (bridge)',
      '    ├── web aaaaaaaaaaaa  eth0 <-> veth1a2b3c4  10.213.0.2/24  02:42:0a:d5:00:02',
      '    │   ├── 0.0.0.0:8080->80/tcp',
      '    │   └── 127.0.0.1:5353->53/udp',
      '    └── db bbbbbbbbbbbb  eth0 <-> veth5d6e7f8  10.213.0.3/24  02:42:0a:d5:00:03  (exited)',
      'lan (macvlan)  192.168.77.0/24',
      '└── web aaaaaaaaaaaa  eth1  192.168.77.5/24  02:42:c0:a8:4d:05',
      'host (host)',
      '',
      'containers without an endpoint',
      '├── h1 cccccccccccc  network: host  (running)',
      '└── side dddddddddddd  network: container:web  (running)',
      '',
    ].join('\n'),
  );
});

test('tree of an empty topology', () => {
  assert.is(renderTopologyTree({}), '(no networks)\n');
});

test('dot: nodes for networks, bridges, veths, containers, ports; edges between them', () => {
  const dot = renderTopologyDot(TOPOLOGY);
  assert.ok(dot.startsWith('digraph tsnet {\n'));
  assert.ok(dot.endsWith('}\n'));
  const want = [
    '  subgraph "cluster_0" {',
    '    "net:n1" [shape="folder", label="bridge\\ndriver bridge\\n10.213.0.0/24"];',
    '    "br:tsnet0" [shape="box", style="rounded", label="tsnet0\\nbridge"];',
    '    "veth:veth1a2b3c4" [shape="ellipse", label="veth1a2b3c4"];',
    '  "net:n1" -> "br:tsnet0";',
    '  "br:tsnet0" -> "veth:veth1a2b3c4";',
    `  "ctr:${WEB}" [shape="box3d", label="web\\naaaaaaaaaaaa\\nrunning\\n/run/tsnet/netns/aaaaaaaaaaaa"];`,
    `  "veth:veth1a2b3c4" -> "ctr:${WEB}" [label="eth0\\n10.213.0.2/24\\n02:42:0a:d5:00:02"];`,
    `  "port:${WEB}:0.0.0.0:8080->80/tcp" [shape="cds", label="0.0.0.0:8080->80/tcp"];`,
    `  "port:${WEB}:0.0.0.0:8080->80/tcp" -> "ctr:${WEB}" [style="dashed", label="DNAT"];`,
    `  "net:n2" -> "ctr:${WEB}" [label="eth1\\n192.168.77.5/24\\n02:42:c0:a8:4d:05"];`,
    `  "ctr:${H1}" -> "net:n3" [style="dashed", label="shares host netns"];`,
    `  "ctr:${SIDE}" -> "ctr:${WEB}" [style="dashed", label="shares netns"];`,
  ];
  for (const line of want) assert.ok(dot.includes(line + '\n'), `missing: ${line}\n---\n${dot}`);
  // every container once, whether reached by an endpoint or not
  for (const id of [WEB, DB, H1, SIDE]) assert.is(dot.split(`"ctr:${id}" [shape`).length - 1, 1, id);
  // balanced braces
  assert.is(dot.split('{').length, dot.split('}').length);
});

test('dot: a host-mode container without a host network points at a host netns node', () => {
  const dot = renderTopologyDot({ Networks: [], Containers: [{ Id: H1, Name: 'h1', NetworkMode: 'host' }] });
  assert.ok(dot.includes('  "host-netns" [shape="house", label="host netns"];\n'), dot);
  assert.ok(dot.includes(`  "ctr:${H1}" -> "host-netns" [style="dashed", label="shares host netns"];\n`), dot);
});

test('dot strings escape quotes and backslashes and join lines', () => {
  assert.is(dotString('a"b\\c', 'd\ne'), '"a\\"b\\\\c\\nd e"');
});

test.run();
