/* push_statusd.h: the daemons' status listener: plain HTTP/1.1 GET /metrics and GET /health on a
 * socket of their own (push-ws: PUSH_WS_STATUS_LISTEN, push-mqtt: PUSH_MQTT_STATUS_LISTEN)
 *
 * Never on the public socket: push-ws's is reached by browsers through the web server, and a path
 * there would be one a client can ask for. The bodies are push_status's, as the FastCGI programs
 * answer them. One thread of its own serves every connection without blocking, so that the
 * health check's query (which waits up to PGCONNECT_TIMEOUT for an unreachable database) holds
 * up neither push-ws's event loop nor push-mqtt's publishing; no thread per connection.
 *
 * Bounds: a request head of PUSH_STATUSD_HEAD_MAX bytes (more: 431), the whole exchange within
 * PUSH_STATUSD_TIMEOUT_MS (then closed), PUSH_STATUSD_CONNS connections at once (the others wait
 * in the kernel's backlog), one request per connection. Anything but GET: 405; another path: 404;
 * a request line that is not HTTP/1.x: 400; each a JSON error, logged with its reason. */
#ifndef PUSH_STATUSD_H
#define PUSH_STATUSD_H

#include <stddef.h>

#include "core/push_metrics.h"
#include "store/push_db.h"

#define PUSH_STATUSD_HEAD_MAX 4096
#define PUSH_STATUSD_TIMEOUT_MS 5000
#define PUSH_STATUSD_CONNS 16

/* What the daemon tells the listener; called on the listener's thread. */
struct push_statusd_source {
    /* a moment's values for the answers (push_metrics_state's fields) */
    void (*state)(void *arg, struct push_metrics_state *st);
    /* a connection for the health check's query, and giving it back */
    struct push_db *(*db_acquire)(void *arg);
    void (*db_release)(void *arg, struct push_db *db);
    void *arg;
};

/* Listens on spec (a socket path, made with mode, or [host]:port as push_server_listen takes it)
 * and serves from a thread of its own for the process's life. src (copied) and what it points to
 * are borrowed for that long. 0, or -1 with the reason in err. */
int push_statusd_start(const char *spec, int mode, const struct push_statusd_source *src,
                       char *err, size_t errlen);

#endif
