/*
 * tsnet_netns: the few network-namespace syscalls Node cannot make itself.
 *
 *   createNetns(path)      new netns bind-mounted at path (like `ip netns add`)
 *   umountNetns(path)      umount2(path, MNT_DETACH); true when something was mounted
 *   withNetns(fd, fn)      setns(fd) on the calling thread, call fn synchronously,
 *                          setns back in all cases (abort() if that fails)
 *   nsType(fd)             ioctl(NS_GET_NSTYPE) (CLONE_NEWNET for a netns)
 *   nlOpenIn(fd)           an RTNETLINK socket created inside the netns behind fd (it acts
 *                          there for its whole life; fd -1: the calling thread's netns);
 *                          returns the socket's fd
 *   nlTransact(sock, req, firstSeq, lastSeq)
 *                          one sendmsg of the ready-made messages in req, then reads until
 *                          every request of seq firstSeq..lastSeq has its final answer
 *                          (NLMSG_ERROR, i.e. the ACK or error, or NLMSG_DONE of a dump);
 *                          returns all answers as one Buffer. Synchronous: the kernel handles
 *                          rtnetlink requests inside sendmsg, so the answers are already there.
 *   nlClose(sock)          close(sock)
 *   holdPort(family, stream, ip, port)
 *                          a socket holding a published host port (hold-port.c); its fd
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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <linux/netlink.h>
#include <unistd.h>
#include <libgen.h>
#include <limits.h>
#include <node_api.h>
#include "tsnet-native.h"

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
    case EAGAIN: return "EAGAIN";
    case EMSGSIZE: return "EMSGSIZE";
    case ENOBUFS: return "ENOBUFS";
    case EPROTO: return "EPROTO";
    case EADDRINUSE: return "EADDRINUSE";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    default: return "EUNKNOWN";
  }
}

/* Throws Error(`${syscall} ${what}: ${strerror}`) with code/errno/syscall properties. */
void tsnet_throw_errno(napi_env env, int err, const char *syscall, const char *what) {
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
 * Switches the calling thread into the netns behind fd; returns the saved netns fd (the caller
 * hands it to leave_netns), or -1 with a JS error thrown.
 */
static int enter_netns(napi_env env, int fd) {
  int saved = open(SELF_NETNS, O_RDONLY | O_CLOEXEC);
  if (saved < 0) { tsnet_throw_errno(env, errno, "open", SELF_NETNS); return -1; }
  if (setns(fd, CLONE_NEWNET) != 0) {
    int err = errno;
    close(saved);
    tsnet_throw_errno(env, err, "setns", "");
    return -1;
  }
  return saved;
}

static void leave_netns(int saved) {
  restore_or_abort(saved);
  close(saved);
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
  if (err) { tsnet_throw_errno(env, err, "mount", dir); return NULL; }

  int fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
  if (fd < 0) { tsnet_throw_errno(env, errno, "open", path); return NULL; }
  close(fd);

  int saved = open(SELF_NETNS, O_RDONLY | O_CLOEXEC);
  if (saved < 0) {
    err = errno;
    unlink(path);
    tsnet_throw_errno(env, err, "open", SELF_NETNS);
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
    tsnet_throw_errno(env, err, failed, path);
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
    if (errno != EINVAL && errno != ENOENT) { tsnet_throw_errno(env, errno, "umount2", path); return NULL; }
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

  int saved = enter_netns(env, fd);
  if (saved < 0) return NULL;
  napi_get_global(env, &global);
  napi_status st = napi_call_function(env, global, argv[1], 0, NULL, &result);
  leave_netns(saved);
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
  if (type < 0) { tsnet_throw_errno(env, errno, "ioctl", "NS_GET_NSTYPE"); return NULL; }
  napi_create_int32(env, type, &result);
  return result;
}

/* A timeout on every read: a request the kernel never answers fails instead of hanging. */
#define NL_TIMEOUT_S 10
#define NL_RCVBUF (64 * 1024)
/*
 * The socket's receive queue holds every answer of one sendmsg (the kernel applies the whole
 * batch inside it): an answer that does not fit is dropped after its request was applied
 * (ENOBUFS). The default (~208 kB) held ~20 link answers; core/netlink sends at most
 * NL_BATCH_MAX (32) requests at once, whose answers fit here many times over.
 */
#define NL_SOCK_RCVBUF (4 * 1024 * 1024)

/* socket(NETLINK_ROUTE) with ACKs not echoing the request and bounded reads; -1 and errno on failure. */
static int nl_socket(void) {
  int sock = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (sock < 0) return -1;
  int one = 1;
  struct timeval tv = { .tv_sec = NL_TIMEOUT_S };
  setsockopt(sock, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
  setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  int size = NL_SOCK_RCVBUF;
  /* FORCE passes net.core.rmem_max (needs CAP_NET_ADMIN); without it the kernel caps SO_RCVBUF there. */
  if (setsockopt(sock, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) < 0) setsockopt(sock, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  return sock;
}

/*
 * Discards what is queued on sock. After ENOBUFS the queue still holds the rest of the
 * overrun batch's answers, and the socket stays congested (dropping every new answer) until
 * it is read empty: the next transaction would wait for answers the kernel dropped.
 */
static void nl_drain(int sock) {
  char scrap[256];
  /* Bounded: the queue holds at most NL_SOCK_RCVBUF of answers. */
  for (int i = 0; i < 1 << 16; i++) {
    if (recv(sock, scrap, sizeof scrap, MSG_DONTWAIT | MSG_TRUNC) < 0 && errno != EINTR && errno != ENOBUFS) return;
  }
}

static napi_value NlOpenIn(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  int fd = -1;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < -1) {
    napi_throw_type_error(env, NULL, "fd must be -1 or a non-negative integer");
    return NULL;
  }
  int sock, err;
  if (fd == -1) {
    sock = nl_socket();
    err = errno;
  } else {
    int saved = enter_netns(env, fd);
    if (saved < 0) return NULL;
    /* A netlink socket belongs to the netns it is created in, whichever thread uses it later. */
    sock = nl_socket();
    err = errno;
    leave_netns(saved);
  }
  if (sock < 0) { tsnet_throw_errno(env, err, "socket", "AF_NETLINK"); return NULL; }
  napi_create_int32(env, sock, &result);
  return result;
}

/* Counts the final answers (ACK/error, end of dump) in buf for seq first..last. */
static unsigned count_final(const char *buf, size_t len, uint32_t first, uint32_t last) {
  unsigned n = 0;
  for (const struct nlmsghdr *h = (const struct nlmsghdr *)buf; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
    if ((h->nlmsg_type == NLMSG_ERROR || h->nlmsg_type == NLMSG_DONE) && h->nlmsg_seq >= first && h->nlmsg_seq <= last) n++;
  }
  return n;
}

static napi_value NlTransact(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4], result;
  int sock;
  uint32_t first, last;
  void *req;
  size_t req_len;
  bool is_buf = false;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 4 || !get_fd(env, argv[0], &sock)) return NULL;
  napi_is_buffer(env, argv[1], &is_buf);
  if (!is_buf || napi_get_buffer_info(env, argv[1], &req, &req_len) != napi_ok || req_len < NLMSG_HDRLEN) {
    napi_throw_type_error(env, NULL, "req must be a Buffer of netlink messages");
    return NULL;
  }
  if (napi_get_value_uint32(env, argv[2], &first) != napi_ok || napi_get_value_uint32(env, argv[3], &last) != napi_ok || last < first) {
    napi_throw_type_error(env, NULL, "firstSeq..lastSeq must be a range of integers");
    return NULL;
  }
  struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
  ssize_t sent;
  do sent = sendto(sock, req, req_len, 0, (struct sockaddr *)&kernel, sizeof kernel); while (sent < 0 && errno == EINTR);
  if (sent < 0) { tsnet_throw_errno(env, errno, "sendto", "netlink"); return NULL; }

  unsigned want = last - first + 1, got = 0;
  size_t cap = NL_RCVBUF, len = 0;
  char *out = malloc(cap);
  if (!out) { tsnet_throw_errno(env, ENOMEM, "malloc", ""); return NULL; }
  while (got < want) {
    if (cap - len < NL_RCVBUF) {
      char *bigger = realloc(out, cap * 2);
      if (!bigger) { free(out); tsnet_throw_errno(env, ENOMEM, "realloc", ""); return NULL; }
      out = bigger;
      cap *= 2;
    }
    struct iovec iov = { .iov_base = out + len, .iov_len = NL_RCVBUF };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
    ssize_t n;
    do n = recvmsg(sock, &mh, 0); while (n < 0 && errno == EINTR);
    if (n < 0) {
      int err = errno;
      if (err == ENOBUFS) nl_drain(sock);
      free(out);
      tsnet_throw_errno(env, err, "recvmsg", "netlink");
      return NULL;
    }
    if (mh.msg_flags & MSG_TRUNC) { free(out); tsnet_throw_errno(env, EMSGSIZE, "recvmsg", "netlink answer truncated"); return NULL; }
    got += count_final(out + len, (size_t)n, first, last);
    len += (size_t)n;
  }
  void *data;
  napi_status st = napi_create_buffer_copy(env, len, out, &data, &result);
  free(out);
  return st == napi_ok ? result : NULL;
}

static napi_value NlClose(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int sock;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || !get_fd(env, argv[0], &sock)) return NULL;
  close(sock);
  return NULL;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "createNetns", NULL, CreateNetns, NULL, NULL, NULL, napi_default, NULL },
    { "umountNetns", NULL, UmountNetns, NULL, NULL, NULL, napi_default, NULL },
    { "withNetns", NULL, WithNetns, NULL, NULL, NULL, napi_default, NULL },
    { "nsType", NULL, NsType, NULL, NULL, NULL, napi_default, NULL },
    { "nlOpenIn", NULL, NlOpenIn, NULL, NULL, NULL, napi_default, NULL },
    { "nlTransact", NULL, NlTransact, NULL, NULL, NULL, napi_default, NULL },
    { "nlClose", NULL, NlClose, NULL, NULL, NULL, napi_default, NULL },
    { "holdPort", NULL, HoldPort, NULL, NULL, NULL, napi_default, NULL },
  };
  napi_value clone_newnet;
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  napi_create_int32(env, CLONE_NEWNET, &clone_newnet);
  napi_set_named_property(env, exports, "CLONE_NEWNET", clone_newnet);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
