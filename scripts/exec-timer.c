/*
 * exec-timer: runs one CNI plugin invocation the way a Go runtime's os/exec does (stdin and
 * stdout pipes, fork + exec, wait) and measures only that: from fork to the child's exit
 * after its stdout closed. Used by `npm run bench:cni` for ours and the reference plugins
 * alike, so the harness's own process start-up (Node's spawn: ~1.7 ms here) is not counted.
 * Usage: exec-timer PLUGIN < stdin; prints "<elapsed ns> <exit code>\n" then the plugin's
 * stdout. The environment passes through unchanged. Compiled by the bench with cc.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char *slurp(int fd, size_t *len) {
  size_t cap = 65536;
  char *p = malloc(cap);
  *len = 0;
  for (ssize_t n; p && (n = read(fd, p + *len, cap - *len)) > 0;) {
    *len += (size_t)n;
    if (*len == cap) p = realloc(p, cap *= 2);
  }
  if (!p) { perror("exec-timer: out of memory"); exit(2); }
  return p;
}

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv) {
  if (argc != 2) { fprintf(stderr, "usage: exec-timer PLUGIN < stdin\n"); return 2; }
  size_t in_len, out_len;
  char *in = slurp(0, &in_len);
  int to_child[2], from_child[2];
  if (pipe2(to_child, O_CLOEXEC) || pipe2(from_child, O_CLOEXEC)) { perror("exec-timer: pipe"); return 2; }
  long long t0 = now_ns();
  pid_t pid = fork();
  if (pid < 0) { perror("exec-timer: fork"); return 2; }
  if (pid == 0) {
    dup2(to_child[0], 0);
    dup2(from_child[1], 1);
    execv(argv[1], (char *[]){ argv[1], NULL });
    _exit(127);
  }
  close(to_child[0]);
  close(from_child[1]);
  for (size_t off = 0; off < in_len;) {
    ssize_t w = write(to_child[1], in + off, in_len - off);
    if (w <= 0) break;
    off += (size_t)w;
  }
  close(to_child[1]);
  char *out = slurp(from_child[0], &out_len);
  int status;
  waitpid(pid, &status, 0);
  long long t1 = now_ns();
  printf("%lld %d\n", t1 - t0, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
  fwrite(out, 1, out_len, stdout);
  return 0;
}
