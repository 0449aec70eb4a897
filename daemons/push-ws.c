/* push-ws.c: WebSocket: the user's messages and unread counts as they happen, and mark-read commands */
#include "config.h"

#include <sys/socket.h>

#include "core/push_log.h"
#include "http/push_server.h"
#include "runtime/push_program.h"
#include "runtime/push_wsd.h"

static const struct push_program program = {
    "push-ws",
    "WebSocket (RFC 6455) for pgpush, behind the web server's WebSocket proxying.\n\n"
    "GET [?since=CURSOR][&kinds=K1,K2] with Upgrade: websocket  sends JSON text messages:\n"
    "     {\"type\": \"open\"}, \"message\" (with the cursor after it), \"update\" and \"delete\"\n"
    "     (an edit, a retraction or an expiry of a message it may hold), \"unread\" (the counts, at the start and on each\n"
    "     change), \"close\" (why, before the close frame); takes JSON commands on the socket:\n"
    "     {\"cmd\": \"mark\", \"mark\": \"one\" | \"upto\" | \"all\" | \"kind\", ...} as push-poll's POST,\n"
    "     {\"cmd\": \"resume\", \"cursor\": C}; each is answered {\"type\": \"ack\"} or\n"
    "     {\"type\": \"error\"}, with its \"ref\". Pings every PUSH_HEARTBEAT s.\n"
    "Errors before the upgrade are HTTP answers with a JSON body (401, 403, 429, 503, ...).\n"
    "One LISTEN connection and PUSH_DB_POOL query connections per process; one event loop holds\n"
    "thousands of sockets.\n",
    "Runs as a daemon on PUSH_WS_LISTEN (or --listen): a socket path or [host]:port; or on a\n"
    "listening socket handed over on fd 0 (systemd StandardInput=socket). WebSocket cannot pass\n"
    "through FastCGI: the web server proxies the upgrade to it.",
    PUSH_USES_READ | PUSH_USES_MARK,
};

/* Is fd 0 a listening socket (systemd socket activation, spawn-fcgi)? */
static int stdin_listens(void)
{
    int yes = 0;
    socklen_t len = sizeof yes;

    return getsockopt(0, SOL_SOCKET, SO_ACCEPTCONN, &yes, &len) == 0 && yes;
}

int main(int argc, char **argv)
{
    static struct push_config cfg;
    int rc, fd = 0;
    char err[512];

    push_wsd_block_signals(); /* before any thread: the loop reads SIGTERM from a signalfd */
    if ((rc = push_program_init(&program, argc, argv, &cfg)) >= 0)
        return rc;
    const char *spec = cfg.ws_listen[0] ? cfg.ws_listen : cfg.listen;
    if (*spec) {
        if ((fd = push_server_listen(spec, cfg.socket_mode, cfg.listen_backlog, err, sizeof err)) < 0) {
            push_log_error("%s", err);
            return 1;
        }
        push_log_info("listening on %s (backlog %d)", spec, cfg.listen_backlog);
    } else if (!stdin_listens()) {
        push_log_error("no socket to serve: set PUSH_WS_LISTEN or --listen (see --help)");
        return 2;
    }
    return push_wsd_run(&cfg, program.name, fd);
}
