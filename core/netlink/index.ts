/**
 * core/netlink: the only importer of the npm `netlink` package. Verb+noun rtnetlink API;
 * each call acts in the netns of the handle passed (hostNetlink(): the process's netns;
 * core/netns netlinkIn(fd): another netns). Failures are KernelError with a positive errno.
 */
export { openNetlink, hostNetlink, type NlHandle } from './socket.js';
export {
  createLink, deleteLink, getLink, listLinks, setLinkUp, setLinkPromisc, setLinkMtu, setLinkMac, setLinkMaster, setLinkAlias,
  renameLink, moveLinkToNetns, retireLink, setLinkGroup, deleteLinkGroup, setBridgePortHairpin, linkIndex,
  type LinkKind, type LinkInfo, type CreateLinkSpec,
} from './links.js';
export { addAddr, delAddr, listAddrs, waitForDad, type AddrInfo } from './addrs.js';
export { addRoute, delRoute, listRoutes, RT_TABLE_MAIN, type RouteSpec } from './routes.js';
export {
  addNeigh, delNeigh, addFdb, delFdb, listNeighs, listFdb,
  type NeighSpec, type FdbSpec, type NeighInfo, type FdbInfo,
} from './neigh.js';
export { parseCidr, parseIp, formatIp, parseMac, formatMac, type MacvlanMode, type IpvlanMode } from './encode.js';
export {
  addTbfQdisc, addIngressQdisc, addRedirectFilter, deleteQdisc, listQdiscs, listIngressFilters,
  addHtbQdisc, addHtbClass, addFifoQdisc, addClassifyFilter, listClasses, listFilters, prefixFilter, htbQuantum, tcHandle,
  TC_H_ROOT, TC_H_INGRESS, INGRESS_HANDLE, TBF_HANDLE, HTB_HANDLE, HTB_UNSHAPED_CLASS, HTB_SHAPED_CLASS,
  UNSHAPED_LEAF_HANDLE, SHAPED_LEAF_HANDLE,
  type TbfSpec, type QdiscInfo, type FilterInfo, type HtbClassSpec, type ClassInfo, type ClassifyFilter, type U32Key,
} from './tc.js';
// nfnetlink (nftables batches) for core/firewall's PortMap.
export { nftSocket, closeNftSocket, nftKernelError, encodeBatch, nfgenmsg, type BatchMessage, type MessageResult } from './nfnetlink.js';
// ctnetlink: deleting the host's conntrack entries of a published UDP port (drivers/manager).
export { deleteConntrack, closeConntrackSocket } from './conntrack.js';
export { checkMatch as checkConntrackMatch, matchKey as conntrackMatchKey } from './conntrack-encode.js';
export { type ConntrackMatch } from './conntrack-encode.js';
