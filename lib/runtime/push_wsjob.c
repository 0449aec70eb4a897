/* push_wsjob.c: push-ws's worker threads: first reads, batched wake-up reads and commands, on their own connections */
#include "config.h"

#include "runtime/push_wsjob.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "core/push_log.h"
#include "core/push_util.h"
#include "store/push_store.h"
#include "transport/push_command.h"
#include "transport/push_json.h"
#include "runtime/push_readq.h"

struct push_wsq {
    const struct push_config *cfg;
    const char *appname;
    int efd;
    pthread_mutex_t lock;            /* the two lists */
    pthread_cond_t cond;
    struct push_wsjob *todo, *todo_tail, *done;
};

void push_wsjob_free(struct push_wsjob *j)
{
    for (int i = 0; i < j->nframes; i++)
        free(j->frames[i]);
    free(j->frames);
    free(j->unread);
    free(j->reply);
    free(j);
}

/* Turns one read (msgs after j->pos, at most PUSH_WSJOB_BATCH + 1, and the counts) into the socket's
 * frames, moving j->pos past what it sends; the results are cleared. */
static void take_read(struct push_wsjob *j, PGresult *msgs, PGresult *unread, const char *tag)
{
    size_t len;
    int n = PQntuples(msgs);

    j->more = n > PUSH_WSJOB_BATCH;
    n = n > PUSH_WSJOB_BATCH ? PUSH_WSJOB_BATCH : n;
    j->frames = xcalloc(n ? (size_t)n : 1, sizeof *j->frames);
    for (int i = 0; i < n; i++) {
        char cursor[PUSH_CURSOR_MAX];
        json_object *m = push_json_message(msgs, i, tag, &j->pos);
        const char *text = push_json_text(m, &len);
        push_cursor_format(&j->pos, tag, cursor);
        j->frames[j->nframes++] = push_ws_event("message", cursor, "message", text, len);
        json_object_put(m);
    }
    json_object *u = push_json_unread(unread);
    j->unread = xstrdup(push_json_text(u, &len));
    json_object_put(u);
    PQclear(msgs);
    PQclear(unread);
}

static char *ack(const struct push_ws_cmd *c, json_object *o)
{
    return push_ws_reply(c, "ack", o);
}

/* A command, as push-poll's POST does it (push_command runs the mark). 0 (with j->reply), or -1 on
 * a database error. */
static int run_command(PGconn *conn, struct push_wsjob *j, const char *user, const char *tag)
{
    const struct push_ws_cmd *c = &j->cmd;
    struct push_command_error e;
    PGresult *unread;
    json_object *o;
    int rc;

    if (c->type == PUSH_WS_CMD_RESUME) {
        if ((rc = push_command_check_cursor(conn, user, &c->cursor, &e)) < 0)
            return -1;
        if (rc > 0) {
            j->reply = push_ws_error(c, push_command_code(e.err), e.why);
            return 0;
        }
        o = json_object_new_object();
        json_object_object_add(o, "cursor", push_json_cursor(&c->cursor, tag));
        j->reply = ack(c, o);
        j->pos = c->cursor;
        j->resumed = 1;
        return 0;
    }
    if ((rc = push_command_run_mark(conn, user, &c->mark, &e)) < 0)
        return -1;
    if (rc > 0) {
        j->reply = push_ws_error(c, push_command_code(e.err), e.why);
        return 0;
    }
    if (!(unread = push_store_unread(conn, user)))
        return -1;
    o = json_object_new_object();
    json_object_object_add(o, "unread", push_json_unread(unread));
    PQclear(unread);
    j->reply = ack(c, o);
    return 0;
}

/* One run of command j for push_db_run; on failure j is as it was (run_command changes it only
 * when it succeeds). */
static int work_on(struct push_db *db, PGconn *conn, void *arg)
{
    struct push_wsjob *j = arg;

    return push_store_prepare(db, conn) == 0 && run_command(conn, j, j->user, j->tag) == 0 ? 0 : -1;
}

/* Runs command j on db (push_db_run). A failure reaches the client as "the database is unavailable"
 * (a query error is logged); only a schema mismatch keeps its own sentence. */
static void work(struct push_db *db, struct push_wsjob *j)
{
    enum push_db_run rc = push_db_run(db, work_on, j, &j->err, j->errmsg, sizeof j->errmsg);

    if (rc == PUSH_DB_RUN_OK)
        return;
    if (rc == PUSH_DB_RUN_FAILED)
        push_log_error("query failed: %.*s", (int)strcspn(j->errmsg, "\n"), j->errmsg);
    j->failed = 1;
    if (j->err == PUSH_DB_UNREACHABLE)
        snprintf(j->errmsg, sizeof j->errmsg, "the database is unavailable; try again shortly");
}

/* Runs the first reads (PUSH_WSJOB_OPEN: the state too) and wake-up reads (PUSH_WSJOB_FETCH) of n
 * sockets as one push_store_read_many: a broadcast wakes every socket at once, a reconnect storm
 * opens thousands, and two or three queries each would be thousands. */
