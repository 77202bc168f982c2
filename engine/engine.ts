/**
 * The engine inside tsnetd: containers in sandboxes (one netns each, bind-mounted under
 * TSNET_RUN/netns), their networks through the NetworkManager, their processes through
 * runc (engine/runtime), and names through the embedded DNS on each user network's gateway.
 * Networking is set up at start and torn down when the container exits (as Docker does).
 * Runs in the daemon's netns (the host); sandboxes are the only other netns it touches.
 */
import { randomBytes } from 'node:crypto';
import { hostname as osHostname } from 'node:os';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError, ConflictError, NotFoundError, SerialQueues, TsnetError, log, paths, type Paths } from '../core/index.js';
import { settleRetired } from '../core/link-reaper/index.js';
import { settleFlows } from '../core/flow-sweeper/index.js';
import * as nl from '../core/netlink/index.js';
import { createNetns, deleteNetns, isNetns, withNetlinkAt } from '../core/netns/index.js';
import { NetworkManager, OWNER_DOCKER, OWNER_LABEL, bridgeName, parsePortSpec, type BridgeOptions, type EndpointInfo, type Network, type NetworkInfo } from '../drivers/index.js';
import { openStore, type ContainerRow } from '../store/index.js';
import { DnsServer, NameTable, readResolvConf, upstreamsFor } from './dns/index.js';
import { ContainerRuntime, ImageStore } from './runtime/index.js';
import { hostsFile, resolvConfFile } from './files.js';
import { containerInspect, containerSummary, networkInspect } from './inspect.js';
import type { ContainerConfig, ContainerNetwork, CreateContainerBody, CreateNetworkBody } from './types.js';

const BUILTIN_NETWORKS = new Set(['bridge', 'host', 'none']);
const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

export class Engine {
  readonly mgr: NetworkManager;
  readonly runtime: ContainerRuntime;
  readonly images: ImageStore;
  readonly names = new NameTable();
  readonly dns: DnsServer;
  private readonly exitWaiters = new Map<string, ((code: number) => void)[]>();
  /** Exit codes and output of auto-removed containers, so a late `wait` or `logs` still gets them. */
  private readonly recentExits = new Map<string, { code: number; output: string }>();
  private readonly logReaders = new Map<string, Set<Promise<void>>>();
  private readonly adopted = new Map<string, NodeJS.Timeout>();
  /** Containers between runtime.start and being recorded as running, and exits seen then. */
  private readonly starting = new Set<string>();
  private readonly earlyExits = new Map<string, number>();
  /**
   * Network changes (connect, disconnect) one at a time per container: each reads the
   * container's config, attaches or detaches, then writes the config back.
   */
  private readonly networkChanges = new SerialQueues();

  private constructor(readonly paths: Paths) {
    // A long-running process: WAL checkpoints when requests pause, not inside one's commit.
    this.mgr = new NetworkManager({ store: openStore(paths.dbFile, { idleCheckpoint: true }) });
    this.images = new ImageStore(paths.root);
    this.runtime = new ContainerRuntime({ root: paths.root, run: paths.run, images: this.images, onExit: (id, code) => void this.exited(id, code) });
    this.dns = new DnsServer({ resolve: () => undefined, upstreams: upstreamsFor(readResolvConf()) });
  }

  /** Opens the store, creates the default networks and image, reconciles, serves DNS. */
  static async open(p: Paths = paths()): Promise<Engine> {
    const e = new Engine(p);
    await e.mgr.ensureDefaultNetworks();
    await e.images.ensureBusyboxImage();
    const report = await e.mgr.reconcile();
    log.info(report, 'network state reconciled');
    await e.reconcileContainers();
    for (const n of e.mgr.listNetworks()) await e.serveDns(n);
    return e;
  }

  /** Stops serving; leaves containers and their networking as they are. */
  async close(): Promise<void> {
    for (const t of this.adopted.values()) clearInterval(t);
    await this.dns.close();
    await settleRetired(); // links retired by detach are deleted before the process goes
    await settleFlows(); // and the conntrack entries of UDP ports changed last
    this.mgr.close();
  }

  // ------------------------------------------------------------------ networks

