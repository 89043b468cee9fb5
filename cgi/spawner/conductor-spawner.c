/*
 * conductor-spawner: a tiny fork server for single-shot CGI (cgi/spawner.ts talks to it).
 *
 * Why: forking the gateway (a Node process with a large heap) costs far more than forking
 * this 20 KB process; lighttpd mod_cgi wins on exactly that. The gateway connects to the
 * spawner's unix socket per request, sends one frame, and the connection itself becomes the
 * CGI's stdin and stdout: no copying through the spawner.
 *
 * Frame (little endian): u32 length of the rest, u32 flags (1 = stderr to stdout),
 * u32 argc, argc NUL-terminated strings, u32 envc, envc strings, cwd string.
 * Answer: u32 pid of the child (its own process group, so the gateway can kill the group),
 * then whatever the CGI prints. The request body follows the frame on the same connection.
 *
 * Children are reaped automatically (SIGCHLD ignored) and the spawner is a child subreaper,
 * so whatever a script leaves behind is reparented here and reaped too: no zombies.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_FRAME (1024 * 1024)

static int read_full(int fd, void *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, (char *)buf + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    got += (size_t)r;
  }
  return 0;
}

static int write_full(int fd, const void *buf, size_t n) {
  size_t put = 0;
  while (put < n) {
    ssize_t w = write(fd, (const char *)buf + put, n - put);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    put += (size_t)w;
  }
  return 0;
}

/* Splits count NUL-terminated strings starting at *p (bounded by end) into a NULL-ended array. */
static char **take_strings(char **p, char *end, uint32_t count) {
  if (count > 65536) return NULL;
  char **out = calloc((size_t)count + 1, sizeof(char *));
  if (!out) return NULL;
  for (uint32_t i = 0; i < count; i++) {
    char *nul = memchr(*p, 0, (size_t)(end - *p));
    if (!nul) return NULL;
    out[i] = *p;
    *p = nul + 1;
  }
  return out;
}

static void serve(int conn) {
  uint32_t len;
  if (read_full(conn, &len, 4) < 0 || len < 12 || len > MAX_FRAME) _exit(1);
  char *frame = malloc(len);
  if (!frame || read_full(conn, frame, len) < 0) _exit(1);
  char *p = frame, *end = frame + len;
  uint32_t flags, argc, envc;
  memcpy(&flags, p, 4); p += 4;
  memcpy(&argc, p, 4); p += 4;
  char **argv = take_strings(&p, end, argc);
  if (!argv || argc == 0 || end - p < 4) _exit(1);
  memcpy(&envc, p, 4); p += 4;
  char **envp = take_strings(&p, end, envc);
  char **cwd = take_strings(&p, end, 1);
  if (!envp || !cwd) _exit(1);

  setpgid(0, 0);
  signal(SIGCHLD, SIG_DFL);
  signal(SIGPIPE, SIG_DFL);
  uint32_t pid = (uint32_t)getpid();
  if (write_full(conn, &pid, 4) < 0) _exit(1);
  if (cwd[0][0] != 0 && chdir(cwd[0]) < 0) _exit(126);
  dup2(conn, 0);
  dup2(conn, 1);
  if (flags & 1) dup2(conn, 2);
  if (conn > 2) close(conn);
  execve(argv[0], argv, envp);
  _exit(127);
}

int main(int argc, char **argv) {
  if (argc != 2) { static const char u[] = "usage: conductor-spawner SOCKET_PATH\n"; write(2, u, sizeof u - 1); return 2; }
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  /* The gateway going away ends the spawner too. */
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  signal(SIGCHLD, SIG_IGN);
  signal(SIGPIPE, SIG_IGN);
  int srv = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  if (strlen(argv[1]) >= sizeof addr.sun_path) return 2;
  strcpy(addr.sun_path, argv[1]);
  unlink(argv[1]);
  mode_t old = umask(0077);
  if (bind(srv, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(srv, 1024) < 0) return 1;
  umask(old);
  for (;;) {
    int conn = accept4(srv, NULL, NULL, 0);
    if (conn < 0) { if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE) continue; return 1; }
    pid_t child = fork();
    if (child == 0) { close(srv); serve(conn); }
    close(conn);
  }
}
