/* bench/wakeup-probe.c: bench/wakeup.sh's publisher and receiver, measuring how long a message takes
 * from its INSERT to a process that waits for it, through one wake-up channel
 *
 *   wakeup-probe latency --via ids|json|sealed|decode [--rate N] [--seconds S]
 *                        [--keys ENCHEX:MACHEX] [--decode-cmd CMD]
 *   wakeup-probe listen --via ids|json|sealed
 *
 * Connects with the PG* environment variables. latency: a publisher thread INSERTs N rows a second
 * into push.message (each its own transaction), the row's title starting with the
 * clock_gettime(CLOCK_REALTIME) microseconds taken just before the INSERT; the main thread receives:
 *   ids     LISTEN pgpush; on a notification, SELECT the rows after the last id seen (today's path)
 *   json    LISTEN pgpush; the title is read from the notification's JSON payload
 *   sealed  LISTEN pgpush; the payload is base64(iv || AES-256-CBC ciphertext || HMAC-SHA256 of
 *           iv || ciphertext): checked, decrypted, then read as json (--keys in hex)
 *   decode  runs --decode-cmd (pg_recvlogical ... -f - --start) and reads test_decoding's lines
 * and prints one line: sent=N received=N p50_ms= p99_ms= max_ms= insert_p50_ms= bad=N (bad: a
 * payload whose MAC did not match or that did not parse).
 * listen: a receiver only, until SIGTERM (the throughput runs' consumer); prints received=N.
 *
 * Built by bench/wakeup.sh: cc -O2 -o var/wakeup-probe bench/wakeup-probe.c
 *   $(pkg-config --cflags --libs libpq libcrypto) -lpthread
 */
#define _GNU_SOURCE
#include <errno.h>
#include <libpq-fe.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *via = "json";
static int rate = 500, seconds = 5;
static unsigned char enc_key[32], mac_key[32];
static const char *decode_cmd;

static volatile sig_atomic_t stop;
static volatile int publishing_done;
static int64_t *lat;      /* receipt latencies, microseconds */
static int nlat, nbad;
static int64_t *ins;      /* INSERT round trips */
static int nsent;

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void die(const char *what, PGconn *c)
{
    fprintf(stderr, "wakeup-probe: %s%s%s\n", what, c ? ": " : "", c ? PQerrorMessage(c) : "");
    exit(1);
}

static PGconn *connect_db(void)
{
    PGconn *c = PQconnectdb("");
    if (PQstatus(c) != CONNECTION_OK) die("connect", c);
    return c;
}

static void record(int64_t sent_us, int64_t at)
{
    if (nlat < rate * seconds + 1000) lat[nlat++] = at - sent_us;
}

/* the microseconds a title starts with, after the text that precedes it in a payload */
static void record_after(const char *text, const char *mark, int64_t at)
{
    const char *p = strstr(text, mark);
    if (!p) { nbad++; return; }
    record(strtoll(p + strlen(mark), NULL, 10), at);
}

static int hexkey(const char *hex, unsigned char *out)
{
    for (int i = 0; i < 32; i++)
        if (sscanf(hex + 2 * i, "%2hhx", &out[i]) != 1) return -1;
    return 0;
}

/* sealed payload -> JSON text (NUL-terminated, in out) or -1 */
static int unseal(const char *b64, char *out, int outsize)
{
    int len = (int)strlen(b64);
    unsigned char *raw = malloc((size_t)len);
    int n = EVP_DecodeBlock(raw, (const unsigned char *)b64, len);
    if (n < 0) { free(raw); return -1; }
    for (int i = len - 1; i >= 0 && b64[i] == '='; i--) n--;
    if (n < 16 + 16 + 32) { free(raw); return -1; }
    unsigned char mac[32];
    unsigned int maclen = 0;
    HMAC(EVP_sha256(), mac_key, 32, raw, (size_t)(n - 32), mac, &maclen);
    if (maclen != 32 || CRYPTO_memcmp(mac, raw + n - 32, 32) != 0) { free(raw); return -1; }
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int ol = 0, fl = 0, ok = 0;
    if (n - 48 < outsize - 32
        && EVP_DecryptInit_ex(ctx, EVP_aes_256_cbc(), NULL, enc_key, raw)
        && EVP_DecryptUpdate(ctx, (unsigned char *)out, &ol, raw + 16, n - 48)
        && EVP_DecryptFinal_ex(ctx, (unsigned char *)out + ol, &fl))
        ok = 1;
    EVP_CIPHER_CTX_free(ctx);
    free(raw);
    if (!ok) return -1;
    out[ol + fl] = 0;
    return ol + fl;
}