  async createNetwork(b: CreateNetworkBody): Promise<Record<string, unknown>> {
    if (BUILTIN_NETWORKS.has(b.Name)) throw new ConflictError(`network "${b.Name}" is a built-in network`, 'Name');
    if ((b.Driver === 'host' || b.Driver === 'none') && this.mgr.listNetworks().some((n) => n.driver === b.Driver)) {
      throw new ConflictError(`only one ${b.Driver} network may exist`, 'Driver');
    }
    const net = await this.mgr.createNetwork({
      name: b.Name, ...(b.Driver ? { driver: b.Driver } : {}), internal: b.Internal ?? false, ...(b.IPv6 !== undefined ? { ipv6: b.IPv6 } : {}), ...(b.IPv4 === false ? { ipv4: false } : {}),
      options: b.Options ?? {}, labels: b.Labels ?? {},
      ...(b.Subnets ? { subnets: b.Subnets.map((s) => ({ subnet: s.Subnet, ...(s.IPRange ? { ipRange: s.IPRange } : {}), ...(s.Gateway ? { gateway: s.Gateway } : {}), ...(s.AuxAddresses ? { auxAddresses: s.AuxAddresses } : {}) })) } : {}),
    });
    await this.serveDns(net);
    return this.inspectNetwork(net.id);
  }

  inspectNetwork(ref: string, names = this.containerNames()): Record<string, unknown> {
    const net = this.mgr.getNetwork(ref);
    return networkInspect(net, this.mgr.listEndpoints(net.id), names);
  }

  listNetworks(driver?: string): Record<string, unknown>[] {
    const names = this.containerNames();
    return this.mgr.listNetworks().filter((n) => !driver || n.driver === driver).map((n) => this.inspectNetwork(n.id, names));
  }

  async removeNetwork(ref: string): Promise<void> {
    const net = this.mgr.getNetwork(ref);
    if (BUILTIN_NETWORKS.has(net.name)) throw new ConflictError(`network "${net.name}" is a built-in network and cannot be removed`);
    if (dockerOwned(net)) throw new ConflictError(`network "${net.name}" belongs to Docker: remove it with docker network rm`);
    const names = this.containerNames();
    const users = this.mgr.listEndpoints(net.id).map((e) => names.get(e.sandbox) ?? e.sandbox);
    if (users.length > 0) throw new ConflictError(`network "${net.name}" has active endpoints: ${users.join(', ')}`);
    await this.stopDns(net);
    await this.mgr.removeNetwork(net.id);
  }

  /** Removes user networks that no container (running or not) refers to. */
  async pruneNetworks(): Promise<string[]> {
    const used = new Set(this.mgr.store.containers.list().flatMap((c) => (c.config as unknown as ContainerConfig).networks.map((n) => n.network)));
    const removed: string[] = [];
    for (const n of this.mgr.listNetworks()) {
      if (BUILTIN_NETWORKS.has(n.name) || dockerOwned(n) || used.has(n.id) || this.mgr.listEndpoints(n.id).length > 0) continue;
      await this.removeNetwork(n.id);
      removed.push(n.name);
    }
    return removed;
  }

  async connect(ref: string, ctrRef: string, opts: { ipv4?: string; aliases?: string[] }): Promise<void> {
    const net = this.mgr.getNetwork(ref);
    const id = this.container(ctrRef).id;
    await this.networkChanges.run(id, () => this.connectNow(net, id, opts));
  }

  /** connect, one at a time per container: it reads the config, attaches, then writes it. */
  private async connectNow(net: NetworkInfo, id: string, opts: { ipv4?: string; aliases?: string[] }): Promise<void> {
    const c = this.container(id);
    const cfg = this.config(c);
    if (!usesNetworks(cfg.networkMode)) throw new ConfigError(`container ${c.name} uses network mode ${cfg.networkMode}`, 'Container');
    if (net.driver === 'host' || net.driver === 'none') throw new ConfigError(`cannot connect to the ${net.driver} network`, 'Network');
    if (cfg.networks.some((n) => n.network === net.id)) throw new ConflictError(`container ${c.name} is already connected to network "${net.name}"`);
    // Checked now whether the container runs or not: a stopped one attaches only at start.
    if (opts.ipv4) this.checkIpv4(net.id, opts.ipv4);
    const entry: ContainerNetwork = { network: net.id, aliases: opts.aliases ?? [], ...(opts.ipv4 ? { ipv4: opts.ipv4 } : {}) };
    if (c.state === 'running' && c.sandbox) {
      // The first free ethN: a disconnect may have left a gap below the count.
      const used = new Set(this.endpointsOf(c.id).map((e) => e.ifname));
      let index = 0;
      while (used.has(`eth${index}`)) index++;
      await this.attachOne(c, cfg, entry, `eth${index}`, false);
      await this.writeFiles(c, cfg);
    }
    this.mgr.store.containers.update(c.id, { config: { ...cfg, networks: [...cfg.networks, entry] } as unknown as Record<string, unknown> });
  }

