/* fuzz_http.c: HTTP framing and routing as the daemon does them: the
 * input is sent byte for byte on a TCP connection to the daemon's own HTTP
 * layer (http.c on libmicrohttpd, api.c's route table, the admin and
 * metrics handlers), started in this process on 127.0.0.1 with an empty
 * model repository (so inference routes end at "unknown model" after
 * framing, limits, auth and option parsing) and one idle worker. After
 * the input the client half-closes and reads until the daemon closes.
 *
 * Request line, headers, Content-Length and chunked bodies, pipelining,
 * limits (small here: 64 KiB bodies, 8 KiB headers) are all exercised on
 * the way. What is checked: the daemon survives (sanitizers), and what
 * it sends back are HTTP/1.x status lines with a status the API documents
 * (never 500: a handler without an answer). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "fuzz_srv.h"

static char repo[96];

static void stop(void)
{
    srv_http_stop();
    srv_sched_stop();
    srv_jobs_deinit();
    srv_repo_deinit();
    srv_metrics_deinit();
    srv_config_deinit();
    rmdir(repo);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    signal(SIGPIPE, SIG_IGN);
    snprintf(repo, sizeof repo, "%s/snn-fuzz-http-XXXXXX",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    if (!mkdtemp(repo)) abort();
    char *args[] = {"snnd", "--host", "127.0.0.1", "--port", "0", "--models", repo,
                    "--log-level", "error", "--workers", "1", "--max-body-bytes", "65536",
                    "--header-bytes", "8192", "--connection-timeout-s", "5", NULL};
    if (srv_config_init((int)(sizeof args / sizeof args[0]) - 1, args) != 0) abort();
    srv_log_set_level(SRV_LOG_ERROR);
    srv_metrics_init();
    srv_repo_init();
    if (srv_sched_start() != 0 || srv_http_start() != 0) abort();
    atomic_store(&srv_started, 1);
    atexit(stop);
    return 0;
}

/* Every status line in what came back must carry a documented status. */
static void check_answer(const char *buf, size_t len)
{
    if (len == 0) return;   /* closed without an answer (garbage, or cut) */
    if (len < 12 || memcmp(buf, "HTTP/1.", 7)) {
        fprintf(stderr, "fuzz_http: answer is not HTTP: %.40s\n", buf);
        abort();
    }
    for (const char *p = buf; (p = memmem(p, len - (size_t)(p - buf), "HTTP/1.", 7)); p += 7) {
        if (p != buf && p[-1] != '\n') continue;   /* inside a body */
        if ((size_t)(p - buf) + 12 > len) break;
        int st = atoi(p + 9);
        if (st < 100 || st > 599 || st == 500) {
            fprintf(stderr, "fuzz_http: status %d\n%.300s\n", st, p);
            abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(srv_http_port());
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* The client closes first (it half-closes after the input), so its
     * side would sit in TIME_WAIT: close with a reset instead (linger 0),
     * or a long run exhausts the ephemeral ports. A connect that still
     * finds none free is retried; the daemon refusing is a bug. */
    int fd = -1;
    for (int attempt = 0; fd < 0 && attempt < 1000; attempt++) {
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) abort();
        if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0) break;
        int e = errno;
        close(fd);
        fd = -1;
        if (e != EADDRNOTAVAIL && e != EAGAIN) abort();
        usleep(1000);
    }
    if (fd < 0) abort();
    struct linger lg = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    struct timeval tv = {20, 0};   /* bounds a hang; the daemon answers or closes */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    for (size_t off = 0; off < size;) {
        ssize_t n = send(fd, data + off, size - off, MSG_NOSIGNAL);
        if (n <= 0) break;   /* the daemon closed early (an answered 4xx) */
        off += (size_t)n;
    }
    shutdown(fd, SHUT_WR);
    static char buf[1 << 20];
    size_t len = 0;
    for (;;) {
        ssize_t n = recv(fd, buf + len, sizeof buf - 1 - len, 0);
        if (n <= 0) break;
        len += (size_t)n;
        if (len == sizeof buf - 1) break;
    }
    buf[len] = '\0';
    close(fd);
    check_answer(buf, len);
    return 0;
}
