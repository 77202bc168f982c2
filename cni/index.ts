/**
 * cni/: tsnet's CNI plugins (tsnet-bridge, tsnet-macvlan, tsnet-ipam, tsnet-portmap,
 * tsnet-bandwidth) on the spec 1.1 skel. One entry, `runCni`, serves both the standalone executable (bin/tsnet-cni)
 * and the daemon's POST /v1/cni: same code, the host (NetworkManager) differing.
 */
import { basename } from 'node:path';
import { CNI_ERR, CniError, dispatch, failure, type Invocation, type Output } from './skel/index.js';
import { PLUGINS, PLUGIN_NAMES, type CniHost } from './plugins/index.js';

export * as skel from './skel/index.js';
export { PLUGINS, PLUGIN_NAMES, endpointId, networkName, ipamOwner, type CniHost } from './plugins/index.js';

/** The plugin name from an executable path or name ("/opt/cni/bin/tsnet-bridge" -> "tsnet-bridge"). */
export function pluginName(argv0: string): string {
  return basename(argv0);
}

/**
 * Runs the plugin `name` for one invocation; never throws. The plugins act in the caller's
 * netns (the host) and in CNI_NETNS, through `host`'s manager; the caller owns `host`.
 */
export async function runCni(name: string, inv: Invocation, host: CniHost): Promise<Output> {
  const plugin = PLUGINS[pluginName(name)];
  if (!plugin) {
    return failure(new CniError(CNI_ERR.INVALID_CONFIG, `unknown tsnet CNI plugin "${name}" (known: ${PLUGIN_NAMES.join(', ')})`, 'type'));
  }
  return dispatch(plugin, inv, host);
}