  async disconnect(ref: string, ctrRef: string, force: boolean): Promise<void> {
    const net = this.mgr.getNetwork(ref);
    await this.networkChanges.run(this.mgr.store.containers.get(ctrRef)?.id ?? ctrRef, () => this.disconnectNow(net, ctrRef, force));
  }

  private async disconnectNow(net: NetworkInfo, ctrRef: string, force: boolean): Promise<void> {
    const c = this.mgr.store.containers.get(ctrRef);
    if (!c && !force) throw new NotFoundError(`container "${ctrRef}" not found`);
    const names = this.containerNames();
    const eps = this.mgr.listEndpoints(net.id).filter((e) => e.sandbox === (c?.id ?? ctrRef) || (force && names.get(e.sandbox) === ctrRef));
    if (c) {
      const cfg = this.config(c);
      if (!cfg.networks.some((n) => n.network === net.id) && eps.length === 0) throw new ConflictError(`container ${c.name} is not connected to network "${net.name}"`);
      this.mgr.store.containers.update(c.id, { config: { ...cfg, networks: cfg.networks.filter((n) => n.network !== net.id) } as unknown as Record<string, unknown> });
    }
    for (const ep of eps) {
      this.names.remove(net.name, ep.sandbox);
      await this.mgr.detach(ep.id);
    }
    if (c?.state === 'running') await this.writeFiles(c, this.config(this.container(c.id)));
  }

  // ---------------------------------------------------------------- containers

  async createContainer(b: CreateContainerBody): Promise<{ Id: string; Name: string }> {
    const id = randomBytes(32).toString('hex');
    const name = b.Name ?? generatedName(id);
    if (!NAME_RE.test(name)) throw new ConfigError(`invalid container name "${name}"`, 'Name');
    if (this.mgr.store.containers.get(name)) throw new ConflictError(`container name "${name}" is already in use`, 'Name');
    const cfg = this.containerConfig(b, name, id);
    await this.images.getImage(b.Image);
    const sandbox = this.sandboxPathFor(cfg, id);
    await this.runtime.create({
      id, image: b.Image, args: cfg.cmd, env: cfg.env, hostname: cfg.hostname, netns: sandbox,
      files: { hosts: join(this.runtime.dir(id), 'hosts'), resolvConf: join(this.runtime.dir(id), 'resolv.conf'), hostname: join(this.runtime.dir(id), 'hostname') },
    });
    try {
      this.mgr.store.containers.insert({ id, name, image: b.Image, config: cfg as unknown as Record<string, unknown>, state: 'created' });
    } catch (err) {
      await this.runtime.remove(id, { force: true });
      throw err;
    }
    return { Id: id, Name: name };
  }

  /** Validates a create request into the stored configuration (pure but for lookups). */
  private containerConfig(b: CreateContainerBody, name: string, id: string): ContainerConfig {
    const mode = b.NetworkMode ?? 'bridge';
    const ports = (b.Ports ?? []).map((p) => parsePortSpec(p, 'Ports'));
    const exposed = (b.ExposedPorts ?? []).map((p) => parsePortSpec(p, 'ExposedPorts'));
    for (const e of exposed) if (e.hostPort !== undefined || e.hostIp !== undefined) throw new ConfigError(`ExposedPorts: "${e.containerPort}" takes no host part`, 'ExposedPorts');
    // -P: every exposed port not published by -p goes to an ephemeral host port.
    if (b.PublishAll) ports.push(...exposed.filter((e) => !ports.some((p) => p.proto === e.proto && p.containerPort === e.containerPort)));
    const networks: ContainerNetwork[] = [];
    if (mode.startsWith('container:')) {
      const other = this.mgr.store.containers.get(mode.slice('container:'.length));
      if (!other) throw new NotFoundError(`container "${mode.slice(10)}" not found`);
    } else if (mode !== 'host' && mode !== 'none') {
      const net = this.mgr.getNetwork(mode);
      if (net.driver === 'host' || net.driver === 'none') return this.containerConfig({ ...b, NetworkMode: net.driver }, name, id);
      if (b.IPv4Address) this.checkIpv4(net.id, b.IPv4Address);
      networks.push({ network: net.id, aliases: b.Aliases ?? [], ...(b.IPv4Address ? { ipv4: b.IPv4Address } : {}) });
    }
    if (ports.length > 0 && networks.length === 0) throw new ConfigError(`port publishing needs a bridge network, not network mode ${mode}`, 'Ports');
    const hostname = b.Hostname ?? (mode === 'host' ? osHostname() : id.slice(0, 12));
    if (b.Cmd !== undefined && b.Cmd.length === 0) throw new ConfigError('Cmd is empty', 'Cmd');
    return {
      cmd: b.Cmd ?? ['sh'], env: b.Env ?? [], hostname, networkMode: mode.startsWith('container:') ? `container:${this.container(mode.slice(10)).id}` : mode,
      networks, ports, portSpecs: b.Ports ?? [], exposed: b.ExposedPorts ?? [], publishAll: b.PublishAll ?? false, autoRemove: b.AutoRemove ?? false,
    };
  }

