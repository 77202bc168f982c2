// core/firewall: rules as data, rendered to one iptables-restore batch per family.
export * from './types.js';
export { FirewallState } from './state.js';
export { planChanges, planTeardown, invertOps, type Plan } from './plan.js';
export { IptablesBackend, renderRestore, parseSave, tokenize, type Backend, type IptablesOptions } from './iptables.js';
export {
  baseRules,
  networkRules,
  ruleIfnameValid,
  FIREWALL_LAYOUT,
  portRules,
  FORWARD_CHAIN,
  ISOLATION1_CHAIN,
  ISOLATION2_CHAIN,
  DNAT_CHAIN,
  POSTROUTING_CHAIN,
  INPUT_CHAIN,
  type NetworkFirewall,
  type PortMapping,
} from './services.js';
export { Firewall, type FirewallOptions } from './firewall.js';
// Published ports as nftables map elements, changed over NETLINK_NETFILTER (no exec per change).
export { PortMap, renderPortMapLayout, parsePortMapList, describeMapping, type PortMapOptions } from './nft-ports.js';
export { mappingElement, elementMapping, elementMessage, encodeBatch, type NftPortMapping, type MapElement, type MapName } from './nft-ports-encode.js';
export { closeNftSocket } from '../netlink/nfnetlink.js';
