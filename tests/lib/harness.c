#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "clock.h"
#include "harness.h"
#include "hex.h"
#include "store.h"

#define CERTS_DIR MINYI_BINARY_DIR "/tests/certs"
#define CLUSTERS_DIR MINYI_BINARY_DIR "/tests/clusters"
#define GATEWAYS_DIR MINYI_BINARY_DIR "/tests/gateways"
#define MIGRATIONS_DIR MINYI_SOURCE_DIR "/storage/migrations"
#define DEFAULT_CORPUS_DIR MINYI_SOURCE_DIR "/../shared/corpus"

#define PG_USER "postgres"           /* the OS user that runs clusters under root */
#define PG_SUPERUSER "postgres"      /* the database superuser initdb creates */
#define PG_CTL_WAIT_S "60"           /* pg_ctl -t: seconds to wait for start/stop */
#define GW_READY_TIMEOUT_MS 20000    /* minyid must say "minyid ready" within this */
#define GW_STOP_TIMEOUT_MS 60000     /* and exit within this after a signal */
#define POLL_STEP_MS 20
#define HTTP_TIMEOUT_MS 10000        /* tgw_http_get waits this long for the whole answer */
#define MAX_CLUSTERS 16              /* clusters one test program may have at once */
#define MAX_GATEWAYS 16
#define TCERT_BUFS 8                 /* tcert results usable in one expression */
#define CORPUS_MAX_BYTES (16u << 20)
#define GUARDIAN_STOP_WAIT_MS 10000  /* wait for a postmaster after SIGQUIT before SIGKILL */

/* ---- small helpers --------------------------------------------------------- */

static bool fmt(char *buf, size_t len, const char *f, ...) __attribute__((format(printf, 3, 4)));

/* snprintf that reports truncation as failure, so no path is ever cut short. */
static bool fmt(char *buf, size_t len, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    int n = vsnprintf(buf, len, f, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= len) {
        fprintf(stderr, "harness: string too long for its buffer: %s\n", f);
        return false;
    }
    return true;
}

static bool is_root(void)
{
    return geteuid() == 0;
}

static bool write_file(const char *path, const char *text, mode_t mode, bool append)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC), mode);
    if (fd < 0) {
        fprintf(stderr, "harness: cannot open %s: %s\n", path, strerror(errno));
        return false;
    }
    size_t len = strlen(text), off = 0;
    while (off < len) {
        ssize_t n = write(fd, text + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            fprintf(stderr, "harness: cannot write %s: %s\n", path, strerror(errno));
            close(fd);
            return false;
        }
        off += (size_t)n;
    }
    return close(fd) == 0;
}

/* Reads a whole file (at most max bytes) into a NUL-terminated malloc'd buffer. */
static char *read_file(const char *path, size_t max, size_t *len_out)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *buf = malloc(max + 1);
    size_t n = buf ? fread(buf, 1, max + 1, f) : 0;
    bool bad = buf == NULL || ferror(f) || n > max;
    fclose(f);
    if (bad) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    if (len_out)
        *len_out = n;
    return buf;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    if (remove(path) != 0 && errno != ENOENT)
        fprintf(stderr, "harness: cannot remove %s: %s\n", path, strerror(errno));
    return 0;
}

static void rm_rf(const char *path)
{
    if (path[0] != '\0')
        nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static bool mkdir_p(const char *path, mode_t mode)
{
    char tmp[PATH_MAX];
    if (!fmt(tmp, sizeof(tmp), "%s", path))
        return false;
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, mode) != 0 && errno != EEXIST)
            return false;
        *p = '/';
    }
    return mkdir(tmp, mode) == 0 || errno == EEXIST;
}

/* Gives a file or directory to the postgres user, so initdb and the
 * postmaster (which refuse to run as root) can write there. */
static bool give_to_postgres(const char *path)
{
    if (!is_root())
        return true;
    struct passwd *pw = getpwnam(PG_USER);
    if (pw == NULL) {
        fprintf(stderr, "harness: running as root but there is no '%s' user\n", PG_USER);
        return false;
    }
    if (chown(path, pw->pw_uid, pw->pw_gid) != 0) {
        fprintf(stderr, "harness: chown %s: %s\n", path, strerror(errno));
        return false;
    }
    return true;
}

/* A TCP port on the loopback interface that nobody listens on right now. */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = 0,
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t sl = sizeof(sa);
    int port = -1;
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &sl) == 0)
        port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

/* Directory of the PostgreSQL server programs: MINYI_PG_BINDIR, else the
 * newest /usr/lib/postgresql/N/bin (Debian's layout), else PATH. */
const char *tpg_bindir(void)
{
    static char dir[PATH_MAX];
    if (dir[0] != '\0')
        return dir;
    const char *env = getenv("MINYI_PG_BINDIR");
    if (env != NULL && env[0] != '\0')
        return fmt(dir, sizeof(dir), "%s", env) ? dir : "";
    DIR *d = opendir("/usr/lib/postgresql");
    long best = -1;
    if (d != NULL) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            char *end;
            long v = strtol(e->d_name, &end, 10);
            char probe[PATH_MAX];
            if (end != e->d_name && *end == '\0' && v > best &&
                fmt(probe, sizeof(probe), "/usr/lib/postgresql/%ld/bin/initdb", v) &&
                access(probe, X_OK) == 0)
                best = v;
        }
        closedir(d);
    }
    if (best >= 0 && fmt(dir, sizeof(dir), "/usr/lib/postgresql/%ld/bin", best))
        return dir;
    dir[0] = '\0';
    return dir;
}