  /** A static IPv4Address for network `networkId`: valid, in its subnet, free now; the error names the field. */
  private checkIpv4(networkId: string, ip: string): void {
    try {
      this.mgr.checkStaticAddress(networkId, ip, 4, 'IPv4Address');
    } catch (err) {
      throw err instanceof TsnetError ? err.addContext('IPv4Address') : err;
    }
  }

  /** The netns a container's processes join: its own, another container's, or 'host'. */
  private sandboxPathFor(cfg: ContainerConfig, id: string): string {
    if (cfg.networkMode === 'host') return 'host';
    if (cfg.networkMode.startsWith('container:')) return join(this.paths.netnsDir, cfg.networkMode.slice(10).slice(0, 12));
    return join(this.paths.netnsDir, id.slice(0, 12));
  }

  async startContainer(ref: string): Promise<void> {
    const c = this.container(ref);
    if (c.state === 'running') return;
    const cfg = this.config(c);
    const sandbox = this.sandboxPathFor(cfg, c.id);
    if (cfg.networkMode.startsWith('container:')) {
      const other = this.container(cfg.networkMode.slice(10));
      if (other.state !== 'running') throw new ConflictError(`container ${other.name} (network mode of ${c.name}) is not running`);
    }
    const ownNetns = ownsNetns(cfg.networkMode);
    // Recorded before anything is made: a daemon killed mid-start leaves a stopped container
    // with a sandbox, which reconcile (finishStart) adopts or undoes before any other start.
    const recorded = sandbox === 'host' ? null : sandbox;
    this.mgr.store.containers.update(c.id, { sandbox: recorded });
    try {
      if (ownNetns) await this.makeSandbox(sandbox);
      const portsAt = this.portsNetwork(c, cfg);
      for (const [i, n] of cfg.networks.entries()) await this.attachOne(c, cfg, n, `eth${i}`, i === portsAt);
      await this.writeFiles(c, cfg);
      this.starting.add(c.id);
      const { pid } = await this.runtime.start(c.id);
      this.mgr.store.containers.update(c.id, { state: 'running', pid, startedAt: new Date().toISOString(), finishedAt: null, exitCode: null });
    } catch (err) {
      await this.teardown(c.id, ownNetns ? sandbox : undefined);
      this.mgr.store.containers.update(c.id, { sandbox: null });
      throw err;
    } finally {
      this.starting.delete(c.id);
    }
    // A short-lived process may have exited before it was recorded as running.
    const early = this.earlyExits.get(c.id);
    if (early !== undefined) {
      this.earlyExits.delete(c.id);
      await this.exited(c.id, early);
    }
  }

  /** A fresh netns for the sandbox with loopback up; removed by teardown. */
  private async makeSandbox(path: string): Promise<void> {
    if (isNetns(path)) deleteNetns(path);
    createNetns(path);
    await withNetlinkAt(path, (h) => nl.setLinkUp(h, 'lo', true));
  }

  /**
   * The index of the network that publishes the container's ports: the first one that is not
   * internal (Docker's gateway endpoint; an internal network has no way in from outside). -1
   * when all are internal: nothing is published, as Docker does, and it is logged.
   */
  private portsNetwork(c: ContainerRow, cfg: ContainerConfig): number {
    const at = cfg.networks.findIndex((n) => !this.mgr.getNetwork(n.network).internal);
    if (at < 0 && cfg.ports.length > 0) log.warn({ container: c.name }, 'ports not published: every network of the container is internal');
    return at;
  }

