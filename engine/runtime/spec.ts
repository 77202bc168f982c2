/**
 * The OCI runtime spec (1.0) handed to runc. Pure: createSpec builds the config.json object
 * from the container's options and touches nothing.
 *
 * Root filesystem: the image's rootfs directory itself, read-only (`root.readonly`), shared by
 * every container of that image. Writable places are tmpfs mounts (/tmp, /dev, /dev/shm) and
 * the per-container files the daemon writes and bind-mounts (/etc/hosts, /etc/resolv.conf,
 * /etc/hostname). No copy and no overlay mount per container: creating a container costs one
 * small JSON file, nothing is left mounted on the host, and removal is an `rm -r` of the
 * container's dir. The price is a read-only `/` (like `docker run --read-only`).
 */
import { ConfigError } from '../../core/errors.js';
import { checkAbsolutePath, checkContainerId, checkHostname } from './names.js';

/** Docker's default capability set (moby oci/caps/defaults.go): includes NET_RAW for ping. */
export const DEFAULT_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW',
  'CAP_SETGID', 'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

export const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Host files bind-mounted over the container's /etc files (written by the daemon, absolute paths). */
export interface ContainerFiles {
  hosts?: string;
  resolvConf?: string;
  hostname?: string;
}

export interface SpecOptions {
  id: string;
  /** Absolute path of the image's rootfs directory (mounted read-only as `/`). */
  rootfs: string;
  /** The process: argv, at least one element. */
  args: readonly string[];
  /** `KEY=value` entries; they override the defaults (PATH, HOME, HOSTNAME). */
  env?: readonly string[];
  /** UTS hostname (ignored with network 'host', which shares the host's UTS namespace). */
  hostname?: string;
  /** The sandbox's netns bind-mount path, joined by runc; or 'host' for the caller's netns. */
  netns: string;
  files?: ContainerFiles;
  /** Extra capabilities beyond Docker's defaults (e.g. NET_ADMIN). */
  capAdd?: readonly string[];
  /** cgroup path for runc (`linux.cgroupsPath`); default: runc's (the id, under runc's own cgroup). */
  cgroupsPath?: string;
}

export interface OciMount {
  destination: string;
  type: string;
  source: string;
  options: string[];
}

/** The subset of the OCI runtime spec tsnet writes (see opencontainers/runtime-spec config.md). */
export interface OciSpec {
  ociVersion: string;
  process: {
    terminal: boolean;
    user: { uid: number; gid: number };
    args: string[];
    env: string[];
    cwd: string;
    capabilities: { bounding: string[]; effective: string[]; permitted: string[]; inheritable: string[]; ambient: string[] };
    noNewPrivileges: boolean;
  };
  root: { path: string; readonly: boolean };
  hostname?: string;
  mounts: OciMount[];
  linux: {
    namespaces: { type: string; path?: string }[];
    cgroupsPath?: string;
    resources: { devices: { allow: boolean; access: string }[] };
    maskedPaths: string[];
    readonlyPaths: string[];
  };
}

const MASKED_PATHS = [
  '/proc/asound', '/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
  '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware',
];
const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

/** The filesystems every container gets (as Docker's defaults, plus a tmpfs /tmp). */
function baseMounts(): OciMount[] {
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
    { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777'] },
  ];
}

function fileMounts(files: ContainerFiles): OciMount[] {
  const targets: [keyof ContainerFiles, string][] = [['hosts', '/etc/hosts'], ['resolvConf', '/etc/resolv.conf'], ['hostname', '/etc/hostname']];
  const mounts: OciMount[] = [];
  for (const [key, destination] of targets) {
    const source = files[key];
    if (source === undefined) continue;
    checkAbsolutePath(source, `files.${key}`);
    mounts.push({ destination, type: 'bind', source, options: ['rbind', 'rprivate'] });
  }
  return mounts;
}

/** 'NET_ADMIN' or 'CAP_NET_ADMIN' → 'CAP_NET_ADMIN'. */
export function normalizeCapability(cap: string): string {
  const name = typeof cap === 'string' ? cap.toUpperCase() : '';
  const full = name.startsWith('CAP_') ? name : `CAP_${name}`;
  if (!/^CAP_[A-Z_]+$/.test(full)) throw new ConfigError(`invalid capability "${String(cap)}"`, 'capAdd');
  return full;
}

function checkArgs(args: readonly string[]): string[] {
  if (!Array.isArray(args) || args.length === 0 || args.some((a) => typeof a !== 'string' || a.includes('\0'))) {
    throw new ConfigError('args must be a non-empty list of strings', 'args');
  }
  if (args[0] === '') throw new ConfigError('args[0] (the program) must not be empty', 'args');
  return [...args];
}

/** Defaults first, then the caller's entries; a later KEY replaces an earlier one. */
export function mergeEnv(defaults: readonly string[], env: readonly string[]): string[] {
  const byKey = new Map<string, string>();
  for (const e of [...defaults, ...env]) {
    const eq = typeof e === 'string' ? e.indexOf('=') : -1;
    if (eq <= 0 || e.includes('\0')) throw new ConfigError(`invalid env entry "${String(e)}": use KEY=value`, 'env');
    byKey.set(e.slice(0, eq), e);
  }
  return [...byKey.values()];
}

/**
 * Builds the OCI runtime spec of a container. Pure (no netns, no files touched). Namespaces:
 * pid, ipc, uts, mount, and network with `path` = the sandbox's netns (runc joins it, the
 * daemon owns and removes it); with netns 'host' there is no network namespace and no UTS one
 * (the host's interfaces and hostname are shared, as `docker run --network host`).
 * ConfigError (naming the field) on bad input.
 */
export function createSpec(o: SpecOptions): OciSpec {
  checkContainerId(o.id);
  checkAbsolutePath(o.rootfs, 'rootfs');
  const args = checkArgs(o.args);
  const host = o.netns === 'host';
  if (!host) checkAbsolutePath(o.netns, 'netns');
  if (o.hostname !== undefined) checkHostname(o.hostname);
  const hostname = host ? undefined : o.hostname ?? o.id.slice(0, 12);
  const caps = [...new Set([...DEFAULT_CAPABILITIES, ...(o.capAdd ?? []).map(normalizeCapability)])];
  const defaults = [DEFAULT_PATH, 'HOME=/root', ...(hostname ? [`HOSTNAME=${hostname}`] : [])];
  const namespaces: { type: string; path?: string }[] = [{ type: 'pid' }, { type: 'ipc' }, { type: 'mount' }];
  if (!host) namespaces.push({ type: 'uts' }, { type: 'network', path: o.netns });
  const spec: OciSpec = {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args,
      env: mergeEnv(defaults, o.env ?? []),
      cwd: '/',
      capabilities: { bounding: caps, effective: caps, permitted: caps, inheritable: [], ambient: [] },
      noNewPrivileges: false,
    },
    root: { path: o.rootfs, readonly: true },
    mounts: [...baseMounts(), ...fileMounts(o.files ?? {})],
    linux: {
      namespaces,
      // Devices: deny all, then runc adds its default devices (null, zero, tty, ...).
      resources: { devices: [{ allow: false, access: 'rwm' }] },
      maskedPaths: [...MASKED_PATHS],
      readonlyPaths: [...READONLY_PATHS],
    },
  };
  if (hostname !== undefined) spec.hostname = hostname;
  if (o.cgroupsPath !== undefined) spec.linux.cgroupsPath = o.cgroupsPath;
  return spec;
}
