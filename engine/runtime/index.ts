/**
 * engine/runtime: images and containers for tsnetd, on runc. The daemon owns sandboxes
 * (netns, created with core/netns under TSNET_RUN) and networking; this layer owns root
 * filesystems and the processes running in them. Nothing here touches a netns: runc joins
 * the netns path given in the spec.
 *
 * Images (`ImageStore`, `<TSNET_ROOT>/images/<name>/{rootfs,image.json}`):
 *   importImage(src: string, name: string): Promise<ImageInfo>   dir (cp -a) or .tar/.tar.gz (tar -xf)
 *   ensureBusyboxImage(busybox = '/bin/busybox'): Promise<ImageInfo>   the built-in `busybox`
 *   listImages(): Promise<ImageInfo[]> · getImage(name): Promise<ImageInfo> (NotFoundError)
 *   removeImage(name): Promise<void>   (ConflictError while a container dir uses it)
 *
 * Spec (pure): createSpec(SpecOptions): OciSpec   OCI runtime spec 1.0 for runc: read-only
 *   image rootfs as `/`, tmpfs /tmp, /dev, /dev/shm; bind mounts of the daemon's hosts,
 *   resolv.conf, hostname files; pid/ipc/mount/uts namespaces + network `path` = the netns
 *   ('host': neither network nor uts namespace); Docker's default capabilities (NET_RAW).
 *
 * Containers (`ContainerRuntime`, `<TSNET_ROOT>/containers/<id>/` + runc root `<TSNET_RUN>/runc`):
 *   create(CreateOptions): Promise<{id, dir, spec}>     bundle only, starts nothing
 *   start(id): Promise<{pid}>                           detached `runc run --keep`, log file as stdio
 *   state(id): Promise<ContainerState>                  runc state + dir; survives daemon restarts
 *   wait(id, signal?): Promise<number | null>           exit code (null: started by another process)
 *   stop(id, timeoutS = 10) · kill(id, signal) · remove(id, {force}): Promise<boolean>
 *   exec(id, argv, {timeoutMs, env}): Promise<{stdout, stderr, exitCode}>
 *   logs(id): Promise<string> · followLogs(id, onChunk, until, {fromStart, pollMs}): Promise<void>
 *   list(): Promise<ContainerState[]>
 *   onExit callback (constructor) for containers this process started.
 *
 * Requirements: runc on PATH (Debian `runc`; crun fails on this hybrid cgroup host) and the
 * cgroup hierarchies mounted under /sys/fs/cgroup in the daemon's mount namespace.
 */
export { ImageStore, BUSYBOX_IMAGE, type ImageInfo } from './images.js';
export {
  createSpec,
  mergeEnv,
  normalizeCapability,
  DEFAULT_CAPABILITIES,
  DEFAULT_PATH,
  type SpecOptions,
  type ContainerFiles,
  type OciSpec,
  type OciMount,
} from './spec.js';
export {
  ContainerRuntime,
  type RuntimeOptions,
  type CreateOptions,
  type ContainerState,
  type ContainerStatus,
  type ExecOptions,
  type FollowOptions,
} from './containers.js';
export { Runc, runcMessage, type RuncState } from './runc.js';
export { checkContainerId, checkImageName, checkHostname } from './names.js';