  private async attachOne(c: ContainerRow, cfg: ContainerConfig, n: ContainerNetwork, ifname: string, withPorts: boolean): Promise<EndpointInfo> {
    const sandbox = this.sandboxPathFor(cfg, c.id);
    const ep = await this.mgr.attach({
      network: n.network, sandbox: c.id, placement: { kind: 'netns', netnsPath: sandbox, ifname },
      ...(n.ipv4 ? { ipv4: n.ipv4 } : {}), ...(withPorts && cfg.ports.length > 0 ? { ports: cfg.ports } : {}),
      ipv6OffWithoutAddress: true, // as Docker: an IPv4-only endpoint's interface has no IPv6
      holdHostPorts: true, // as Docker: held while published; no port a host process has, no host IP not the host's
    }).catch((err: unknown) => {
      throw this.forPeople(err);
    });
    const net = this.mgr.getNetwork(n.network);
    if (dnsServed(net)) this.names.add(net.name, { id: c.id, name: c.name, aliases: [...n.aliases, c.id.slice(0, 12)], ips: ep.addresses.map((a) => a.ip) });
    return ep;
  }

  /**
   * For people: "already published by endpoint <id>" → "... by <container name>"; port 53 in
   * use on the host → said to be likely tsnetd's own embedded DNS (it answers on each user
   * network's gateway, in the host netns, so 0.0.0.0:53 cannot be published; DNAT of it would
   * also take every container's queries to its gateway).
   */
  private forPeople(err: unknown): unknown {
    if (!(err instanceof ConflictError)) return err;
    if (/port 53\/(udp|tcp) on \S+ is in use by a process of the host/.test(err.message)) {
      return new ConflictError(`${err.message} (likely tsnetd's embedded DNS, which answers on port 53 of each network gateway: publish another host port or a host IP that is no gateway)`, err.field);
    }
    const m = /already published by endpoint ([0-9a-f]+)/.exec(err.message);
    const holder = m?.[1] ? this.mgr.store.endpoints.get(m[1])?.sandbox : undefined;
    const name = holder ? this.mgr.store.containers.get(holder)?.name : undefined;
    if (!name || !m) return err;
    return new ConflictError(err.message.replace(m[0], `already published by ${name}`), err.field);
  }

  private async writeFiles(c: ContainerRow, cfg: ContainerConfig): Promise<void> {
    const dir = this.runtime.dir(c.id);
    const eps = this.endpointsOf(cfg.networkMode.startsWith('container:') ? cfg.networkMode.slice(10) : c.id);
    const ips = eps.flatMap((e) => e.addresses.map((a) => a.ip));
    const aliases = cfg.networks.flatMap((n) => n.aliases);
    const dnsNet = eps.map((e) => this.mgr.getNetwork(e.networkId)).find(dnsServed);
    const hostname = cfg.hostname || c.name;
    await writeFile(join(dir, 'hosts'), hostsFile(hostname, ips, [c.name, ...aliases]));
    await writeFile(join(dir, 'resolv.conf'), resolvConfFile(readResolvConf(), dnsNet && dnsAddress(dnsNet)));
    await writeFile(join(dir, 'hostname'), `${hostname}\n`);
  }

  /** Detaches every endpoint of the container, forgets its names, deletes its netns. Idempotent. */
  private async teardown(id: string, sandbox: string | undefined): Promise<void> {
    for (const ep of this.endpointsOf(id)) {
      this.names.remove(this.mgr.getNetwork(ep.networkId).name, id);
      try {
        await this.mgr.detach(ep.id);
      } catch (err) {
        log.error({ container: id, endpoint: ep.id, err }, 'cannot detach endpoint');
      }
    }
    if (sandbox && sandbox !== 'host') deleteNetns(sandbox);
  }

