/**
 * Renders GET /v1/topology for people (a tree) and for Graphviz (dot). Pure: a Topology in,
 * a string out, deterministic (input order is kept).
 */
import { formatPort, shortId } from './format.js';
import type { Topology, TopologyContainer, TopologyEndpoint, TopologyNetwork } from './types.js';

// ---------------------------------------------------------------------------------------
// Tree

interface TreeNode {
  text: string;
  children: TreeNode[];
}

function node(text: string, children: TreeNode[] = []): TreeNode {
  return { text, children };
}

/** Draws children under a root line with box-drawing branches (like `tree`). */
function drawChildren(children: readonly TreeNode[], prefix: string, lines: string[]): void {
  children.forEach((child, i) => {
    const last = i === children.length - 1;
    lines.push(`${prefix}${last ? '└── ' : '├── '}${child.text}`);
    drawChildren(child.children, prefix + (last ? '    ' : '│   '), lines);
  });
}

function containerIndex(topo: Topology): Map<string, TopologyContainer> {
  const byId = new Map<string, TopologyContainer>();
  for (const c of topo.Containers ?? []) byId.set(c.Id, c);
  return byId;
}

function endpointLabel(ep: TopologyEndpoint, byId: Map<string, TopologyContainer>): string {
  const ctr = ep.ContainerId ? byId.get(ep.ContainerId) : undefined;
  const name = ep.Container ?? ctr?.Name ?? '?';
  const parts = [ep.ContainerId ? `${name} ${shortId(ep.ContainerId)}` : name];
  const iface = ep.Interface ?? '';
  if (iface || ep.HostInterface) parts.push(ep.HostInterface ? `${iface || '?'} <-> ${ep.HostInterface}` : iface);
  for (const addr of [ep.IPv4Address, ep.IPv6Address, ep.MacAddress]) if (addr) parts.push(addr);
  if (ctr?.State && ctr.State !== 'running') parts.push(`(${ctr.State})`);
  return parts.join('  ');
}

function networkTree(net: TopologyNetwork, byId: Map<string, TopologyContainer>): TreeNode {
  const subnets = (net.Subnets ?? []).join(', ');
  const head = `${net.Name} (${net.Driver ?? '?'})${subnets ? `  ${subnets}` : ''}`;
  const endpoints = (net.Endpoints ?? []).map((ep) =>
    node(endpointLabel(ep, byId), (ep.Ports ?? []).map((p) => node(formatPort(p)))),
  );
  if (net.Bridge) return node(head, [node(`${net.Bridge} (bridge)`, endpoints)]);
  return node(head, endpoints);
}

/** Containers reached by no endpoint: host / none / container: modes, or not attached. */
function otherContainers(topo: Topology): TopologyContainer[] {
  const attached = new Set<string>();
  for (const net of topo.Networks ?? []) {
    for (const ep of net.Endpoints ?? []) if (ep.ContainerId) attached.add(ep.ContainerId);
  }
  return (topo.Containers ?? []).filter((c) => !attached.has(c.Id));
}

/**
 * The terminal view: each network, its bridge, its endpoints (container, interface and
 * host veth, addresses, MAC) and their published ports; then the containers that have no
 * endpoint of their own (host, none, container: modes).
 */
export function renderTopologyTree(topo: Topology): string {
  const byId = containerIndex(topo);
  const lines: string[] = [];
  const networks = topo.Networks ?? [];
  if (networks.length === 0) lines.push('(no networks)');
  for (const net of networks) {
    const tree = networkTree(net, byId);
    lines.push(tree.text);
    drawChildren(tree.children, '', lines);
  }
  const others = otherContainers(topo);
  if (others.length > 0) {
    lines.push('', 'containers without an endpoint');
    const rows = others.map((c) =>
      node([`${c.Name ?? '?'} ${shortId(c.Id)}`, `network: ${c.NetworkMode ?? '?'}`, c.State ? `(${c.State})` : ''].filter(Boolean).join('  ')),
    );
    drawChildren(rows, '', lines);
  }
  return lines.join('\n') + '\n';
}

// ---------------------------------------------------------------------------------------
// Graphviz dot

/** A dot double-quoted string: backslashes and quotes escaped, lines joined with `\n`. */
export function dotString(...lines: string[]): string {
  return `"${lines.map((l) => l.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/[\r\n]+/g, ' ')).join('\\n')}"`;
}

class DotWriter {
  private readonly out: string[] = [];
  private readonly seen = new Set<string>();

  nodeOnce(id: string, attrs: Record<string, string>, indent = '  '): void {
    if (this.seen.has(id)) return;
    this.seen.add(id);
    this.out.push(`${indent}${dotString(id)} [${attrList(attrs)}];`);
  }

  edge(from: string, to: string, attrs: Record<string, string> = {}): void {
    const a = attrList(attrs);
    this.out.push(`  ${dotString(from)} -> ${dotString(to)}${a ? ` [${a}]` : ''};`);
  }

  line(text: string): void {
    this.out.push(text);
  }

  text(): string {
    return this.out.join('\n') + '\n';
  }
}

/** attrs whose value starts with "\"" are taken as already-quoted dot strings. */
function attrList(attrs: Record<string, string>): string {
  return Object.entries(attrs)
    .map(([k, v]) => `${k}=${v.startsWith('"') ? v : dotString(v)}`)
    .join(', ');
}

