/*
 * conductor-spawner: a tiny fork server for single-shot CGI and http-stdio workers
 * (cgi/spawner.ts talks to it).
 *
 * Why: forking the gateway (a Node process with a large heap) costs far more than forking
 * this small process; lighttpd mod_cgi wins on exactly that. The gateway connects to the
 * spawner's unix socket per request, sends one frame, and the connection itself becomes the
 * CGI's stdin and stdout: no copying through the spawner.
 *
 * Frame (little endian): u32 length of the rest, u32 flags (1 = stderr to stdout),
 * u32 argc, argc NUL-terminated strings, u32 envc, envc strings, cwd string.
 * Answer: u32 pid of the child (its own process group, so the gateway can kill the group),
 * then whatever the CGI prints. The request body follows the frame on the same connection.
 *
 * How it spawns, and why so: the server reads every frame itself (a poll loop over the
 * connections that have not sent a whole frame yet, so one slow client stalls nobody) and
 * starts the program with vfork, not fork. On the Firecracker/PVM guests Conductor was measured
 * on, page-table work is what process creation costs: fork copies the page tables, every
 * page the child then writes faults copy-on-write, and exec tears the copy down again. With
 * vfork the child borrows this process's memory until execve, so none of that happens;
 * BENCHMARKS.md has the numbers. The child only makes system calls before execve (no malloc,
 * no stdio), and the binary is linked with -z now so no lazy symbol binding runs in it.
 *
 * Children are reaped automatically (SIGCHLD ignored) and the spawner is a child subreaper,
 * so whatever a script leaves behind is reparented here and reaped too: no zombies.
 *
 * Function limits (a function's service_directives): the gateway starts one spawner per such
 * function inside a systemd scope carrying its cgroup limits, which every child inherits, and
 * passes its process limits as `--rlimit NAME=SOFT:HARD` (NAME as in RLIMIT_NAME, values a
 * number or "infinity"). Each child sets them before execve (the spawner itself keeps its own,
 * so a small LimitNOFILE= does not starve its accept loop). At start, a probe child sets them
 * all once: one that cannot be set (raising a hard limit needs CAP_SYS_RESOURCE) ends the
 * spawner with a message naming it, before it listens, so the gateway can say why.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_FRAME (1024 * 1024)
/* Connections accepted but still sending their frame; beyond this, accepting waits. */
#define MAX_PENDING 1024

struct pending {
  int fd;
  uint32_t len;   /* frame length once its 4-byte prefix is in */
  uint32_t got;   /* bytes of prefix (got < 4) or of frame (got >= 4: got - 4) read so far */
  char *frame;
};

static struct pending pend[MAX_PENDING];
static int npend;

/* Process limits every child sets before execve (--rlimit). */
#define MAX_RLIMITS 16
static struct { int resource; struct rlimit value; const char *arg; } limits[MAX_RLIMITS];
static int nlimits;

static const struct { const char *name; int resource; } rlimit_names[] = {
  { "CPU", RLIMIT_CPU }, { "FSIZE", RLIMIT_FSIZE }, { "DATA", RLIMIT_DATA }, { "STACK", RLIMIT_STACK },
  { "CORE", RLIMIT_CORE }, { "RSS", RLIMIT_RSS }, { "NOFILE", RLIMIT_NOFILE }, { "AS", RLIMIT_AS },
  { "NPROC", RLIMIT_NPROC }, { "MEMLOCK", RLIMIT_MEMLOCK }, { "LOCKS", RLIMIT_LOCKS },
  { "SIGPENDING", RLIMIT_SIGPENDING }, { "MSGQUEUE", RLIMIT_MSGQUEUE }, { "NICE", RLIMIT_NICE },
  { "RTPRIO", RLIMIT_RTPRIO }, { "RTTIME", RLIMIT_RTTIME },
};

static int parse_limit_value(const char *s, const char *end, rlim_t *out) {
  if ((size_t)(end - s) == 8 && strncmp(s, "infinity", 8) == 0) { *out = RLIM_INFINITY; return 0; }
  if (s == end) return -1;
  rlim_t v = 0;
  for (const char *p = s; p < end; p++) {
    if (*p < '0' || *p > '9') return -1;
    rlim_t next = v * 10 + (rlim_t)(*p - '0');
    if (next / 10 != v) return -1;
    v = next;
  }
  *out = v;
  return 0;
}

