/**
 * The per-container files tsnetd writes and bind-mounts: /etc/hosts, /etc/resolv.conf,
 * /etc/hostname. Pure text builders; the engine writes them in the container's dir
 * (rewriting in place, same inode, so a running container sees connect/disconnect).
 */
import { containerNameservers, type ResolvConf } from './dns/index.js';

export function hostsFile(hostname: string, ips: readonly string[], aliases: readonly string[] = []): string {
  const names = [hostname, ...aliases.filter((a) => a !== hostname)].join(' ');
  return [
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'ff00::0\tip6-mcastprefix',
    'ff02::1\tip6-allnodes',
    'ff02::2\tip6-allrouters',
    ...ips.map((ip) => `${ip}\t${names}`),
    '',
  ].join('\n');
}

/**
 * A container on a user-defined network asks the embedded DNS on that network's gateway;
 * others get the host's resolvers (loopback ones dropped: unreachable from a sandbox).
 */
export function resolvConfFile(host: ResolvConf, embeddedDns: string | undefined): string {
  const servers = embeddedDns ? [embeddedDns] : containerNameservers(host);
  const lines = servers.map((s) => `nameserver ${s}`);
  if (host.search.length > 0) lines.push(`search ${host.search.join(' ')}`);
  if (host.options.length > 0) lines.push(`options ${host.options.join(' ')}`);
  return `${lines.join('\n')}\n`;
}
