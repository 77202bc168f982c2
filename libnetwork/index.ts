/**
 * libnetwork/: Docker's remote NetworkDriver and IpamDriver (plugin API v1.2) over the
 * NetworkManager. tsnetd serves `DockerPlugin.handle` on a unix socket Docker discovers
 * (engine/daemon/docker-plugin.ts); this folder only translates, kernel work stays in drivers/.
 */
export { DockerPlugin, type PluginAnswer } from './plugin.js';
export { NetworkDriverApi } from './network-driver.js';
export { IpamDriverApi, LOCAL_ADDRESS_SPACE, GLOBAL_ADDRESS_SPACE } from './ipam-driver.js';
export { DockerState, IPAM_OWNER, endpointOwner, type EndpointRecord, type PoolRecord } from './state.js';
export {
  OWNER_LABEL, OWNER_DOCKER, DRIVER_OPTION, dockerNetworkName, joinIfname, genericOptions, networkRequestFrom,
  portRequestsFrom, bindingsToWire, exposedPortsFrom,
} from './translate.js';
export * from './wire.js';
