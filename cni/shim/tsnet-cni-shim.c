/*
 * tsnet CNI shim: the installed executable behind every tsnet plugin name (tsnet-bridge,
 * tsnet-ipam, ...). It forwards one invocation (plugin name, CNI_* environment, stdin) to
 * tsnetd as one CNI wire frame over the daemon's unix socket ($TSNET_HOST, else
 * $TSNET_RUN/tsnetd.sock, else /run/tsnet/tsnetd.sock): "\0CNI1 <length>\n" + JSON body
 * (docs/api.md). The answer "\0CNI1 <kind> <n> <length>\n" + body is either the plugin's
 * stdout and exit code, or "fallback" (the daemon is in another netns), or "error". When no
 * daemon answers (no socket, refused, fallback, or a daemon that only speaks HTTP) it execs
 * the same plugins in Node (standalone) with the saved stdin: $TSNET_CNI_STANDALONE, else a
 * "tsnet-cni" next to this executable, else the path baked in at build. It acts in no netns
 * itself and leaves nothing. Linked statically: no dynamic loader work per exec.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#ifndef TSNET_NODE
#define TSNET_NODE "/usr/bin/node"
#endif
#ifndef TSNET_CNI_SCRIPT
#define TSNET_CNI_SCRIPT "/usr/lib/tsnet/bin/tsnet-cni"
#endif
#define MAX_STDIN (1 << 20)
#define REPLY_TIMEOUT_S 300
#define WIRE_MAGIC "\0CNI1 "

extern char **environ;

struct buf { char *p; size_t len, cap; };

static void die_json(int code, const char *msg) {
  /* msg is a fixed ASCII text without quotes or backslashes. */
  printf("{\"cniVersion\":\"1.1.0\",\"code\":%d,\"msg\":\"%s\"}\n", code, msg);
  fflush(stdout);
  exit(1);
}

static void put(struct buf *b, const char *s, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) die_json(100, "tsnet shim: out of memory");
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = 0;
}

static void puts_(struct buf *b, const char *s) { put(b, s, strlen(s)); }

/* A JSON string literal of s[0..n): quotes, backslashes and control bytes escaped. */
static void put_json(struct buf *b, const char *s, size_t n) {
  put(b, "\"", 1);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    char esc[8];
    if (c == '"' || c == '\\') { esc[0] = '\\'; esc[1] = (char)c; put(b, esc, 2); }
    else if (c < 0x20) { snprintf(esc, sizeof esc, "\\u%04x", c); put(b, esc, 6); }
    else put(b, (const char *)&s[i], 1);
  }
  put(b, "\"", 1);
}

static void read_all(int fd, struct buf *b, size_t max) {
  char chunk[65536];
  for (;;) {
    ssize_t n = read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (b->len + (size_t)n > max) die_json(6, "tsnet shim: input larger than 1 MiB");
    put(b, chunk, (size_t)n);
  }
  if (!b->p) put(b, "", 0);
}

/*
 * Reads the daemon's answer: until its header's declared length has arrived (the daemon's
 * close follows a moment later and is not waited for), or EOF (an HTTP answer, a truncated one).
 */
static void read_answer(int fd, struct buf *b) {
  const size_t magic = sizeof WIRE_MAGIC - 1;
  char chunk[65536];
  for (;;) {
    ssize_t n = read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (b->len + (size_t)n > 16 * MAX_STDIN) die_json(105, "tsnet shim: answer larger than 16 MiB");
    put(b, chunk, (size_t)n);
    char *nl = b->len > magic ? memchr(b->p, '\n', b->len < 64 ? b->len : 64) : NULL;
    if (!nl || memcmp(b->p, WIRE_MAGIC, magic) != 0) continue;
    char kind[16];
    int code;
    size_t len;
    if (sscanf(b->p + magic, "%15s %d %zu", kind, &code, &len) == 3 && b->len >= (size_t)(nl + 1 - b->p) + len) break;
  }
  if (!b->p) put(b, "", 0);
}

static int write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static const char *socket_path(char *tmp, size_t size) {
  const char *host = getenv("TSNET_HOST");
  if (host && *host) return host;
  const char *run = getenv("TSNET_RUN");
  snprintf(tmp, size, "%s/tsnetd.sock", run && *run ? run : "/run/tsnet");
  return tmp;
}

/* The request body: {"argv0","hostNetns","env":{CNI_*},"stdin"}. */
static void build_body(struct buf *body, const char *name, const struct buf *in) {
  struct stat st;
  char num[32];
  puts_(body, "{\"argv0\":");
  put_json(body, name, strlen(name));
  if (stat("/proc/self/ns/net", &st) == 0) {
    snprintf(num, sizeof num, "%llu", (unsigned long long)st.st_ino);
    puts_(body, ",\"hostNetns\":");
    puts_(body, num);
  }
  puts_(body, ",\"env\":{");
  int first = 1;
  for (char **e = environ; *e; e++) {
    const char *eq = strchr(*e, '=');
    if (strncmp(*e, "CNI_", 4) != 0 || !eq) continue;
    if (!first) puts_(body, ",");
    first = 0;
    put_json(body, *e, (size_t)(eq - *e));
    puts_(body, ":");
    put_json(body, eq + 1, strlen(eq + 1));
  }
  puts_(body, "},\"stdin\":");
  put_json(body, in->p, in->len);
  puts_(body, "}");
}

