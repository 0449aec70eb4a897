/* push_status.h: the status answers a web server's private location routes to a program:
 * Prometheus metrics and a health check
 *
 * A request is a status request when the FastCGI parameter PUSH_STATUS is "metrics" or "health".
 * Only the web server sets parameters (a client's headers arrive as HTTP_*), and the shipped
 * confs set it in one location, /pgpush-status/PROGRAM/(metrics|health), open to loopback only:
 * from the internet the same program answers its usual requests and nothing else. */
#ifndef PUSH_STATUS_H
#define PUSH_STATUS_H

#include "core/push_metrics.h"
#include "store/push_db.h"
#include "http/push_request.h"

enum push_status_kind { PUSH_STATUS_NONE, PUSH_STATUS_METRICS, PUSH_STATUS_HEALTH };

/* What r asks for; PUSH_STATUS_NONE for every ordinary request. */
enum push_status_kind push_status_wanted(const struct push_request *r);

/* Answers it. Metrics: st as Prometheus text. Health: 200 {"status": "ok", ...} when a query on
 * db reads the schema version these programs speak and the LISTEN connection (st->listening,
 * -1: none needed) is up; otherwise 503 {"status": "unavailable", "reason": ...}, logged. */
void push_status_answer(struct push_request *r, enum push_status_kind kind,
                        const struct push_metrics_state *st, struct push_db *db);

#endif