  /**
   * runc reported the exit of a container this daemon started (or an adopted one ended, or
   * one ended while no daemon ran: then `finishedAt` is when, if known).
   */
  private async exited(id: string, code: number, finishedAt = new Date().toISOString()): Promise<void> {
    if (this.starting.has(id)) return void this.earlyExits.set(id, code);
    const c = this.mgr.store.containers.get(id);
    if (!c || c.state !== 'running') return this.resolveWaiters(id, code);
    const cfg = this.config(c);
    await this.teardown(id, ownsNetns(cfg.networkMode) ? c.sandbox : undefined);
    this.mgr.store.containers.update(id, { state: 'exited', exitCode: code, pid: null, sandbox: null, finishedAt });
    this.resolveWaiters(id, code);
    if (cfg.autoRemove) await this.autoRemove(c, code);
  }

  /**
   * --rm: the exit code and output outlive the container for a minute, so a client whose
   * `wait` or `logs` arrives after the removal (requests race) still gets them; log streams
   * already following it drain first.
   */
  private async autoRemove(c: ContainerRow, code: number): Promise<void> {
    const output = await this.runtime.logs(c.id).catch(() => '');
    for (const key of [c.id, c.name]) this.recentExits.set(key, { code, output });
    setTimeout(() => {
      for (const key of [c.id, c.name]) this.recentExits.delete(key);
    }, 60_000).unref();
    await Promise.allSettled([...(this.logReaders.get(c.id) ?? [])]);
    await this.removeContainer(c.id, true).catch((err: unknown) => log.error({ id: c.id, err }, 'auto-remove failed'));
  }

  private resolveWaiters(id: string, code: number): void {
    for (const w of this.exitWaiters.get(id) ?? []) w(code);
    this.exitWaiters.delete(id);
  }

  async stopContainer(ref: string, timeoutS = 10): Promise<void> {
    const c = this.container(ref);
    if (c.state !== 'running') return;
    const done = this.waitContainer(c.id);
    await this.runtime.stop(c.id, timeoutS);
    await done;
  }

  /** Resolves with the exit code once the container is not running. */
  async waitContainer(ref: string): Promise<number> {
    const recent = this.recentExits.get(ref);
    if (recent !== undefined) return recent.code;
    const c = this.container(ref);
    if (c.state !== 'running') return c.exitCode ?? 0;
    return new Promise((resolve) => {
      const list = this.exitWaiters.get(c.id) ?? [];
      list.push(resolve);
      this.exitWaiters.set(c.id, list);
    });
  }

  async removeContainer(ref: string, force: boolean): Promise<void> {
    const c = this.container(ref);
    if (c.state === 'running') {
      if (!force) throw new ConflictError(`container ${c.name} is running: stop it first or use force`);
      await this.stopContainer(c.id, 0);
    }
    const dependents = this.mgr.store.containers.list().filter((o) => o.id !== c.id && this.config(o).networkMode === `container:${c.id}` && o.state === 'running');
    if (dependents.length > 0 && !force) throw new ConflictError(`container ${c.name} is the network of running ${dependents.map((d) => d.name).join(', ')}`);
    const cur = this.mgr.store.containers.get(c.id);
    if (!cur) return;
    // A sandbox still recorded on a stopped container is one a killed daemon's start left.
    await this.teardown(c.id, ownsNetns(this.config(cur).networkMode) ? cur.sandbox ?? undefined : undefined);
    await this.runtime.remove(c.id, { force: true });
    this.mgr.store.containers.remove(c.id);
  }

  listContainers(all: boolean): Record<string, unknown>[] {
    const nets = this.networkMap();
    return this.mgr.store.containers.list().filter((c) => all || c.state === 'running').map((c) => containerSummary(c, this.endpointsOf(c.id), nets));
  }

  inspectContainer(ref: string): Record<string, unknown> {
    const c = this.container(ref);
    return containerInspect(c, this.endpointsOf(c.id), this.networkMap());
  }

  ports(ref: string): { ContainerPort: string; HostIp: string; HostPort: string }[] {
    const c = this.container(ref);
    return this.endpointsOf(c.id).flatMap((e) => e.ports).map((p) => ({ ContainerPort: `${p.containerPort}/${p.proto}`, HostIp: p.hostIp, HostPort: String(p.hostPort) }));
  }

  async exec(ref: string, cmd: string[]): Promise<{ ExitCode: number; Stdout: string; Stderr: string }> {
    const c = this.container(ref);
    if (c.state !== 'running') throw new ConflictError(`container ${c.name} is not running`);
    if (cmd.length === 0) throw new ConfigError('Cmd is empty', 'Cmd');
    const r = await this.runtime.exec(c.id, cmd, { timeoutMs: 60_000 });
    return { ExitCode: r.exitCode, Stdout: r.stdout, Stderr: r.stderr };
  }