function ctrNodeId(id: string): string {
  return `ctr:${id}`;
}

function resolveContainer(ref: string, containers: readonly TopologyContainer[]): TopologyContainer | undefined {
  return (
    containers.find((c) => c.Id === ref || c.Name === ref) ??
    containers.find((c) => ref.length >= 3 && c.Id.startsWith(ref))
  );
}

function addContainerNode(w: DotWriter, c: TopologyContainer): void {
  const lines = [c.Name ?? '?', shortId(c.Id)];
  if (c.State) lines.push(c.State);
  if (c.SandboxKey) lines.push(c.SandboxKey);
  w.nodeOnce(ctrNodeId(c.Id), { shape: 'box3d', label: dotString(...lines) });
}

function addNetwork(w: DotWriter, net: TopologyNetwork, index: number, topo: Topology): void {
  const netId = `net:${net.Id ?? net.Name}`;
  w.line(`  subgraph ${dotString(`cluster_${index}`)} {`);
  w.line(`    label=${dotString(`network ${net.Name}`)}; style="dashed";`);
  w.nodeOnce(netId, { shape: 'folder', label: dotString(net.Name, `driver ${net.Driver ?? '?'}`, ...(net.Subnets ?? [])) }, '    ');
  const brId = net.Bridge ? `br:${net.Bridge}` : undefined;
  if (brId && net.Bridge) w.nodeOnce(brId, { shape: 'box', style: 'rounded', label: dotString(net.Bridge, 'bridge') }, '    ');
  for (const ep of net.Endpoints ?? []) {
    if (ep.HostInterface) w.nodeOnce(`veth:${ep.HostInterface}`, { shape: 'ellipse', label: dotString(ep.HostInterface) }, '    ');
  }
  w.line('  }');
  if (brId) w.edge(netId, brId);
  for (const ep of net.Endpoints ?? []) addEndpoint(w, ep, brId ?? netId, topo);
}

function addEndpoint(w: DotWriter, ep: TopologyEndpoint, parent: string, topo: Topology): void {
  const known = ep.ContainerId ? resolveContainer(ep.ContainerId, topo.Containers ?? []) : undefined;
  const ctr: TopologyContainer = known ?? { Id: ep.ContainerId ?? ep.Container ?? '?', Name: ep.Container };
  addContainerNode(w, ctr);
  const ifLabel = dotString(...[ep.Interface, ep.IPv4Address, ep.IPv6Address, ep.MacAddress].filter((x): x is string => !!x));
  if (ep.HostInterface) {
    const veth = `veth:${ep.HostInterface}`;
    w.edge(parent, veth);
    w.edge(veth, ctrNodeId(ctr.Id), { label: ifLabel });
  } else {
    w.edge(parent, ctrNodeId(ctr.Id), { label: ifLabel });
  }
  for (const p of ep.Ports ?? []) {
    const text = formatPort(p);
    const portId = `port:${ctr.Id}:${text}`;
    w.nodeOnce(portId, { shape: 'cds', label: dotString(text) });
    w.edge(portId, ctrNodeId(ctr.Id), { style: 'dashed', label: 'DNAT' });
  }
}

function addModeEdges(w: DotWriter, topo: Topology): void {
  const containers = topo.Containers ?? [];
  for (const c of containers) {
    const mode = c.NetworkMode ?? '';
    if (mode === 'host') {
      const hostNet = (topo.Networks ?? []).find((n) => n.Driver === 'host');
      const target = hostNet ? `net:${hostNet.Id ?? hostNet.Name}` : 'host-netns';
      if (!hostNet) w.nodeOnce(target, { shape: 'house', label: dotString('host netns') });
      w.edge(ctrNodeId(c.Id), target, { style: 'dashed', label: 'shares host netns' });
    } else if (mode.startsWith('container:')) {
      const ref = mode.slice('container:'.length);
      const target = resolveContainer(ref, containers) ?? { Id: ref, Name: ref };
      addContainerNode(w, target);
      w.edge(ctrNodeId(c.Id), ctrNodeId(target.Id), { style: 'dashed', label: 'shares netns' });
    }
  }
}

/**
 * A Graphviz digraph: per network a cluster with the network and bridge and host veths;
 * containers (sandboxes) as box3d nodes; edges network -> bridge -> veth -> container
 * (labelled with interface, addresses, MAC); published ports as nodes DNAT'd to their
 * container; host mode as a dashed edge to the host network (or a "host netns" node),
 * container: mode as a dashed edge to the container whose netns it shares.
 */
export function renderTopologyDot(topo: Topology): string {
  const w = new DotWriter();
  w.line('digraph tsnet {');
  w.line('  graph [rankdir="LR", fontname="Helvetica", fontsize="10"];');
  w.line('  node [fontname="Helvetica", fontsize="10"];');
  w.line('  edge [fontname="Helvetica", fontsize="9"];');
  (topo.Networks ?? []).forEach((net, i) => addNetwork(w, net, i, topo));
  for (const c of topo.Containers ?? []) addContainerNode(w, c);
  addModeEdges(w, topo);
  w.line('}');
  return w.text();
}
