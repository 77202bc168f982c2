/** tsnet's CNI plugins by their `type` name. */
import type { CniPlugin } from '../skel/dispatch.js';
import type { BaseConf } from '../skel/config.js';
import { bandwidthPlugin } from './bandwidth.js';
import { bridgePlugin } from './bridge.js';
import { ipamPlugin } from './ipam.js';
import { macvlanPlugin } from './macvlan.js';
import { portmapPlugin } from './portmap.js';
import type { CniHost } from './common.js';

export type { CniHost } from './common.js';
export { endpointId, networkName } from './common.js';
export { ipamOwner } from './ipam.js';
export { parseResolvConf } from './ipam-conf.js';
export { parseConditions } from './portmap.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const PLUGINS: Readonly<Record<string, CniPlugin<any, CniHost>>> = {
  'tsnet-bridge': bridgePlugin,
  'tsnet-macvlan': macvlanPlugin,
  'tsnet-ipam': ipamPlugin,
  'tsnet-portmap': portmapPlugin,
  'tsnet-bandwidth': bandwidthPlugin,
} satisfies Record<string, CniPlugin<BaseConf, CniHost>>;

export const PLUGIN_NAMES = Object.keys(PLUGINS);