/* Runs a PostgreSQL program (as postgres when we are root) with its output
 * appended to cmdlog, in cwd.  True when it exited 0; otherwise the log is
 * copied to stderr. */
static bool run_pg(const char *cwd, const char *cmdlog, const char *prog, const char *const *args)
{
    char path[PATH_MAX];
    const char *bindir = tpg_bindir();
    if (bindir[0] != '\0') {
        if (!fmt(path, sizeof(path), "%s/%s", bindir, prog))
            return false;
    } else if (!fmt(path, sizeof(path), "%s", prog)) {
        return false;
    }
    const char *argv[32];
    size_t n = 0;
    if (is_root()) {
        argv[n++] = "runuser";
        argv[n++] = "-u";
        argv[n++] = PG_USER;
        argv[n++] = "--";
    }
    argv[n++] = path;
    for (size_t i = 0; args[i] != NULL; i++) {
        if (n + 2 > sizeof(argv) / sizeof(argv[0]))
            return false;
        argv[n++] = args[i];
    }
    argv[n] = NULL;

    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "harness: fork: %s\n", strerror(errno));
        return false;
    }
    if (pid == 0) {
        int fd = open(cmdlog, O_WRONLY | O_CREAT | O_APPEND, 0644);
        int nul = open("/dev/null", O_RDONLY);
        if (fd < 0 || nul < 0 || dup2(nul, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0 ||
            chdir(cwd) != 0)
            _exit(127);
        /* The postmaster pg_ctl starts lives on; it must not keep our
         * pipes open, or a reader waiting for their end would wait forever. */
        close_range(3, ~0u, 0);
        execvp(argv[0], (char *const *)argv);
        dprintf(2, "harness: exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return false;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return true;
    fprintf(stderr, "harness: %s %s failed; its output:\n", prog, args[0] ? args[0] : "");
    char *text = read_file(cmdlog, 1u << 20, NULL);
    if (text != NULL)
        fputs(text, stderr);
    free(text);
    return false;
}

/* ---- cleanup of what a failed test leaves behind -------------------------- */

/* Copies, not pointers: a test's struct tpg may live on a stack frame that
 * cmocka's longjmp has already left when the exit handler runs. */
struct live_cluster {
    bool used;
    pid_t owner;             /* a forked child must not stop its parent's clusters */
    char root[PATH_MAX];
    char data[PATH_MAX];
};
static struct live_cluster live_clusters[MAX_CLUSTERS];
struct live_gateway {
    pid_t pid;
    pid_t owner;
    char log[PATH_MAX];
};
static struct live_gateway live_gateways[MAX_GATEWAYS];
static bool exit_handler_set;
static int guardian_fd = -1;
static pid_t guardian_owner;         /* the process guardian_fd belongs to */

static void exit_cleanup(void);

static void ensure_exit_handler(void)
{
    if (!exit_handler_set) {
        exit_handler_set = true;
        atexit(exit_cleanup);
    }
}

/* The guardian: a child that outlives an abnormal death of the test
 * process.  It learns of each cluster ("+root\n") and of its removal
 * ("-root\n") through a socket; when it reaches end-of-file (the test
 * process is gone, however it died) it stops the clusters that remain with
 * SIGQUIT (PostgreSQL's immediate shutdown) and removes their directories. */
static void guardian_stop_cluster(const char *root)
{
    char pidfile[PATH_MAX], marker[PATH_MAX];
    const char *base = strrchr(root, '/');
    if (fmt(pidfile, sizeof(pidfile), "%s/data/postmaster.pid", root)) {
        char *text = read_file(pidfile, 4096, NULL);
        long pid = text ? strtol(text, NULL, 10) : 0;
        free(text);
        if (pid > 1 && kill((pid_t)pid, SIGQUIT) == 0) {
            long long deadline = clock_mono_ms() + GUARDIAN_STOP_WAIT_MS;
            while (kill((pid_t)pid, 0) == 0 && clock_mono_ms() < deadline)
                clock_sleep_ms(POLL_STEP_MS);
            if (kill((pid_t)pid, 0) == 0)
                kill((pid_t)pid, SIGKILL);
        }
    }
    rm_rf(root);
    if (base != NULL && fmt(marker, sizeof(marker), "%s%s", CLUSTERS_DIR, base))
        unlink(marker);
}

static void guardian_main(int fd)
{
    static char roots[MAX_CLUSTERS][PATH_MAX];
    char line[PATH_MAX + 2];
    size_t len = 0;
    /* A Ctrl-C, or a kill of the whole process group (as a job control
     * shell or a CI runner may send), must not take the guardian with the
     * test process: it has to live on to clean up after it. */
    setsid();
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    for (;;) {
        char c;
        ssize_t n = read(fd, &c, 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (c != '\n') {
            if (len < sizeof(line) - 1)
                line[len++] = c;
            continue;
        }
        line[len] = '\0';
        len = 0;
        for (size_t i = 0; i < MAX_CLUSTERS; i++) {
            if (line[0] == '+' && roots[i][0] == '\0') {
                (void)fmt(roots[i], sizeof(roots[i]), "%s", line + 1);
                break;
            }
            if (line[0] == '-' && strcmp(roots[i], line + 1) == 0) {
                roots[i][0] = '\0';
                break;
            }
        }
    }
    for (size_t i = 0; i < MAX_CLUSTERS; i++) {
        if (roots[i][0] != '\0')
            guardian_stop_cluster(roots[i]);
    }
    _exit(0);
}

static void guardian_tell(char op, const char *root)
{
    /* A child forked by a test watches its own clusters: the parent's
     * guardian would wait for the parent, not for the child. */
    if (guardian_fd >= 0 && guardian_owner != getpid()) {
        close(guardian_fd);
        guardian_fd = -1;
    }
    if (guardian_fd < 0) {
        int fds[2];
        /* A socket pair rather than a pipe: send() with MSG_NOSIGNAL cannot
         * kill the test with SIGPIPE should the guardian be gone. */
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
            return;
        fflush(NULL);
        pid_t pid = fork();
        if (pid < 0) {
            close(fds[0]);
            close(fds[1]);
            return;
        }
        if (pid == 0) {
            /* Let ctest see the end of the test's output as soon as the test
             * process exits: the guardian keeps no copy of stdout nor of any
             * other descriptor but its pipe and stderr. */
            int nul = open("/dev/null", O_WRONLY);
            if (nul < 0 || dup2(nul, 1) < 0 || dup2(fds[0], 3) < 0)
                _exit(1);
            close_range(4, ~0u, 0);
            guardian_main(3);
        }
        close(fds[0]);
        guardian_fd = fds[1];
        guardian_owner = getpid();
    }
    char msg[PATH_MAX + 2];
    if (fmt(msg, sizeof(msg), "%c%s\n", op, root) &&
        send(guardian_fd, msg, strlen(msg), MSG_NOSIGNAL) < 0)
        fprintf(stderr, "harness: cannot reach the cleanup guardian: %s\n", strerror(errno));
}

static bool marker_path(const char *root, char *out, size_t len)
{
    const char *base = strrchr(root, '/');
    return base != NULL && fmt(out, len, "%s%s", CLUSTERS_DIR, base);
}

static void cluster_register(const struct tpg *pg)
{
    ensure_exit_handler();
    for (size_t i = 0; i < MAX_CLUSTERS; i++) {
        if (!live_clusters[i].used) {
            live_clusters[i].used = true;
            live_clusters[i].owner = getpid();
            memcpy(live_clusters[i].root, pg->root, PATH_MAX);
            memcpy(live_clusters[i].data, pg->data, PATH_MAX);
            break;
        }
    }
    guardian_tell('+', pg->root);
    char marker[PATH_MAX], text[2 * PATH_MAX + 2];
    if (mkdir_p(CLUSTERS_DIR, 0755) && marker_path(pg->root, marker, sizeof(marker)) &&
        fmt(text, sizeof(text), "%s\n%s\n", pg->root, pg->data))
        (void)write_file(marker, text, 0644, false);
}

static void cluster_unregister(const char *root)
{
    for (size_t i = 0; i < MAX_CLUSTERS; i++) {
        if (live_clusters[i].used && strcmp(live_clusters[i].root, root) == 0)
            live_clusters[i].used = false;
    }
    guardian_tell('-', root);
    char marker[PATH_MAX];
    if (marker_path(root, marker, sizeof(marker)))
        unlink(marker);
}

static void gateway_register(pid_t pid, const char *log)
{
    ensure_exit_handler();
    for (size_t i = 0; i < MAX_GATEWAYS; i++) {
        if (live_gateways[i].pid == 0) {
            live_gateways[i].pid = pid;
            live_gateways[i].owner = getpid();
            memcpy(live_gateways[i].log, log, PATH_MAX);
            return;
        }
    }
}

static void gateway_unregister(pid_t pid)
{
    for (size_t i = 0; i < MAX_GATEWAYS; i++) {
        if (live_gateways[i].pid == pid)
            live_gateways[i].pid = 0;
    }
}

static void dump_file(const char *path)
{
    char *text = read_file(path, 64u << 20, NULL);
    fprintf(stderr, "---- %s ----\n%s---- end of log ----\n", path, text ? text : "(none)\n");
    free(text);
}

/* At exit, stop whatever a test left running: gateways first, so the
 * clusters do not wait for their connections. */
static void exit_cleanup(void)
{
    for (size_t i = 0; i < MAX_GATEWAYS; i++) {
        struct live_gateway *g = &live_gateways[i];
        int status;
        if (g->pid <= 0 || g->owner != getpid())
            continue;
        /* A gateway that died while its test still counted on it (a crash,
         * a sanitizer report) is the likely cause of the test's failure:
         * show why. */
        if (waitpid(g->pid, &status, WNOHANG) == g->pid) {
            fprintf(stderr, "harness: minyid (pid %ld) died during the test: %s %d\n",
                    (long)g->pid, WIFEXITED(status) ? "exit status" : "signal",
                    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
            dump_file(g->log);
        } else {
            kill(g->pid, SIGKILL);
            waitpid(g->pid, NULL, 0);
        }
        g->pid = 0;
    }
    for (size_t i = 0; i < MAX_CLUSTERS; i++) {
        if (!live_clusters[i].used || live_clusters[i].owner != getpid())
            continue;
        struct tpg pg = { .running = true };
        memcpy(pg.root, live_clusters[i].root, PATH_MAX);
        memcpy(pg.data, live_clusters[i].data, PATH_MAX);
        fprintf(stderr, "harness: stopping cluster %s left by a test\n", pg.root);
        tpg_destroy(&pg);
    }
}

/* ---- PostgreSQL ------------------------------------------------------------ */

static bool cmdlog_path(const struct tpg *pg, char *out, size_t len)
{
    return fmt(out, len, "%s/commands.log", pg->root);
}

static bool pg_ctl(struct tpg *pg, const char *action, const char *mode)
{
    char cmdlog[PATH_MAX];
    if (!cmdlog_path(pg, cmdlog, sizeof(cmdlog)))
        return false;
    const char *start[] = { action, "-D", pg->data, "-l", pg->log, "-w", "-t", PG_CTL_WAIT_S, NULL };
    const char *stop[] = { action, "-D", pg->data, "-m", mode, "-w", "-t", PG_CTL_WAIT_S, NULL };
    return run_pg(pg->root, cmdlog, "pg_ctl", strcmp(action, "start") == 0 ? start : stop);
}

bool tpg_start(struct tpg *pg)
{
    char cmdlog[PATH_MAX], conf[PATH_MAX], settings[2 * PATH_MAX];
    memset(pg, 0, sizeof(*pg));
    if (!fmt(pg->root, sizeof(pg->root), "/tmp/minyi-pg-XXXXXX") || mkdtemp(pg->root) == NULL) {
        fprintf(stderr, "harness: mkdtemp: %s\n", strerror(errno));
        return false;
    }
    if (!fmt(pg->data, sizeof(pg->data), "%s/data", pg->root) ||
        !fmt(pg->sock, sizeof(pg->sock), "%s/sock", pg->root) ||
        !fmt(pg->log, sizeof(pg->log), "%s/postgres.log", pg->root) ||
        !cmdlog_path(pg, cmdlog, sizeof(cmdlog)) ||
        !fmt(conf, sizeof(conf), "%s/postgresql.conf", pg->data)) {
        rmdir(pg->root);
        return false;
    }
    /* Registered before initdb, so even a half-made cluster is removed. */
    cluster_register(pg);
    if (mkdir(pg->sock, 0700) != 0 || !give_to_postgres(pg->sock) || !give_to_postgres(pg->root))
        goto fail;
    pg->port = free_port();
    if (pg->port <= 0)
        goto fail;

    const char *initdb[] = { "-D", pg->data, "-U", PG_SUPERUSER, "-A", "trust", "-E", "UTF8",
                             "--no-locale", "--no-sync", NULL };
    if (!run_pg(pg->root, cmdlog, "initdb", initdb))
        goto fail;
    /* Unix socket only, in a directory of our own: two test runs can never
     * meet on a port, and nothing listens on TCP.  fsync and
     * synchronous_commit are stated explicitly because minyid checks them. */
    if (!fmt(settings, sizeof(settings),
             "\n# minyi test cluster\n"
             "listen_addresses = ''\n"
             "port = %d\n"
             "unix_socket_directories = '%s'\n"
             "fsync = on\n"
             "synchronous_commit = on\n"
             "max_connections = 200\n"
             "log_min_messages = warning\n",
             pg->port, pg->sock) ||
        !write_file(conf, settings, 0600, true))
        goto fail;
    if (!pg_ctl(pg, "start", NULL))
        goto fail;
    pg->running = true;
    return true;
fail:
    tpg_destroy(pg);
    return false;
}

bool tpg_stop(struct tpg *pg, const char *mode)
{
    if (!pg->running)
        return true;
    if (!pg_ctl(pg, "stop", mode))
        return false;
    pg->running = false;
    return true;
}

bool tpg_start_again(struct tpg *pg)
{
    if (pg->running)
        return true;
    if (!pg_ctl(pg, "start", NULL))
        return false;
    pg->running = true;
    return true;
}

void tpg_destroy(struct tpg *pg)
{
    if (pg->root[0] == '\0')
        return;
    if (pg->running && !tpg_stop(pg, "fast") && !tpg_stop(pg, "immediate"))
        fprintf(stderr, "harness: cluster %s did not stop\n", pg->root);
    pg->running = false;
    rm_rf(pg->root);
    cluster_unregister(pg->root);
    pg->root[0] = '\0';
}

static PGconn *connect_db(const char *conninfo)
{
    PGconn *conn = PQconnectdb(conninfo);
    if (conn == NULL || PQstatus(conn) != CONNECTION_OK) {
        fprintf(stderr, "harness: cannot connect (%s): %s\n", conninfo,
                conn ? PQerrorMessage(conn) : "out of memory");
        PQfinish(conn);
        return NULL;
    }
    return conn;
}

bool tpg_create_db(struct tpg *pg, const char *name, char *conninfo, size_t len)
{
    char admin[PATH_MAX + 128], sql[256];
    PGconn *conn = NULL;
    PGresult *res = NULL;
    char *ident = NULL;
    bool ok = false;

    if (!fmt(admin, sizeof(admin), "host=%s port=%d dbname=postgres user=%s", pg->sock,
             pg->port, PG_SUPERUSER))
        goto fail;
    conn = connect_db(admin);
    if (conn == NULL)
        goto fail;
    /* A database name cannot be a query parameter; it is quoted as an
     * identifier instead. */
    ident = PQescapeIdentifier(conn, name, strlen(name));
    if (ident == NULL || !fmt(sql, sizeof(sql), "CREATE DATABASE %s", ident))
        goto fail;
    res = PQexec(conn, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        fprintf(stderr, "harness: %s: %s\n", sql, PQerrorMessage(conn));
        goto fail;
    }
    if (!fmt(conninfo, len, "host=%s port=%d dbname=%s user=%s", pg->sock, pg->port, name,
             PG_SUPERUSER))
        goto fail;
    ok = true;
fail:
    PQclear(res);
    PQfreemem(ident);
    PQfinish(conn);
    return ok;
}

bool tdb_migrate(const char *conninfo)
{
    char err[512];
    if (!store_preflight(conninfo, MIGRATIONS_DIR, err, sizeof(err))) {
        fprintf(stderr, "harness: migrations failed: %s\n", err);
        return false;
    }
    return true;
}

char *tfile_text(const char *path, size_t max)
{
    return read_file(path, max, NULL);
}

bool tdb_dump(const char *conninfo, const char *out_path)
{
    char prog[PATH_MAX];
    const char *bindir = tpg_bindir();
    int status;
    if (!fmt(prog, sizeof(prog), "%s%spg_dump", bindir, bindir[0] ? "/" : ""))
        return false;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return false;
    if (pid == 0) {
        execlp(prog, "pg_dump", "--no-owner", "-d", conninfo, "-f", out_path, (char *)NULL);
        _exit(127);
    }
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return false;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "harness: pg_dump of %s failed (status %d)\n", conninfo, status);
        return false;
    }
    return true;
}

bool tdb_exec(const char *conninfo, const char *sql, int nparams, const char *const *params)
{
    PGconn *conn = connect_db(conninfo);
    if (conn == NULL)
        return false;
    PGresult *res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (!ok)
        fprintf(stderr, "harness: %s: %s\n", sql, PQerrorMessage(conn));
    PQclear(res);
    PQfinish(conn);
    return ok;
}

long long tdb_scalar(const char *conninfo, const char *sql, int nparams,
                     const char *const *params)
{
    long long v = -1;
    PGresult *res = NULL;
    PGconn *conn = connect_db(conninfo);
    if (conn == NULL)
        return -1;
    res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) < 1 || PQnfields(res) < 1) {
        fprintf(stderr, "harness: %s: %s\n", sql, PQerrorMessage(conn));
        goto done;
    }
    v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
done:
    PQclear(res);
    PQfinish(conn);
    return v;
}