/* NAME=SOFT:HARD -> limits[]; -1 when malformed. */
static int add_limit(const char *arg) {
  const char *eq = strchr(arg, '='), *colon = eq ? strchr(eq, ':') : NULL;
  if (!eq || !colon || nlimits == MAX_RLIMITS) return -1;
  int resource = -1;
  size_t name_len = (size_t)(eq - arg);
  for (size_t i = 0; i < sizeof rlimit_names / sizeof rlimit_names[0]; i++) {
    const char *name = rlimit_names[i].name;
    if (strlen(name) == name_len && strncmp(arg, name, name_len) == 0) resource = rlimit_names[i].resource;
  }
  if (resource < 0) return -1;
  struct rlimit v;
  const char *hard = colon + 1;
  if (parse_limit_value(eq + 1, colon, &v.rlim_cur) < 0 || parse_limit_value(hard, hard + strlen(hard), &v.rlim_max) < 0) return -1;
  limits[nlimits].resource = resource;
  limits[nlimits].value = v;
  limits[nlimits].arg = arg;
  nlimits++;
  return 0;
}

/* In a child: the index of the first limit that cannot be set, or -1. System calls only (vfork). */
static int apply_limits(void) {
  for (int i = 0; i < nlimits; i++) {
    if (setrlimit(limits[i].resource, &limits[i].value) < 0) return i;
  }
  return -1;
}

/* Sets every limit once in a forked child: a limit the children could not get fails the start. */
static int probe_limits(void) {
  if (nlimits == 0) return 0;
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) { int bad = apply_limits(); _exit(bad < 0 ? 0 : 10 + bad); }
  int status;
  while (waitpid(pid, &status, 0) < 0) if (errno != EINTR) return -1;
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return 0;
  if (WIFEXITED(status) && WEXITSTATUS(status) >= 10) {
    int i = WEXITSTATUS(status) - 10;
    struct rlimit now;
    getrlimit(limits[i].resource, &now);
    char cur[32] = "infinity";
    if (now.rlim_max != RLIM_INFINITY) snprintf(cur, sizeof cur, "%llu", (unsigned long long)now.rlim_max);
    fprintf(stderr, "conductor-spawner: cannot set Limit%s: the hard limit here is %s, "
            "and raising a hard limit needs CAP_SYS_RESOURCE (lower the value)\n", limits[i].arg, cur);
  }
  return -1;
}