static void *publisher(void *arg)
{
    (void)arg;
    PGconn *c = connect_db();
    PGresult *r = PQprepare(c, "ins",
        "INSERT INTO push.message (recipient, kind, title, body) VALUES ($1, 'notice', $2, $3)", 3, NULL);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) die("prepare", c);
    PQclear(r);
    struct timespec delay = { strcmp(via, "decode") ? 0 : 1, strcmp(via, "decode") ? 300000000L : 500000000L };
    nanosleep(&delay, NULL);
    char body[201];
    memset(body, 'b', 200);
    body[200] = 0;
    int total = rate * seconds;
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    for (int i = 0; i < total && !stop; i++) {
        char user[16], title[48];
        snprintf(user, sizeof user, "u%d", i % 1000);
        int64_t t = now_us();
        /* 40 bytes: the 16 digits, a space, 23 letters */
        snprintf(title, sizeof title, "%lld xxxxxxxxxxxxxxxxxxxxxxx", (long long)t);
        const char *v[3] = { user, title, body };
        r = PQexecPrepared(c, "ins", 3, v, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) die("insert", c);
        PQclear(r);
        ins[nsent++] = now_us() - t;
        next.tv_nsec += 1000000000L / rate;
        while (next.tv_nsec >= 1000000000L) { next.tv_nsec -= 1000000000L; next.tv_sec++; }
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
    }
    PQfinish(c);
    publishing_done = 1;
    return NULL;
}

static long long last_id = -1;

/* today's path: a notification names a user; read what is new */
static void read_new(PGconn *c, int measuring)
{
    char idbuf[24];
    if (last_id < 0) {
        PGresult *r = PQexec(c, "SELECT coalesce(max(id), 0) FROM push.message");
        if (PQresultStatus(r) != PGRES_TUPLES_OK) die("max(id)", c);
        last_id = atoll(PQgetvalue(r, 0, 0));
        PQclear(r);
    }
    snprintf(idbuf, sizeof idbuf, "%lld", last_id);
    const char *v[1] = { idbuf };
    PGresult *r = PQexecParams(c, "SELECT id, title FROM push.message WHERE id > $1 ORDER BY id",
                               1, NULL, v, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) die("read", c);
    int64_t at = now_us();
    for (int i = 0; i < PQntuples(r); i++) {
        last_id = atoll(PQgetvalue(r, i, 0));
        if (measuring) record(strtoll(PQgetvalue(r, i, 1), NULL, 10), at);
    }
    PQclear(r);
}

static void on_payload(const char *payload, int64_t at)
{
    if (!strcmp(via, "json")) {
        record_after(payload, "\"title\":\"", at);
    } else if (!strcmp(via, "sealed")) {
        char json[40000];
        if (unseal(payload, json, sizeof json) < 0) { nbad++; return; }
        record_after(json, "\"title\":\"", at);
    }
}

/* LISTEN until publishing is done and every message arrived (or 3 s after), or until SIGTERM */
static long listen_loop(int measuring)
{
    PGconn *c = connect_db();
    PGresult *r = PQexec(c, "LISTEN pgpush");
    if (PQresultStatus(r) != PGRES_COMMAND_OK) die("LISTEN", c);
    PQclear(r);
    int ids = !strcmp(via, "ids");
    if (ids) read_new(c, 0);
    long received = 0;
    int64_t done_at = 0;
    while (!stop) {
        if (measuring && publishing_done) {
            if (!done_at) done_at = now_us();
            if (nlat + nbad >= nsent || now_us() - done_at > 3000000) break;
        }
        fd_set fds;
        FD_ZERO(&fds);
        FD_SET(PQsocket(c), &fds);
        struct timeval tv = { 0, 100000 };
        if (select(PQsocket(c) + 1, &fds, NULL, NULL, &tv) < 0) {
            if (errno == EINTR) continue;
            die("select", NULL);
        }
        if (!PQconsumeInput(c)) die("connection lost", c);
        int64_t at = now_us();
        PGnotify *n;
        int any = 0;
        while ((n = PQnotifies(c)) != NULL) {
            received++;
            any = 1;
            if (measuring && !ids) on_payload(n->extra, at);
            PQfreemem(n);
        }
        if (any && ids) read_new(c, measuring);
    }
    PQfinish(c);
    return received;
}