/* Forwards to tsnetd: the plugin's exit code, or -1 when the caller should run standalone. */
static int forward(const char *name, const struct buf *in) {
  char tmp[PATH_MAX];
  const char *path = socket_path(tmp, sizeof tmp);
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  if (strlen(path) >= sizeof addr.sun_path) return -1;
  strcpy(addr.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) { close(fd); return -1; }

  struct buf body = {0}, req = {0}, res = {0};
  build_body(&body, name, in);
  char head[32];
  put(&req, WIRE_MAGIC, sizeof WIRE_MAGIC - 1); /* starts with NUL: not a C string */
  snprintf(head, sizeof head, "%zu\n", body.len);
  puts_(&req, head);
  put(&req, body.p, body.len);
  struct timeval tv = { .tv_sec = REPLY_TIMEOUT_S };
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (write_all(fd, req.p, req.len) != 0) { close(fd); return -1; } /* nothing was read: safe to fall back */
  read_answer(fd, &res);
  close(fd);

  /* A daemon that predates the wire answers HTTP 400 without running anything: go standalone. */
  if (res.len >= 5 && memcmp(res.p, "HTTP/", 5) == 0) return -1;
  /* Header line: "\0CNI1 <kind> <n> <length>\n", then exactly <length> bytes. */
  size_t magic = sizeof WIRE_MAGIC - 1;
  char *nl = res.len > magic ? memchr(res.p, '\n', res.len < 64 ? res.len : 64) : NULL;
  char kind[16];
  int n = 0;
  size_t len = 0;
  if (!nl || memcmp(res.p, WIRE_MAGIC, magic) != 0) die_json(105, "tsnet shim: tsnetd closed the connection without an answer");
  *nl = 0;
  if (sscanf(res.p + magic, "%15s %d %zu", kind, &n, &len) != 3) die_json(105, "tsnet shim: malformed answer from tsnetd");
  const char *bodyp = nl + 1;
  if (len != res.len - (size_t)(bodyp - res.p)) die_json(105, "tsnet shim: truncated answer from tsnetd");
  if (strcmp(kind, "fallback") == 0) return -1;
  if (strcmp(kind, "exit") != 0 || n < 0) {
    /* The daemon refused the request itself (not the plugin): relay its message on stderr. */
    fprintf(stderr, "tsnet shim: tsnetd refused the request (%d): %.*s\n", n, (int)len, bodyp);
    die_json(105, "tsnet shim: tsnetd refused the request (see stderr)");
  }
  if (write_all(1, bodyp, len) != 0) return 1;
  return n;
}

/* Replaces this process with the standalone Node plugin, stdin restored from memory. */
static void exec_standalone(const char *name, const struct buf *in) {
  int mfd = memfd_create("tsnet-cni-stdin", 0);
  if (mfd < 0 || write_all(mfd, in->p, in->len) != 0 || lseek(mfd, 0, SEEK_SET) != 0 || dup2(mfd, 0) < 0) {
    die_json(100, "tsnet shim: cannot keep stdin for the standalone plugin");
  }
  close(mfd);
  char script[PATH_MAX] = "";
  const char *env = getenv("TSNET_CNI_STANDALONE");
  if (env && *env) snprintf(script, sizeof script, "%s", env);
  if (!*script) {
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
      self[n] = 0;
      snprintf(script, sizeof script, "%s/tsnet-cni", dirname(self));
      if (access(script, R_OK) != 0) script[0] = 0;
    }
  }
  if (!*script) snprintf(script, sizeof script, "%s", TSNET_CNI_SCRIPT);
  /* Node pays ~80 ms per start for extra CA certificates a CNI plugin never uses. */
  unsetenv("NODE_EXTRA_CA_CERTS");
  const char *node = getenv("TSNET_NODE");
  if (!node || !*node) node = access(TSNET_NODE, X_OK) == 0 ? TSNET_NODE : "node";
  char *argv[] = { (char *)node, script, "--plugin", (char *)name, NULL };
  execvp(node, argv);
  die_json(100, "tsnet shim: cannot exec node for the standalone plugin");
}

int main(int argc, char **argv) {
  char *self = argc > 0 ? argv[0] : "tsnet-cni";
  const char *name = (argc > 2 && strcmp(argv[1], "--plugin") == 0) ? argv[2] : basename(self);
  struct buf in = {0};
  read_all(0, &in, MAX_STDIN);
  if (!getenv("TSNET_CNI_NO_DAEMON")) {
    int code = forward(name, &in);
    if (code >= 0) return code;
  }
  exec_standalone(name, &in);
  return 1;
}
