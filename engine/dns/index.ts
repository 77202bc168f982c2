/**
 * engine/dns: tsnetd's embedded DNS. One DnsServer in the daemon serves every network's
 * gateway address (UDP + TCP); a NameTable supplies the names; the host's resolv.conf
 * supplies the upstreams unknown names are forwarded to.
 */
export { DnsServer, type DnsServerOptions, type ListenHandlers } from './server.js';
export {
  NameTable,
  normalizeName,
  canonicalIp,
  type NameEntry,
  type Resolve,
  type ResolvePtr,
  type AddressType,
  type QueryClient,
} from './names.js';
export {
  readResolvConf,
  parseResolvConf,
  upstreamsFor,
  containerNameservers,
  isLoopback,
  type ResolvConf,
} from './resolv-conf.js';
export { parseUpstream, type Upstream } from './forward.js';
export { ptrToIp, RCODE } from './answer.js';