  /** Streams the log; with `follow`, until the container exits. */
  async logs(ref: string, follow: boolean, onChunk: (b: Buffer) => void): Promise<void> {
    const recent = this.recentExits.get(ref);
    if (recent && !this.mgr.store.containers.get(ref)) return onChunk(Buffer.from(recent.output));
    const c = this.container(ref);
    if (!follow || c.state !== 'running') return onChunk(Buffer.from(await this.runtime.logs(c.id)));
    const reading = this.runtime.followLogs(c.id, onChunk, this.waitContainer(c.id));
    const readers = this.logReaders.get(c.id) ?? new Set();
    this.logReaders.set(c.id, readers.add(reading));
    try {
      await reading;
    } finally {
      readers.delete(reading);
      if (readers.size === 0) this.logReaders.delete(c.id);
    }
  }

  /** Whether `ref` names a container, or one auto-removed within the last minute. */
  knows(ref: string): boolean {
    return this.recentExits.has(ref) || this.mgr.store.containers.get(ref) !== undefined;
  }

  topology(): Record<string, unknown> {
    const names = this.containerNames();
    return {
      Networks: this.mgr.listNetworks().map((n) => {
        return {
          Name: n.name, Id: n.id, Driver: n.driver, ...(n.driver === 'bridge' ? { Bridge: bridgeName(n as Network<BridgeOptions>) } : {}), Subnets: n.subnets.map((s) => s.subnet),
          Endpoints: this.mgr.listEndpoints(n.id).map((e) => ({
            Container: names.get(e.sandbox) ?? e.sandbox, ContainerId: e.sandbox, Interface: e.ifname, ...(e.hostIfname ? { HostInterface: e.hostIfname } : {}),
            IPv4Address: e.addresses.find((a) => a.family === 4)?.cidr ?? '', MacAddress: e.mac,
            Ports: e.ports.map((p) => ({ Proto: p.proto, HostIp: p.hostIp, HostPort: p.hostPort, ContainerPort: p.containerPort })),
          })),
        };
      }),
      Containers: this.mgr.store.containers.list().map((c) => ({ Name: c.name, Id: c.id, State: c.state, SandboxKey: c.sandbox ?? '', NetworkMode: this.config(c).networkMode })),
    };
  }

  // -------------------------------------------------------------------- helpers

  private container(ref: string): ContainerRow {
    const c = this.mgr.store.containers.get(ref);
    if (!c) throw new NotFoundError(`container "${ref}" not found`);
    return c;
  }

  private config(c: ContainerRow): ContainerConfig {
    return c.config as unknown as ContainerConfig;
  }

  private endpointsOf(containerId: string): EndpointInfo[] {
    return this.mgr.store.endpoints.listBySandbox(containerId).map((r) => this.mgr.getEndpoint(r.id)).filter((e): e is EndpointInfo => e !== undefined);
  }

  private containerNames(): Map<string, string> {
    return new Map(this.mgr.store.containers.list().map((c) => [c.id, c.name]));
  }

  private networkMap(): Map<string, NetworkInfo> {
    return new Map(this.mgr.listNetworks().map((n) => [n.id, n]));
  }

  private async serveDns(net: NetworkInfo): Promise<void> {
    if (!dnsServed(net)) return;
    const gw = dnsAddress(net);
    if (!gw) return;
    await this.dns.listen(gw, 53, { resolve: this.names.gatewayResolver(net.name), resolvePtr: this.names.gatewayPtrResolver(net.name) })
      .catch((err: unknown) => log.error({ network: net.name, gateway: gw, err }, 'cannot serve dns'));
  }

  private async stopDns(net: NetworkInfo): Promise<void> {
    const gw = dnsAddress(net);
    if (gw && dnsServed(net)) await this.dns.unlisten(gw);
    this.names.removeNetwork(net.name);
  }

  /**
   * After a restart: running containers are adopted (names re-registered, exit watched by
   * polling runc, as they are not our children); the others are marked exited, with the exit
   * status the runtime's exit monitor recorded, and their networking released.
   */
  private async reconcileContainers(): Promise<void> {
    for (const c of this.mgr.store.containers.list()) {
      if (c.state !== 'running') {
        await this.finishStart(c);
        continue;
      }
      const st = await this.runtime.state(c.id);
      if (st.status === 'running' || st.status === 'paused') {
        this.adopt(c);
      } else {
        await this.exited(c.id, exitCodeOf(st), st.finishedAt ?? undefined);
      }
    }
  }