/* ---- the gateway ----------------------------------------------------------- */

/* One option of the generated config: extra_ini text replaces options of
 * the same section and name and adds the rest, so a test can set any
 * option without knowing how the gateway treats a repeated key. */
struct ini_opt {
    char section[64];
    char name[64];
    char value[PATH_MAX + 256];
};
#define INI_MAX_OPTS 64

static bool ini_set(struct ini_opt *opts, size_t *n, const char *section, const char *name,
                    const char *value)
{
    size_t i;
    for (i = 0; i < *n; i++) {
        if (strcmp(opts[i].section, section) == 0 && strcmp(opts[i].name, name) == 0)
            break;
    }
    if (i == *n) {
        if (*n == INI_MAX_OPTS)
            return false;
        (*n)++;
    }
    return fmt(opts[i].section, sizeof(opts[i].section), "%s", section) &&
           fmt(opts[i].name, sizeof(opts[i].name), "%s", name) &&
           fmt(opts[i].value, sizeof(opts[i].value), "%s", value);
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
        *--e = '\0';
    return s;
}

static bool ini_merge(struct ini_opt *opts, size_t *n, const char *text)
{
    char section[64] = "";
    const char *p = text;
    while (p != NULL && *p != '\0') {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        char line[PATH_MAX + 512];
        if (len >= sizeof(line))
            return false;
        memcpy(line, p, len);
        line[len] = '\0';
        p = nl ? nl + 1 : NULL;
        char *s = trim(line);
        if (*s == '\0' || *s == ';' || *s == '#')
            continue;
        if (*s == '[') {
            char *close = strchr(s, ']');
            if (close == NULL)
                return false;
            *close = '\0';
            if (!fmt(section, sizeof(section), "%s", trim(s + 1)))
                return false;
            continue;
        }
        char *eq = strchr(s, '=');
        if (eq == NULL || section[0] == '\0')
            return false;
        *eq = '\0';
        if (!ini_set(opts, n, section, trim(s), trim(eq + 1)))
            return false;
    }
    return true;
}

