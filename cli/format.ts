/**
 * Docker-style text for the CLI's tables: short ids, "Up 3 seconds", "Exited (1) 2 minutes
 * ago", "0.0.0.0:8080->80/tcp", "4.26MB". Pure functions; `now` is always a parameter.
 */
import type { PortBinding } from './types.js';

/** The first 12 hex digits of an id (a "sha256:" prefix dropped), as docker prints ids. */
export function shortId(id: string): string {
  return id.replace(/^sha256:/, '').slice(0, 12);
}

/** Cuts `s` to `max` characters, the last one an ellipsis, as docker's COMMAND column. */
export function ellipsis(s: string, max: number): string {
  const chars = [...s];
  if (chars.length <= max) return s;
  return chars.slice(0, Math.max(max - 1, 0)).join('') + '…';
}

/** Docker's units.HumanDuration: "Less than a second", "3 seconds", "About a minute", "2 hours"... */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.floor(ms / 60_000);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.round(ms / 3_600_000);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.floor(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.floor(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24 / 30)} months`;
  return `${Math.floor(ms / 3_600_000 / 24 / 365)} years`;
}

/**
 * A timestamp as epoch ms: an ISO string, or a number of seconds (< 1e12) or ms.
 * Undefined for missing, unparsable or Go's zero time ("0001-01-01T00:00:00Z").
 */
export function parseTime(value: string | number | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  if (typeof value === 'number') return value < 1e12 ? value * 1000 : value;
  const ms = Date.parse(value);
  if (Number.isNaN(ms) || ms <= 0) return undefined;
  return ms;
}

/** "3 minutes ago", or "" when the time is unknown. */
export function timeAgo(value: string | number | undefined, now: number): string {
  const t = parseTime(value);
  return t === undefined ? '' : `${humanDuration(Math.max(now - t, 0))} ago`;
}

export interface StateInfo {
  State?: string;
  StartedAt?: string;
  FinishedAt?: string;
  ExitCode?: number;
}

/** Docker's STATUS column from a container's state: "Up 3 seconds", "Exited (0) 1 second ago", "Created". */
export function formatStatus(s: StateInfo, now: number): string {
  const since = (v: string | undefined): string => {
    const t = parseTime(v);
    return t === undefined ? '' : ` ${humanDuration(Math.max(now - t, 0))}`;
  };
  switch (s.State) {
    case 'running':
      return `Up${since(s.StartedAt)}`;
    case 'paused':
      return `Up${since(s.StartedAt)} (Paused)`;
    case 'restarting':
      return `Restarting (${s.ExitCode ?? 0})${since(s.FinishedAt)}${parseTime(s.FinishedAt) === undefined ? '' : ' ago'}`;
    case 'exited':
    case 'stopped': {
      const ago = since(s.FinishedAt);
      return `Exited (${s.ExitCode ?? 0})${ago}${ago ? ' ago' : ''}`;
    }
    case 'created':
      return 'Created';
    case 'removing':
      return 'Removal In Progress';
    case 'dead':
      return 'Dead';
    default:
      return s.State ? s.State.charAt(0).toUpperCase() + s.State.slice(1) : '';
  }
}

/** "80/tcp" from a binding's container port and protocol (default tcp). */
export function containerPortOf(p: PortBinding): string {
  const port = p.ContainerPort ?? p.PrivatePort;
  const proto = (p.Proto ?? p.Type ?? 'tcp').toLowerCase();
  if (port === undefined) return '';
  const text = String(port);
  return text.includes('/') ? text : `${text}/${proto}`;
}

/** "0.0.0.0:8080" / "[::]:8080" from a binding's host side, "" when not published. */
export function hostSideOf(p: PortBinding): string {
  const hostPort = p.HostPort ?? p.PublicPort;
  if (hostPort === undefined || hostPort === '' || hostPort === 0) return '';
  const ip = p.HostIp ?? p.IP ?? '';
  const host = ip === '' ? '0.0.0.0' : ip.includes(':') ? `[${ip}]` : ip;
  return `${host}:${hostPort}`;
}

/** Docker's PORTS notation: "0.0.0.0:8080->80/tcp", or "80/tcp" when only exposed. */
export function formatPort(p: PortBinding | string): string {
  if (typeof p === 'string') return p;
  const host = hostSideOf(p);
  const ctr = containerPortOf(p);
  return host ? `${host}->${ctr}` : ctr;
}

/** The PORTS column: every binding, comma-separated, duplicates dropped. */
export function formatPorts(ports: readonly (PortBinding | string)[] | undefined): string {
  return [...new Set((ports ?? []).map(formatPort))].join(', ');
}

/** `docker port` lines: "80/tcp -> 0.0.0.0:8080". */
export function formatPortMapping(p: PortBinding): string {
  const host = hostSideOf(p);
  return host ? `${containerPortOf(p)} -> ${host}` : containerPortOf(p);
}

const SIZE_UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];

/** Docker's HumanSizeWithPrecision(size, 3): decimal units, 3 significant digits ("4.26MB"). */
export function humanSize(bytes: number | undefined): string {
  if (bytes === undefined || !Number.isFinite(bytes)) return '';
  let size = bytes;
  let unit = 0;
  while (size >= 1000 && unit < SIZE_UNITS.length - 1) {
    size /= 1000;
    unit++;
  }
  return `${Number(size.toPrecision(3))}${SIZE_UNITS[unit]}`;
}

/** The COMMAND column: the command quoted and cut to 20 characters, as docker ps. */
export function formatCommand(cmd: string | readonly string[] | undefined): string {
  const text = Array.isArray(cmd) ? cmd.join(' ') : ((cmd as string | undefined) ?? '');
  return `"${ellipsis(text, 20)}"`;
}
