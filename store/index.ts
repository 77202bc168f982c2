/**
 * store/: the SQLite state store (networks, endpoints, IPAM pools and allocations,
 * port mappings, the intent journal, kv). Pure data: no kernel, no netns.
 */
export { openStore, Store, BUSY_TIMEOUT_MS, type StoreOptions } from './store.js';
export { MIGRATIONS, SCHEMA_VERSION, migrate } from './schema.js';
export { hostIpsClash, portsClash } from './ports.js';
export type { NetworksRepo } from './networks.js';
export type { EndpointsRepo } from './endpoints.js';
export type { PortsRepo } from './ports.js';
export type { IntentsRepo } from './intents.js';
export type { PoolsRepo, AllocationsRepo } from './pools.js';
export type { KvRepo } from './kv.js';
export type { ContainersRepo } from './containers.js';
export type * from './types.js';