static bool write_gateway_config(struct tgw *gw, const char *conninfo, const char *extra)
{
    static struct ini_opt opts[INI_MAX_OPTS];
    size_t n = 0;
    char port[16], admin_port[16], console_port[16], key_path[PATH_MAX], key_hex[65];
    unsigned char key[32];
    char *text = NULL;
    size_t cap = 0;
    FILE *out = NULL;
    bool ok = false;

    if (!fmt(port, sizeof(port), "%d", gw->port) ||
        !fmt(admin_port, sizeof(admin_port), "%d", gw->admin_port) ||
        !fmt(console_port, sizeof(console_port), "%d", gw->console_port) ||
        !fmt(key_path, sizeof(key_path), "%s/pii.key", gw->dir) ||
        RAND_bytes(key, sizeof(key)) != 1)
        goto fail;
    hex_encode(key, sizeof(key), key_hex);
    if (!write_file(key_path, key_hex, 0600, false))
        goto fail;

    if (!ini_set(opts, &n, "gateway", "listen", "127.0.0.1") ||
        !ini_set(opts, &n, "gateway", "port", port) ||
        !ini_set(opts, &n, "gateway", "body_region", "330400") ||
        !ini_set(opts, &n, "gateway", "body_name", "嘉兴市政协") ||
        !ini_set(opts, &n, "admin", "listen", "127.0.0.1") ||
        !ini_set(opts, &n, "admin", "port", admin_port) ||
        !ini_set(opts, &n, "console", "listen", "127.0.0.1") ||
        !ini_set(opts, &n, "console", "port", console_port) ||
        !ini_set(opts, &n, "tls", "cert", CERTS_DIR "/server.crt") ||
        !ini_set(opts, &n, "tls", "key", CERTS_DIR "/server.key") ||
        !ini_set(opts, &n, "tls", "client_ca", CERTS_DIR "/ca.crt") ||
        !ini_set(opts, &n, "database", "conninfo", conninfo) ||
        !ini_set(opts, &n, "database", "migrations_dir", MIGRATIONS_DIR) ||
        !ini_set(opts, &n, "privacy", "key_file", key_path) ||
        !ini_set(opts, &n, "log", "level", "info"))
        goto fail;
    if (extra != NULL && !ini_merge(opts, &n, extra)) {
        fprintf(stderr, "harness: cannot parse the extra config text:\n%s\n", extra);
        goto fail;
    }

    out = open_memstream(&text, &cap);
    if (out == NULL)
        goto fail;
    static const char *const sections[] = { "gateway", "admin", "console", "tls", "database",
                                            "privacy", "log" };
    for (size_t s = 0; s < sizeof(sections) / sizeof(sections[0]); s++) {
        fprintf(out, "[%s]\n", sections[s]);
        for (size_t i = 0; i < n; i++) {
            if (strcmp(opts[i].section, sections[s]) == 0)
                fprintf(out, "%s = %s\n", opts[i].name, opts[i].value);
        }
    }
    /* Sections the generated config does not know are passed through, so a
     * test can also check that the gateway rejects them. */
    for (size_t i = 0; i < n; i++) {
        bool known = false;
        for (size_t s = 0; s < sizeof(sections) / sizeof(sections[0]); s++)
            known = known || strcmp(opts[i].section, sections[s]) == 0;
        if (!known)
            fprintf(out, "[%s]\n%s = %s\n", opts[i].section, opts[i].name, opts[i].value);
    }
    if (fclose(out) != 0) {
        out = NULL;
        goto fail;
    }
    out = NULL;
    ok = write_file(gw->conf, text, 0644, false);
fail:
    if (out != NULL)
        fclose(out);
    free(text);
    return ok;
}

