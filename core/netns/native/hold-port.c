/*
 * holdPort(family, stream, ip, port): a socket that keeps a published host port from being
 * taken by a process of the host, as Docker's port allocator does without a userland proxy.
 * The socket drops every packet (a one-instruction classic BPF filter set before bind), so
 * the kernel never completes a handshake on it nor queues a datagram: traffic to the port is
 * DNATed to the container before it could reach it anyway. TCP: SO_REUSEADDR (a port whose
 * old connections linger in TIME_WAIT can be held), bound and listening (a listener conflicts
 * with every other bind of the port, SO_REUSEADDR or not). UDP: bound. IPv6: IPV6_V6ONLY, so
 * "::" holds the IPv6 port only. Returns the socket's fd (close-on-exec); the caller closes it
 * with nlClose/close. Acts in the calling thread's netns.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "tsnet-native.h"

/* Every failure closes the socket and throws with the errno (EADDRINUSE, EADDRNOTAVAIL...). */
static napi_value fail(napi_env env, int sd, const char *syscall, const char *what) {
  int err = errno;
  if (sd >= 0) close(sd);
  tsnet_throw_errno(env, err, syscall, what);
  return NULL;
}

napi_value HoldPort(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4], result;
  int32_t family = 0, port = -1;
  bool stream = false;
  char ip[INET6_ADDRSTRLEN + 1];
  size_t ip_len = 0;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 4 || napi_get_value_int32(env, argv[0], &family) != napi_ok || (family != 4 && family != 6) ||
      napi_get_value_bool(env, argv[1], &stream) != napi_ok ||
      napi_get_value_string_utf8(env, argv[2], ip, sizeof ip, &ip_len) != napi_ok || ip_len == 0 || ip_len >= sizeof ip - 1 ||
      napi_get_value_int32(env, argv[3], &port) != napi_ok || port < 1 || port > 65535) {
    napi_throw_type_error(env, NULL, "holdPort(family 4|6, stream, ip, port 1-65535)");
    return NULL;
  }
  struct sockaddr_storage ss;
  socklen_t ss_len;
  memset(&ss, 0, sizeof ss);
  if (family == 4) {
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    ss_len = sizeof *a;
    if (inet_pton(AF_INET, ip, &a->sin_addr) != 1) { errno = EINVAL; return fail(env, -1, "inet_pton", ip); }
  } else {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons((uint16_t)port);
    ss_len = sizeof *a;
    if (inet_pton(AF_INET6, ip, &a->sin6_addr) != 1) { errno = EINVAL; return fail(env, -1, "inet_pton", ip); }
  }
  int sd = socket(family == 4 ? AF_INET : AF_INET6, (stream ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0);
  if (sd < 0) return fail(env, -1, "socket", ip);
  int one = 1;
  if (stream && setsockopt(sd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0) return fail(env, sd, "setsockopt", "SO_REUSEADDR");
  struct sock_filter drop_all[] = { BPF_STMT(BPF_RET | BPF_K, 0) };
  struct sock_fprog prog = { .len = 1, .filter = drop_all };
  if (setsockopt(sd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) < 0) return fail(env, sd, "setsockopt", "SO_ATTACH_FILTER");
  if (family == 6 && setsockopt(sd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0) return fail(env, sd, "setsockopt", "IPV6_V6ONLY");
  if (bind(sd, (struct sockaddr *)&ss, ss_len) < 0) return fail(env, sd, "bind", ip);
  if (stream && listen(sd, 1) < 0) return fail(env, sd, "listen", ip);
  napi_create_int32(env, sd, &result);
  return result;
}