static void work_many(struct push_db *db, struct push_wsjob **jobs, int n)
{
    struct push_store_read *reads = xcalloc((size_t)n, sizeof *reads);
    enum push_db_err err = PUSH_DB_UNREACHABLE;
    char msg[256] = "the database is unavailable; try again shortly";
    int ok = 0;

    for (int i = 0; i < n; i++) {
        int open = jobs[i]->kind == PUSH_WSJOB_OPEN;
        reads[i] = (struct push_store_read){ .user = jobs[i]->user, .after = jobs[i]->pos,
                                             .limit = PUSH_WSJOB_BATCH + 1, .want_state = open,
                                             .from_head = open && !jobs[i]->has_pos };
    }
    ok = push_readq_run_on(db, reads, n, &err, msg, sizeof msg) == 0;
    for (int i = 0; i < n; i++) {
        struct push_wsjob *j = jobs[i];
        if (ok && j->kind == PUSH_WSJOB_OPEN && j->has_pos
            && push_store_cursor_ahead(&j->pos, &reads[i].st)) {
            j->future = 1;
            PQclear(reads[i].msgs);
            PQclear(reads[i].unread);
        } else if (ok) {
            if (j->kind == PUSH_WSJOB_OPEN) /* from now on (no since): from the head, as read */
                j->start = j->pos = reads[i].after;
            take_read(j, reads[i].msgs, reads[i].unread, j->tag);
        } else {
            jobs[i]->failed = 1;
            jobs[i]->err = err;
            snprintf(jobs[i]->errmsg, sizeof jobs[i]->errmsg, "%s", msg);
        }
    }
    free(reads);
}

/* Takes the next job, and with a wake-up read every other queued wake-up read (up to
 * PUSH_STORE_MANY_MAX in all) into jobs. Returns how many. Called with d->lock held. */
static int take_jobs(struct push_wsq *d, struct push_wsjob **jobs)
{
    struct push_wsjob *j = d->todo, **p;
    int n = 1;

    d->todo = j->next;
    jobs[0] = j;
    if (j->kind != PUSH_WSJOB_CMD) { /* reads: with every other queued read */
        for (p = &d->todo; *p && n < PUSH_STORE_MANY_MAX;) {
            if ((*p)->kind != PUSH_WSJOB_CMD) {
                jobs[n++] = *p;
                *p = (*p)->next;
            } else {
                p = &(*p)->next;
            }
        }
    }
    d->todo_tail = NULL; /* found again below: the list changed */
    for (struct push_wsjob *t = d->todo; t; t = t->next)
        d->todo_tail = t;
    return n;
}

static void *worker_main(void *arg)
{
    struct push_wsq *d = arg;
    struct push_wsjob **jobs = xcalloc(PUSH_STORE_MANY_MAX, sizeof *jobs);
    struct push_db db;

    push_db_init(&db, d->cfg->database_url, d->appname);
    for (;;) {
        pthread_mutex_lock(&d->lock);
        while (!d->todo)
            pthread_cond_wait(&d->cond, &d->lock);
        int n = take_jobs(d, jobs);
        pthread_mutex_unlock(&d->lock);
        if (jobs[0]->kind != PUSH_WSJOB_CMD)
            work_many(&db, jobs, n);
        else
            work(&db, jobs[0]);
        pthread_mutex_lock(&d->lock);
        for (int i = 0; i < n; i++) {
            jobs[i]->next = d->done;
            d->done = jobs[i];
        }
        pthread_mutex_unlock(&d->lock);
        push_kick(d->efd);
    }
    return NULL;
}

struct push_wsjob *push_wsjob_new(void *owner, enum push_wsjob_kind kind, const char *user,
                                  const char *tag)
{
    struct push_wsjob *j = xcalloc(1, sizeof *j);

    j->owner = owner;
    j->kind = kind;
    j->user = user;
    j->tag = tag;
    return j;
}

void push_wsq_submit(struct push_wsq *d, struct push_wsjob *j)
{
    j->next = NULL;
    pthread_mutex_lock(&d->lock);
    if (d->todo_tail)
        d->todo_tail->next = j;
    else
        d->todo = j;
    d->todo_tail = j;
    pthread_cond_signal(&d->cond);
    pthread_mutex_unlock(&d->lock);
}

struct push_wsjob *push_wsq_done(struct push_wsq *d)
{
    struct push_wsjob *done, *rev = NULL;

    pthread_mutex_lock(&d->lock);
    done = d->done;
    d->done = NULL;
    pthread_mutex_unlock(&d->lock);
    while (done) { /* pushed newest first: turned around */
        struct push_wsjob *next = done->next;
        done->next = rev;
        rev = done;
        done = next;
    }
    return rev;
}

struct push_wsq *push_wsq_start(const struct push_config *cfg, const char *appname, int efd)
{
    struct push_wsq *d = xcalloc(1, sizeof *d);

    d->cfg = cfg;
    d->appname = appname;
    d->efd = efd;
    pthread_mutex_init(&d->lock, NULL);
    pthread_cond_init(&d->cond, NULL);
    for (int i = 0; i < cfg->db_pool; i++) {
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &attr, worker_main, d) != 0)
            abort();
        pthread_attr_destroy(&attr);
    }
    return d;
}