/* Looks for needle in the log from offset `from` on. */
static bool log_has_from(const char *log, off_t from, const char *needle)
{
    char *text = read_file(log, 64u << 20, NULL);
    bool found = false;
    if (text != NULL && (size_t)from <= strlen(text))
        found = strstr(text + from, needle) != NULL;
    free(text);
    return found;
}

bool tgw_start_again(struct tgw *gw)
{
    struct stat st;
    off_t from = stat(gw->log, &st) == 0 ? st.st_size : 0;
    pid_t parent = getpid();

    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "harness: fork: %s\n", strerror(errno));
        return false;
    }
    if (pid == 0) {
        /* The gateway dies with the test process, whatever kills it. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        int fd = open(gw->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        int nul = open("/dev/null", O_RDONLY);
        if (fd < 0 || nul < 0 || dup2(nul, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
            _exit(127);
        close_range(3, ~0u, 0);
        execl(MINYID_PATH, "minyid", "-c", gw->conf, (char *)NULL);
        dprintf(2, "harness: exec %s: %s\n", MINYID_PATH, strerror(errno));
        _exit(127);
    }
    gw->pid = pid;
    gateway_register(pid, gw->log);

    long long deadline = clock_mono_ms() + GW_READY_TIMEOUT_MS;
    while (clock_mono_ms() < deadline) {
        if (log_has_from(gw->log, from, "minyid ready"))
            return true;
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            gateway_unregister(pid);
            gw->pid = 0;
            fprintf(stderr, "harness: minyid exited before it was ready (status %d); its log:\n",
                    status);
            tgw_dump_log(gw);
            return false;
        }
        clock_sleep_ms(POLL_STEP_MS);
    }
    fprintf(stderr, "harness: minyid not ready after %d ms; its log:\n", GW_READY_TIMEOUT_MS);
    tgw_dump_log(gw);
    tgw_kill(gw);
    return false;
}

bool tgw_start(struct tgw *gw, const char *conninfo, const char *extra_ini)
{
    memset(gw, 0, sizeof(*gw));
    if (!mkdir_p(GATEWAYS_DIR, 0755) ||
        !fmt(gw->dir, sizeof(gw->dir), "%s/gw-XXXXXX", GATEWAYS_DIR) || mkdtemp(gw->dir) == NULL ||
        !fmt(gw->conf, sizeof(gw->conf), "%s/minyid.conf", gw->dir) ||
        !fmt(gw->log, sizeof(gw->log), "%s/minyid.log", gw->dir)) {
        fprintf(stderr, "harness: cannot make a gateway directory under %s\n", GATEWAYS_DIR);
        return false;
    }
    gw->port = free_port();
    gw->admin_port = free_port();
    gw->console_port = free_port();
    if (gw->port <= 0 || gw->admin_port <= 0 || gw->admin_port == gw->port ||
        gw->console_port <= 0 || gw->console_port == gw->port ||
        gw->console_port == gw->admin_port ||
        !write_gateway_config(gw, conninfo, extra_ini))
        return false;
    return tgw_start_again(gw);
}

int tgw_stop(struct tgw *gw, int sig)
{
    if (gw->pid <= 0)
        return -1;
    pid_t pid = gw->pid;
    if (sig != 0)
        kill(pid, sig);
    long long deadline = clock_mono_ms() + GW_STOP_TIMEOUT_MS;
    int status, code = -1;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) {
            code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            break;
        }
        if (r < 0 && errno != EINTR)
            break;
        if (clock_mono_ms() >= deadline) {
            fprintf(stderr, "harness: minyid did not exit within %d ms; killing it\n",
                    GW_STOP_TIMEOUT_MS);
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            break;
        }
        clock_sleep_ms(POLL_STEP_MS);
    }
    gateway_unregister(pid);
    gw->pid = 0;
    if (code != 0)
        tgw_dump_log(gw);
    return code;
}

void tgw_kill(struct tgw *gw)
{
    if (gw->pid <= 0)
        return;
    kill(gw->pid, SIGKILL);
    waitpid(gw->pid, NULL, 0);
    gateway_unregister(gw->pid);
    gw->pid = 0;
}

bool tgw_log_contains(const struct tgw *gw, const char *needle)
{
    return log_has_from(gw->log, 0, needle);
}

void tgw_dump_log(const struct tgw *gw)
{
    dump_file(gw->log);
}

/* ---- certificates, principals, profiles ------------------------------------ */

const char *tcert(const char *name, const char *kind)
{
    static char bufs[TCERT_BUFS][PATH_MAX];
    static unsigned next;
    char *b = bufs[next++ % TCERT_BUFS];
    if (!fmt(b, PATH_MAX, "%s/%s.%s", CERTS_DIR, name, kind))
        b[0] = '\0';
    return b;
}

bool tcert_fingerprint(const char *certname, uint8_t fp[32])
{
    const char *path = tcert(certname, "crt");
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "harness: cannot open %s: %s\n", path, strerror(errno));
        return false;
    }
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    unsigned int len = 0;
    bool ok = x != NULL && X509_digest(x, EVP_sha256(), fp, &len) == 1 && len == 32;
    X509_free(x);
    if (!ok)
        fprintf(stderr, "harness: cannot read the certificate %s\n", path);
    return ok;
}