/* Splits count NUL-terminated strings starting at *p (bounded by end) into a NULL-ended array. */
static char **take_strings(char **p, char *end, uint32_t count) {
  if (count > 65536) return NULL;
  char **out = calloc((size_t)count + 1, sizeof(char *));
  if (!out) return NULL;
  for (uint32_t i = 0; i < count; i++) {
    char *nul = memchr(*p, 0, (size_t)(end - *p));
    if (!nul) { free(out); return NULL; }
    out[i] = *p;
    *p = nul + 1;
  }
  return out;
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

/* Starts the frame's program with conn as its stdin and stdout. Runs in the server. */
static void spawn(int conn, char *frame, uint32_t len) {
  char *p = frame, *end = frame + len;
  uint32_t flags, argc, envc;
  memcpy(&flags, p, 4); p += 4;
  memcpy(&argc, p, 4); p += 4;
  char **argv = take_strings(&p, end, argc);
  if (!argv || argc == 0 || end - p < 4) { free(argv); return; }
  memcpy(&envc, p, 4); p += 4;
  char **envp = take_strings(&p, end, envc);
  char **cwd = envp ? take_strings(&p, end, 1) : NULL;
  if (!envp || !cwd) { free(argv); free(envp); return; }

  sigset_t none;
  sigemptyset(&none);
  pid_t child = vfork();
  if (child == 0) {
    /* The child shares our memory until execve: system calls only, and _exit. Signal
     * dispositions and the mask are its own (no CLONE_SIGHAND). */
    signal(SIGCHLD, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    sigprocmask(SIG_SETMASK, &none, NULL);
    setpgid(0, 0);
    uint32_t pid = (uint32_t)getpid();
    if (write_full(conn, &pid, 4) < 0) _exit(1);
    if (apply_limits() >= 0) _exit(126);
    if (cwd[0][0] != 0 && chdir(cwd[0]) < 0) _exit(126);
    dup2(conn, 0);
    dup2(conn, 1);
    if (flags & 1) dup2(conn, 2);
    execve(argv[0], argv, envp);
    _exit(127);
  }
  /* child < 0 (no process): closing conn tells the gateway, which answers 502. */
  free(argv);
  free(envp);
  free(cwd);
}

static void drop(int i) {
  close(pend[i].fd);
  free(pend[i].frame);
  pend[i] = pend[--npend];
}

/* Reads what pend[i] has sent, without blocking and without reading past the frame: the
 * request body that follows belongs to the script. A complete frame is spawned and pend[i]
 * dropped (the last entry moves into slot i). */
static void advance(int i) {
  struct pending *c = &pend[i];
  for (;;) {
    ssize_t r;
    if (c->got < 4) {
      r = recv(c->fd, (char *)&c->len + c->got, 4 - c->got, MSG_DONTWAIT);
    } else {
      r = recv(c->fd, c->frame + (c->got - 4), c->len - (c->got - 4), MSG_DONTWAIT);
    }
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (r <= 0) { drop(i); return; }
    c->got += (uint32_t)r;
    if (c->got == 4) {
      if (c->len < 12 || c->len > MAX_FRAME || !(c->frame = malloc(c->len))) { drop(i); return; }
    }
    if (c->got >= 4 && c->got - 4 == c->len) {
      spawn(c->fd, c->frame, c->len);
      drop(i);
      return;
    }
  }
}

int main(int argc, char **argv) {
  static const char usage[] = "usage: conductor-spawner SOCKET_PATH [--rlimit NAME=SOFT:HARD]...\n";
  if (argc < 2 || argc % 2 != 0) { write(2, usage, sizeof usage - 1); return 2; }
  for (int i = 2; i < argc; i += 2) {
    if (strcmp(argv[i], "--rlimit") != 0 || add_limit(argv[i + 1]) < 0) {
      fprintf(stderr, "conductor-spawner: bad argument %s %s\n", argv[i], argv[i + 1]);
      return 2;
    }
  }
  /* Before SIGCHLD is ignored: the probe's exit status is read with waitpid. */
  if (probe_limits() < 0) return 3;
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  /* The gateway going away ends the spawner too. */
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  signal(SIGCHLD, SIG_IGN);
  signal(SIGPIPE, SIG_IGN);
  int srv = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  if (strlen(argv[1]) >= sizeof addr.sun_path) return 2;
  strcpy(addr.sun_path, argv[1]);
  unlink(argv[1]);
  mode_t old = umask(0077);
  if (bind(srv, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(srv, 1024) < 0) return 1;
  umask(old);
  /* malloc's first-use setup runs here once, not in the loop. */
  free(malloc(1));

  static struct pollfd fds[MAX_PENDING + 1];
  for (;;) {
    int n = 0;
    /* Pending connections first: fds[k] is pend[k]. */
    for (int i = 0; i < npend; i++) fds[n++] = (struct pollfd){ .fd = pend[i].fd, .events = POLLIN };
    int srv_at = -1;
    if (npend < MAX_PENDING) { srv_at = n; fds[n++] = (struct pollfd){ .fd = srv, .events = POLLIN }; }
    if (poll(fds, (nfds_t)n, -1) < 0) { if (errno == EINTR) continue; return 1; }
    /* Backwards: advance() may move the last pending entry into slot i. */
    for (int i = npend - 1; i >= 0; i--) {
      if (fds[i].revents != 0) advance(i);
    }
    if (srv_at >= 0 && fds[srv_at].revents != 0) {
      while (npend < MAX_PENDING) {
        /* Blocking sockets (the script reads and writes them as it likes), closed on exec
         * until dup2 makes one the script's stdin/stdout. */
        int conn = accept4(srv, NULL, NULL, SOCK_CLOEXEC);
        if (conn < 0) {
          if (errno == EINTR || errno == ECONNABORTED) continue;
          if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EMFILE || errno == ENFILE) break;
          return 1;
        }
        pend[npend] = (struct pending){ .fd = conn };
        npend++;
        /* The gateway usually wrote its frame already: try at once, saving a poll round. */
        advance(npend - 1);
      }
    }
  }
}
