export * from './types.js';
export { UndoStack, setFaultInjector } from './undo.js';
export { NetworkManager, type CreateNetworkRequest, type AttachRequest, type EndpointInfo, type NetworkInfo, type SubnetRequest, type ReconcileReport } from './manager.js';
export { parsePortSpec, validatePortRequest, expandPorts, type PortRequest, type PortBinding, type Proto } from './ports.js';
export { getDriver, usesIpam } from './registry.js';
export { bridgeDriver, bridgeName, type BridgeOptions } from './bridge.js';
export { macvlanDriver, type MacvlanOptions } from './macvlan.js';
export { hostDriver, noneDriver } from './host-none.js';
export { checkIfname, checkMac, parseMtu } from './options.js';
