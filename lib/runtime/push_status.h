/* push_status.h: the status answers of every program: Prometheus metrics and a health check
 *
 * The FastCGI programs answer them to a web server's private location: a request is a status
 * request when the FastCGI parameter PUSH_STATUS is "metrics" or "health". Only the web server
 * sets parameters (a client's headers arrive as HTTP_*), and the shipped confs set it in one
 * location, /pgpush-status/PROGRAM/(metrics|health), open to loopback only: from the internet
 * the same program answers its usual requests and nothing else. The daemons (push-ws, push-mqtt)
 * answer the same bodies on a listener of their own (push_statusd). */
#ifndef PUSH_STATUS_H
#define PUSH_STATUS_H

#include <stddef.h>

#include "core/push_metrics.h"
#include "store/push_db.h"
#include "http/push_request.h"

enum push_status_kind { PUSH_STATUS_NONE, PUSH_STATUS_METRICS, PUSH_STATUS_HEALTH };

#define PUSH_STATUS_METRICS_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define PUSH_STATUS_HEALTH_TYPE "application/json"

/* What r asks for; PUSH_STATUS_NONE for every ordinary request. */
enum push_status_kind push_status_wanted(const struct push_request *r);

/* The body of the answer, malloc'd (its length in *len), its status in *status and its
 * Content-Type in *type. Metrics: st as Prometheus text, 200. Health: 200 {"status": "ok", ...}
 * when a query on db reads the schema version these programs speak, the LISTEN connection
 * (st->listening, -1: none needed) is up and so is the broker's (st->broker, -1: none);
 * otherwise 503 {"status": "unavailable", "reason": ...}, logged. db is used for health only. */
char *push_status_body(enum push_status_kind kind, const struct push_metrics_state *st,
                       struct push_db *db, int *status, const char **type, size_t *len);

/* Answers r with push_status_body. */
void push_status_answer(struct push_request *r, enum push_status_kind kind,
                        const struct push_metrics_state *st, struct push_db *db);

#endif
