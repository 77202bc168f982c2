/*
 * tsnet_netns: the few network-namespace syscalls Node cannot make itself.
 *
 *   createNetns(path)      new netns bind-mounted at path (like `ip netns add`)
 *   umountNetns(path)      umount2(path, MNT_DETACH); true when something was mounted
 *   withNetns(fd, fn)      setns(fd) on the calling thread, call fn synchronously,
 *                          setns back in all cases (abort() if that fails)
 *   nsType(fd)             ioctl(NS_GET_NSTYPE) (CLONE_NEWNET for a netns)
 *
 * Every failure throws an Error with `code` ('EEXIST'...), `errno` (positive) and `syscall`.
 * The calling thread is never left in a foreign netns: every path that switched restores
 * the saved netns, and a failed restore aborts the process.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>
#include <libgen.h>
#include <limits.h>
#include <node_api.h>

#ifndef NS_GET_NSTYPE
#define NS_GET_NSTYPE _IO(0xb7, 0x3)
#endif

#define SELF_NETNS "/proc/thread-self/ns/net"

static const char *errno_name(int e) {
  switch (e) {
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case EBADF: return "EBADF";
    case EACCES: return "EACCES";
    case EBUSY: return "EBUSY";
    case EEXIST: return "EEXIST";
    case ENOTDIR: return "ENOTDIR";
    case EINVAL: return "EINVAL";
    case ENOMEM: return "ENOMEM";
    case ENOSPC: return "ENOSPC";
    case EROFS: return "EROFS";
    case ENOTTY: return "ENOTTY";
    case EMFILE: return "EMFILE";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case EUSERS: return "EUSERS";
    case ENOSYS: return "ENOSYS";
    default: return "EUNKNOWN";
  }
}

/* Throws Error(`${syscall} ${what}: ${strerror}`) with code/errno/syscall properties. */
static void throw_errno(napi_env env, int err, const char *syscall, const char *what) {
  char msg[PATH_MAX + 128];
  snprintf(msg, sizeof msg, "%s %s: %s", syscall, what ? what : "", strerror(err));
  napi_value code, message, error, errno_v, syscall_v;
  napi_create_string_utf8(env, errno_name(err), NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, code, message, &error);
  napi_create_int32(env, err, &errno_v);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &syscall_v);
  napi_set_named_property(env, error, "errno", errno_v);
  napi_set_named_property(env, error, "syscall", syscall_v);
  napi_throw(env, error);
}

/* Reads argument i as a path string into buf; throws a TypeError and returns 0 on failure. */
static int get_path(napi_env env, napi_value v, char *buf, size_t size) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, buf, size, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "path must be a string");
    return 0;
  }
  if (len == 0 || len >= size - 1) {
    napi_throw_type_error(env, NULL, "path is empty or too long");
    return 0;
  }
  return 1;
}

static int get_fd(napi_env env, napi_value v, int *fd) {
  if (napi_get_value_int32(env, v, fd) != napi_ok || *fd < 0) {
    napi_throw_type_error(env, NULL, "fd must be a non-negative integer");
    return 0;
  }
  return 1;
}

/* Switches the calling thread back to `saved`; a failure here is unrecoverable. */
static void restore_or_abort(int saved) {
  if (setns(saved, CLONE_NEWNET) != 0) {
    fprintf(stderr, "tsnet_netns: cannot restore the thread's network namespace: %s\n", strerror(errno));
    abort();
  }
}

/*
 * Makes the folder holding netns files a mount point with shared propagation, as
 * iproute2 does for /run/netns, so bind mounts made later are visible to mount
 * namespaces created afterwards. Returns 0 or an errno.
 */
static int make_dir_shared(const char *dir) {
  if (mount("", dir, "none", MS_SHARED | MS_REC, NULL) == 0) return 0;
  if (errno != EINVAL) return errno;
  if (mount(dir, dir, "none", MS_BIND | MS_REC, NULL) != 0) return errno;
  if (mount("", dir, "none", MS_SHARED | MS_REC, NULL) != 0) return errno;
  return 0;
}

static napi_value CreateNetns(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  char path[PATH_MAX], dir[PATH_MAX];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || !get_path(env, argv[0], path, sizeof path)) return NULL;

  strcpy(dir, path);
  int err = make_dir_shared(dirname(dir));
  if (err) { throw_errno(env, err, "mount", dir); return NULL; }

  int fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
  if (fd < 0) { throw_errno(env, errno, "open", path); return NULL; }
  close(fd);

  int saved = open(SELF_NETNS, O_RDONLY | O_CLOEXEC);
  if (saved < 0) {
    err = errno;
    unlink(path);
    throw_errno(env, err, "open", SELF_NETNS);
    return NULL;
  }
  const char *failed = NULL;
  if (unshare(CLONE_NEWNET) != 0) {
    err = errno;
    failed = "unshare";
  } else {
    if (mount(SELF_NETNS, path, "none", MS_BIND, NULL) != 0) {
      err = errno;
      failed = "mount";
    }
    restore_or_abort(saved);
  }
  close(saved);
  if (failed) {
    unlink(path);
    throw_errno(env, err, failed, path);
    return NULL;
  }
  return NULL;
}

static napi_value UmountNetns(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  char path[PATH_MAX];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || !get_path(env, argv[0], path, sizeof path)) return NULL;
  int mounted = 1;
  if (umount2(path, MNT_DETACH) != 0) {
    if (errno != EINVAL && errno != ENOENT) { throw_errno(env, errno, "umount2", path); return NULL; }
    mounted = 0;
  }
  napi_get_boolean(env, mounted, &result);
  return result;
}

static napi_value WithNetns(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], global, result = NULL;
  int fd;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2 || !get_fd(env, argv[0], &fd)) return NULL;
  napi_valuetype t;
  napi_typeof(env, argv[1], &t);
  if (t != napi_function) { napi_throw_type_error(env, NULL, "fn must be a function"); return NULL; }

  int saved = open(SELF_NETNS, O_RDONLY | O_CLOEXEC);
  if (saved < 0) { throw_errno(env, errno, "open", SELF_NETNS); return NULL; }
  if (setns(fd, CLONE_NEWNET) != 0) {
    int err = errno;
    close(saved);
    throw_errno(env, err, "setns", "");
    return NULL;
  }
  napi_get_global(env, &global);
  napi_status st = napi_call_function(env, global, argv[1], 0, NULL, &result);
  restore_or_abort(saved);
  close(saved);
  /* A JS exception (napi_pending_exception) propagates when we return NULL. */
  return st == napi_ok ? result : NULL;
}

static napi_value NsType(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  int fd;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || !get_fd(env, argv[0], &fd)) return NULL;
  int type = ioctl(fd, NS_GET_NSTYPE);
  if (type < 0) { throw_errno(env, errno, "ioctl", "NS_GET_NSTYPE"); return NULL; }
  napi_create_int32(env, type, &result);
  return result;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "createNetns", NULL, CreateNetns, NULL, NULL, NULL, napi_default, NULL },
    { "umountNetns", NULL, UmountNetns, NULL, NULL, NULL, napi_default, NULL },
    { "withNetns", NULL, WithNetns, NULL, NULL, NULL, napi_default, NULL },
    { "nsType", NULL, NsType, NULL, NULL, NULL, napi_default, NULL },
  };
  napi_value clone_newnet;
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  napi_create_int32(env, CLONE_NEWNET, &clone_newnet);
  napi_set_named_property(env, exports, "CLONE_NEWNET", clone_newnet);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