int64_t tprincipal_add(const char *conninfo, const char *certname, const char *kind,
                       const char *region, bool active)
{
    uint8_t fp[32];
    char err[512];
    int64_t id = -1;
    enum principal_kind k = principal_kind_parse(kind);
    if (k == PRINCIPAL_NONE) {
        fprintf(stderr, "harness: unknown principal kind '%s'\n", kind);
        return -1;
    }
    if (!tcert_fingerprint(certname, fp))
        return -1;
    if (!store_admin_principal_add(conninfo, fp, k, certname, region, "", &id, err, sizeof(err)) ||
        (!active && !store_admin_principal_set_active(conninfo, id, false, err, sizeof(err)))) {
        fprintf(stderr, "harness: cannot register %s: %s\n", certname, err);
        return -1;
    }
    return id;
}

void tprofile(struct client_profile *p, const char *certname, const struct tgw *gw)
{
    memset(p, 0, sizeof(*p));
    (void)fmt(p->host, sizeof(p->host), "127.0.0.1");
    (void)fmt(p->port, sizeof(p->port), "%d", gw->port);
    (void)fmt(p->ca, sizeof(p->ca), "%s", tcert("ca", "crt"));
    if (certname != NULL) {
        (void)fmt(p->cert, sizeof(p->cert), "%s", tcert(certname, "crt"));
        (void)fmt(p->key, sizeof(p->key), "%s", tcert(certname, "key"));
    }
    (void)fmt(p->server_name, sizeof(p->server_name), "localhost");
    p->timeout_ms = 10000;
}

