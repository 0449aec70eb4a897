/* push_wsjob.h: push-ws's database side: worker threads that make each socket's reads and commands */
#ifndef PUSH_WSJOB_H
#define PUSH_WSJOB_H

#include "core/push_config.h"
#include "core/push_cursor.h"
#include "store/push_db.h"
#include "transport/push_ws.h"

#define PUSH_WSJOB_BATCH 32 /* messages per read: a socket is sent at most this many at once */

enum push_wsjob_kind {
    PUSH_WSJOB_OPEN,  /* the first read: the state too (the cursor checked, or the head taken),
                       * then as FETCH; read together with the other reads queued */
    PUSH_WSJOB_FETCH, /* the messages after pos and the counts; woken sockets' reads are batched */
    PUSH_WSJOB_CMD,   /* a client command, as push-poll's POST */
};

/* One piece of work for a socket: made by the event loop, done by a worker, handed back. */
struct push_wsjob {
    struct push_wsjob *next;     /* the queues' own */
    void *owner;                 /* the loop's socket */
    enum push_wsjob_kind kind;
    const char *user, *tag;      /* borrowed: they must outlive the job */
    struct push_cursor pos;      /* in: read after it (OPEN: only with has_pos); out: after what
                                  * was read, or the cursor resumed from */
    int has_pos;
    struct push_ws_cmd cmd;      /* CMD */
    /* what came of it */
    int failed;                  /* the database could not be read: err and errmsg say why */
    enum push_db_err err;
    char errmsg[256];
    int future;                  /* OPEN: the cursor is ahead of every message */
    struct push_cursor start;    /* OPEN: where the socket starts */
    char **frames;               /* FETCH, OPEN: message events as text, nframes of them */
    int nframes, more;           /* more: another batch waits */
    char *unread;                /* FETCH, OPEN: the counts as JSON text */
    char *reply;                 /* CMD: the ack or error as text */
    int resumed;                 /* CMD resume: pos is the cursor to go on from */
};

struct push_wsq;

/* Starts cfg->db_pool workers, each with one PostgreSQL connection (appname borrowed). Whenever
 * jobs are done it adds 1 to the eventfd efd. Never fails (aborts). */
struct push_wsq *push_wsq_start(const struct push_config *cfg, const char *appname, int efd);

/* A job with everything zero but these; never fails (aborts). */
struct push_wsjob *push_wsjob_new(void *owner, enum push_wsjob_kind kind, const char *user,
                                  const char *tag);
void push_wsjob_free(struct push_wsjob *j);

void push_wsq_submit(struct push_wsq *q, struct push_wsjob *j);

/* The jobs done since the last call, oldest first, linked through next; NULL when none. */
struct push_wsjob *push_wsq_done(struct push_wsq *q);

#endif