  /**
   * A container not recorded running but with a sandbox or endpoints: the daemon was killed
   * in the middle of its start. When runc got as far as running it, it is recorded running
   * and adopted; otherwise what the start made (endpoints, ports, its own netns) is undone.
   */
  private async finishStart(c: ContainerRow): Promise<void> {
    if (!c.sandbox && this.endpointsOf(c.id).length === 0) return;
    const st = await this.runtime.state(c.id);
    if ((st.status === 'running' || st.status === 'paused') && st.pid > 0) {
      this.mgr.store.containers.update(c.id, { state: 'running', pid: st.pid, startedAt: st.startedAt ?? new Date().toISOString(), finishedAt: null, exitCode: null });
      log.info({ container: c.id }, 'adopting a container whose start was interrupted');
      const row = this.mgr.store.containers.get(c.id);
      if (row) this.adopt(row);
      return;
    }
    log.info({ container: c.id }, 'undoing an interrupted container start');
    await this.teardown(c.id, ownsNetns(this.config(c).networkMode) ? c.sandbox ?? undefined : undefined);
    this.mgr.store.containers.update(c.id, { sandbox: null });
  }

  private adopt(c: ContainerRow): void {
    const cfg = this.config(c);
    for (const ep of this.endpointsOf(c.id)) {
      const net = this.mgr.getNetwork(ep.networkId);
      const n = cfg.networks.find((x) => x.network === net.id);
      if (dnsServed(net)) this.names.add(net.name, { id: c.id, name: c.name, aliases: [...(n?.aliases ?? []), c.id.slice(0, 12)], ips: ep.addresses.map((a) => a.ip) });
    }
    const timer = setInterval(() => {
      void this.runtime.state(c.id).then((st) => {
        if (st.status === 'running' || st.status === 'paused') return;
        clearInterval(timer);
        this.adopted.delete(c.id);
        return this.exited(c.id, exitCodeOf(st), st.finishedAt ?? undefined);
      }).catch((err: unknown) => log.warn({ id: c.id, err }, 'cannot poll adopted container'));
    }, 1000);
    this.adopted.set(c.id, timer);
  }
}

/**
 * The exit code of a container that ended out of this process's sight: the runtime's record,
 * else 255 (as Docker reports an exit it could not observe): the exit monitor is not built,
 * or it was killed too.
 */
function exitCodeOf(st: { exitCode: number | null }): number {
  return st.exitCode ?? 255;
}

/** The container's netns is its own (deleted with it), not the host's or another container's. */
function ownsNetns(mode: string): boolean {
  return usesNetworks(mode) || mode === 'none';
}

function usesNetworks(mode: string): boolean {
  return mode !== 'host' && mode !== 'none' && !mode.startsWith('container:');
}

/** Where a network's embedded DNS listens: its IPv4 gateway, else (IPv6-only) its IPv6 one. */
function dnsAddress(net: NetworkInfo): string | undefined {
  return net.subnets.find((s) => s.family === 4)?.gateway ?? net.subnets.find((s) => s.family === 6)?.gateway;
}

/** Embedded DNS serves user-defined bridge networks (not the default "bridge", as Docker; not Docker's own, whose containers use Docker's resolver). */
function dnsServed(net: NetworkInfo): boolean {
  return net.driver === 'bridge' && net.name !== 'bridge' && !dockerOwned(net);
}

/** Networks dockerd created through tsnet's remote driver: Docker manages their life. */
function dockerOwned(net: NetworkInfo): boolean {
  return net.labels[OWNER_LABEL] === OWNER_DOCKER;
}

const ADJECTIVES = ['brave', 'calm', 'eager', 'fond', 'keen', 'lucid', 'merry', 'quiet', 'swift', 'wise'];
const NOUNS = ['bridge', 'packet', 'router', 'socket', 'switch', 'tunnel', 'vlan', 'frame', 'port', 'route'];
function generatedName(id: string): string {
  const n = parseInt(id.slice(0, 4), 16);
  return `${ADJECTIVES[n % ADJECTIVES.length]}_${NOUNS[Math.floor(n / 10) % NOUNS.length]}_${id.slice(4, 8)}`;
}

