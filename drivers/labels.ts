/** Network labels with a meaning to tsnet itself. */

/** Who manages a network's life: `docker` for networks dockerd made through libnetwork/. */
export const OWNER_LABEL = 'tsnet.owner';
export const OWNER_DOCKER = 'docker';

/** The CNI plugin kind (`bridge`, `macvlan`) of a network a tsnet CNI plugin made (cni/plugins/common.ts). */
export const CNI_KIND_LABEL = 'tsnet.cni.kind';

/** A network the CNI plugins made. */
export function isCniNetwork(labels: Readonly<Record<string, string>>): boolean {
  return labels[CNI_KIND_LABEL] !== undefined;
}