bool tprofile_write(const char *path, const char *certname, const struct tgw *gw)
{
    struct client_profile p;
    tprofile(&p, certname, gw);
    FILE *fp = fopen(path, "w");
    if (fp == NULL) {
        fprintf(stderr, "harness: cannot write %s: %s\n", path, strerror(errno));
        return false;
    }
    fprintf(fp,
            "[client]\nhost = %s\nport = %s\nca = %s\ncert = %s\nkey = %s\n"
            "server_name = %s\ntimeout_ms = %d\n",
            p.host, p.port, p.ca, p.cert, p.key, p.server_name, p.timeout_ms);
    return fclose(fp) == 0;
}

/* ---- reports --------------------------------------------------------------- */

void tuuid(char out[37])
{
    if (!hex_uuid_v4(out))
        abort();
}

/* A malloc'd copy, as protobuf_c_message_free_unpacked expects to free. */
static bool set_bytes(ProtobufCBinaryData *d, const char *s)
{
    size_t len = strlen(s);
    d->data = malloc(len + 1);
    if (d->data == NULL)
        return false;
    memcpy(d->data, s, len + 1);
    d->len = len;
    return true;
}

Minyi__V1__Report *tmake_report(const char *client_report_id, const char *situation)
{
    char id[37];
    Minyi__V1__Report *r = malloc(sizeof(*r));
    Minyi__V1__Reporter *who = malloc(sizeof(*who));
    if (r == NULL || who == NULL) {
        free(r);
        free(who);
        return NULL;
    }
    minyi__v1__report__init(r);
    minyi__v1__reporter__init(who);
    r->reporter = who;
    if (client_report_id == NULL) {
        tuuid(id);
        client_report_id = id;
    }
    if (situation == NULL)
        situation = "城区部分老旧小区加装电梯推进缓慢,居民意见较多。\n多数单元因费用分摊难以达成一致。";
    r->category = MINYI__V1__CATEGORY__SOCIETY;
    r->urgency = MINYI__V1__URGENCY__NORMAL;
    who->kind = MINYI__V1__REPORTER_KIND__MEMBER;
    if (!set_bytes(&r->client_report_id, client_report_id) ||
        !set_bytes(&r->title, "关于加快老旧小区加装电梯的建议") ||
        !set_bytes(&r->situation, situation) ||
        !set_bytes(&r->analysis, "费用分摊机制不明确,低楼层住户顾虑较多。") ||
        !set_bytes(&r->suggestions, "建议出台分摊指导意见,并由街道牵头协调。") ||
        !set_bytes(&r->region, "330402") ||
        !set_bytes(&r->phone, "13800000000") ||
        !set_bytes(&who->name, "张三") ||
        !set_bytes(&who->unit, "南湖区政协") ||
        !set_bytes(&who->sector, "经济界")) {
        protobuf_c_message_free_unpacked(&r->base, NULL);
        return NULL;
    }
    return r;
}

