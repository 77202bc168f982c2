/*
 * tsnet exit monitor: runs one command (tsnetd's `runc run --keep ...` of a container) as its
 * child, and when the child ends writes its exit status (128 + the signal when it was killed)
 * to STATUS-FILE, then exits with that status. tsnetd starts it in a session of its own, so
 * the status outlives a daemon that was killed or stopped meanwhile: the daemon that comes
 * back reads the file instead of not knowing the code. It writes nothing on stdout or stderr
 * (they are the container's log) except why the command could not be started.
 * Usage: tsnet-exit-monitor STATUS-FILE ARGV...
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* Writes "<code>\n" to path by a temporary file and a rename: a reader sees all or nothing. */
static void write_status(const char *path, int code) {
  char tmp[PATH_MAX];
  char text[16];
  if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) return;
  int len = snprintf(text, sizeof text, "%d\n", code);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return;
  int ok = write(fd, text, (size_t)len) == len && fsync(fd) == 0;
  if (close(fd) != 0) ok = 0;
  if (!ok || rename(tmp, path) != 0) unlink(tmp);
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: tsnet-exit-monitor STATUS-FILE ARGV...\n");
    return 2;
  }
  pid_t child = fork();
  if (child < 0) {
    fprintf(stderr, "tsnet-exit-monitor: fork: %s\n", strerror(errno));
    return 125;
  }
  if (child == 0) {
    execvp(argv[2], &argv[2]);
    fprintf(stderr, "tsnet-exit-monitor: exec %s: %s\n", argv[2], strerror(errno));
    _exit(127);
  }
  int status = 0;
  while (waitpid(child, &status, 0) < 0) {
    if (errno != EINTR) return 125; /* no status to report: the daemon falls back to "unknown" */
  }
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  write_status(argv[1], code);
  return code;
}
