export { Engine } from './engine.js';
export { main as daemonMain } from './daemon/main.js';
export type { ContainerConfig, CreateContainerBody, CreateNetworkBody } from './types.js';