/* test_decoding's lines from pg_recvlogical */
static void decode_loop(void)
{
    int fd[2];
    if (pipe(fd) < 0) die("pipe", NULL);
    pid_t pid = fork();
    if (pid < 0) die("fork", NULL);
    if (pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        close(fd[1]);
        execl("/bin/sh", "sh", "-c", decode_cmd, (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    char buf[65536];
    size_t have = 0;
    int64_t done_at = 0;
    while (!stop) {
        if (publishing_done) {
            if (!done_at) done_at = now_us();
            if (nlat + nbad >= nsent || now_us() - done_at > 3000000) break;
        }
        fd_set fds;
        FD_ZERO(&fds);
        FD_SET(fd[0], &fds);
        struct timeval tv = { 0, 100000 };
        if (select(fd[0] + 1, &fds, NULL, NULL, &tv) <= 0) continue;
        ssize_t got = read(fd[0], buf + have, sizeof buf - 1 - have);
        if (got <= 0) die("pg_recvlogical ended", NULL);
        int64_t at = now_us();
        have += (size_t)got;
        buf[have] = 0;
        char *line = buf, *nl;
        while ((nl = strchr(line, '\n')) != NULL) {
            *nl = 0;
            if (strstr(line, "table push.message: INSERT:"))
                record_after(line, "title[text]:'", at);
            line = nl + 1;
        }
        have = strlen(line);
        memmove(buf, line, have);
        if (have >= sizeof buf - 1) have = 0; /* a line longer than the buffer: not ours */
    }
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    close(fd[0]);
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static double pct(int64_t *v, int n, double p)
{
    if (n == 0) return 0;
    int i = (int)(p * (n - 1) + 0.5);
    return v[i] / 1000.0;
}

static void on_term(int sig) { (void)sig; stop = 1; }

/* a whole number in 1..max, or the program stops saying which option was wrong */
static int count(const char *opt, const char *text, long max)
{
    char *end;
    long v = strtol(text, &end, 10);

    if (end == text || *end || v < 1 || v > max) {
        fprintf(stderr, "wakeup-probe: %s wants a whole number from 1 to %ld, not '%s'\n", opt, max,
                text);
        exit(2);
    }
    return (int)v;
}

int main(int argc, char **argv)
{
    if (argc < 2 || (strcmp(argv[1], "latency") && strcmp(argv[1], "listen"))) {
        fprintf(stderr, "usage: wakeup-probe latency|listen --via ids|json|sealed|decode [--rate N] "
                        "[--seconds S] [--keys ENCHEX:MACHEX] [--decode-cmd CMD]\n");
        return 2;
    }
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--via")) via = argv[i + 1];
        else if (!strcmp(argv[i], "--rate")) rate = count(argv[i], argv[i + 1], 100000);
        else if (!strcmp(argv[i], "--seconds")) seconds = count(argv[i], argv[i + 1], 3600);
        else if (!strcmp(argv[i], "--decode-cmd")) decode_cmd = argv[i + 1];
        else if (!strcmp(argv[i], "--keys")) {
            const char *k = argv[i + 1];
            if (strlen(k) != 129 || k[64] != ':' || hexkey(k, enc_key) || hexkey(k + 65, mac_key)) {
                fprintf(stderr, "wakeup-probe: --keys wants 64 hex digits, ':', 64 hex digits\n");
                return 2;
            }
        } else {
            fprintf(stderr, "wakeup-probe: unknown argument %s\n", argv[i]);
            return 2;
        }
    }
    if (rate < 1 || seconds < 1) return 2;
    signal(SIGTERM, on_term);
    signal(SIGINT, on_term);
    signal(SIGPIPE, SIG_IGN);
    lat = calloc((size_t)(rate * seconds + 1000), sizeof *lat);
    ins = calloc((size_t)(rate * seconds + 1000), sizeof *ins);
    if (!strcmp(argv[1], "listen")) {
        long n = listen_loop(0);
        printf("received=%ld\n", n);
        return 0;
    }
    if (!strcmp(via, "decode") && !decode_cmd) { fprintf(stderr, "wakeup-probe: --decode-cmd\n"); return 2; }
    /* the receiver is in place before the first INSERT: the publisher waits (pg_recvlogical
     * needs longer to connect and start streaming than a LISTEN) */
    pthread_t th;
    if (pthread_create(&th, NULL, publisher, NULL)) die("pthread_create", NULL);
    if (!strcmp(via, "decode")) decode_loop();
    else listen_loop(1);
    stop = 1;
    pthread_join(th, NULL);
    qsort(lat, (size_t)nlat, sizeof *lat, cmp64);
    qsort(ins, (size_t)nsent, sizeof *ins, cmp64);
    printf("sent=%d received=%d p50_ms=%.2f p99_ms=%.2f max_ms=%.2f insert_p50_ms=%.2f bad=%d\n",
           nsent, nlat, pct(lat, nlat, 0.5), pct(lat, nlat, 0.99), nlat ? lat[nlat - 1] / 1000.0 : 0,
           pct(ins, nsent, 0.5), nbad);
    return 0;
}