char *treport_corpus(const char *name)
{
    char path[PATH_MAX];
    const char *dir = getenv("MINYI_CORPUS_DIR");
    if (dir == NULL || dir[0] == '\0')
        dir = DEFAULT_CORPUS_DIR;
    if (!fmt(path, sizeof(path), "%s/%s", dir, name))
        return NULL;
    char *text = read_file(path, CORPUS_MAX_BYTES, NULL);
    if (text == NULL)
        fprintf(stderr, "harness: cannot read the corpus file %s\n", path);
    return text;
}

Frame *tsubmit(struct client_conn *c, Minyi__V1__Report *r, struct frame_arena **arena,
               char *err, size_t errlen)
{
    Frame f = MINYI__V1__FRAME__INIT;
    Minyi__V1__SubmitRequest req = MINYI__V1__SUBMIT_REQUEST__INIT;
    req.report = r;
    f.id = client_next_id(c);
    f.body_case = MINYI__V1__FRAME__BODY_SUBMIT;
    f.submit = &req;
    return client_call(c, &f, arena, err, errlen);
}

int tgw_http_get(const struct tgw *gw, const char *path, char *body, size_t len)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)gw->admin_port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    char req[512], *resp = NULL;
    size_t got = 0, cap = 0;
    int status = -1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        fprintf(stderr, "harness: connect to the admin port %d: %s\n", gw->admin_port,
                strerror(errno));
        goto out;
    }
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
    if (n < 0 || (size_t)n >= sizeof(req) || write(fd, req, (size_t)n) != n) {
        fprintf(stderr, "harness: cannot send the request for %s\n", path);
        goto out;
    }
    /* HTTP/1.0 without keep-alive: the answer ends when the server closes. */
    long long deadline = clock_mono_ms() + HTTP_TIMEOUT_MS;
    for (;;) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        long long left = deadline - clock_mono_ms();
        if (left <= 0 || poll(&pfd, 1, (int)left) <= 0) {
            fprintf(stderr, "harness: no whole answer for %s within %d ms\n", path,
                    HTTP_TIMEOUT_MS);
            goto out;
        }
        if (got + 4096 + 1 > cap) {
            char *p = realloc(resp, cap = cap * 2 + 8192);
            if (p == NULL)
                goto out;
            resp = p;
        }
        ssize_t r = read(fd, resp + got, cap - got - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            fprintf(stderr, "harness: reading the answer for %s: %s\n", path, strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    if (resp == NULL)
        goto bad;
    resp[got] = '\0';
    int code;
    char *sep = strstr(resp, "\r\n\r\n");
    if (sscanf(resp, "HTTP/1.%*d %d", &code) != 1 || sep == NULL)
        goto bad;
    if (body != NULL && len > 0)
        snprintf(body, len, "%s", sep + 4);
    status = code;
    goto out;
bad:
    fprintf(stderr, "harness: malformed HTTP answer for %s\n", path);
out:
    if (fd >= 0)
        close(fd);
    free(resp);
    return status;
}
