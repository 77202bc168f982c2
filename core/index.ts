// Light, dependency-free parts of core. netlink, netns and firewall are imported
// from their own folders so a caller pays only for what it uses.
export * from './errors.js';
export { log, type Logger } from './log.js';
export { makeDirs, paths, packageRoot, type Paths } from './paths.js';
export { SerialQueues } from './serial.js';
