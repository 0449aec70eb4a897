/* push_hub.h: one LISTEN connection per process, waking exactly the streams of the users that changed */
#ifndef PUSH_HUB_H
#define PUSH_HUB_H

#include <pthread.h>
#include <stdint.h>
#include <sys/queue.h>
#include <time.h>

#include "core/push_user.h"
#include "http/push_http.h"

/* A notification wakes the streams of its target (store/push_notify.h). When it carries a new
 * message, sealed, the hub opens it once (push.wake_key's keys, read on the LISTEN connection)
 * and hands it with the wake-up: a stream that can prove it is the next message of its stream
 * writes it without reading (push_loop); any other re-reads the tables from its cursor. The
 * hub's own connection is re-opened with backoff when lost, and then every stream is woken
 * without a message, because notifications sent meanwhile are gone. */

struct hub_user;
struct push_carried;

/* One waiting stream; the caller owns it (for example on its thread's stack). Its own lock,
 * not the hub's, guards its wake-up: a broadcast wakes thousands of threads at once, and had
 * they all to retake one lock on waking they would queue on it one by one. */
struct push_waiter {
    /* Set wake before push_hub_join to be called instead of blocking in push_hub_wait (an event
     * loop): the hub calls wake(wake_arg, m) with its lock held, from the thread that reads the
     * LISTEN connection (the listener thread, or the loop's own: push_hub_lend); it must
     * only queue and signal, never call into the hub. m is the message the wake-up carried, or
     * NULL (read); wake holds it (push_json_carried_hold) to keep it past the call. NULL:
     * push_hub_wait blocks, and reads at every wake-up. */
    void (*wake)(void *arg, struct push_carried *m);
    void *wake_arg;
    pthread_mutex_t lock;          /* private to the hub from here on */
    pthread_cond_t cond;
    int woken;                     /* a change since the last push_hub_wait returned */
    LIST_ENTRY(push_waiter) link;  /* the user's waiters */
    struct hub_user *user;
};

enum push_hub_err {
    PUSH_HUB_OK,
    PUSH_HUB_FULL,      /* the process holds max_streams streams */
    PUSH_HUB_USER_FULL, /* this user holds max_per_user streams */
};

struct push_hub;

/* Starts the listener thread; never fails (aborts when out of memory or threads). url and
 * appname are borrowed for the process's life. */
struct push_hub *push_hub_start(const char *url, const char *appname, int max_streams,
                                int max_per_user);

/* Told, on the LISTEN thread and in order, of every notification that names someone (user;
 * NULL: everyone may have changed; see push_notify.h) with listening 1, and of the LISTEN
 * connection going down (NULL, 0) or up again (NULL, 1). It must be quick: the hub waits for it. */
typedef void (*push_hub_observer)(void *arg, const char *user, int listening);

/* From now on each reload's PUSH_MAX_STREAMS_PER_USER (push_config_on_reload) applies to the
 * streams that join after it; streams already open stay open. */
void push_hub_follow_reloads(struct push_hub *hub);

/* push_hub_start, with an observer told of everything from the start. */
struct push_hub *push_hub_start_observed(const char *url, const char *appname, int max_streams,
                                         int max_per_user, push_hub_observer observer, void *arg);

/* Registers w as a stream of user, within the limits. After it, any change to the user's
 * stream makes the next push_hub_wait return at once. */
/* What a client is answered when push_hub_join refused it: 503 too_many_streams or 429
 * too_many_user_streams, with Retry-After. A 503 is logged (a warning, at most every 10 s). */
struct push_refusal push_hub_refusal(enum push_hub_err err);

enum push_hub_err push_hub_join(struct push_hub *hub, struct push_waiter *w, const char *user);

/* Waits until the user's stream may have changed since the last return (or the join), or until
 * deadline (CLOCK_MONOTONIC, as push_deadline makes it). Returns 1 on a change, 0 at the deadline. */
int push_hub_wait(struct push_hub *hub, struct push_waiter *w, const struct timespec *deadline);

/* Counts one stream of no user against the process's cap, for an answer held without waiting for
 * changes (push_loop_answer): PUSH_HUB_OK, or PUSH_HUB_FULL. push_hub_release gives it back. */
enum push_hub_err push_hub_reserve(struct push_hub *hub);
void push_hub_release(struct push_hub *hub);

/* After it returns, wake is never called again for w. */
void push_hub_leave(struct push_hub *hub, struct push_waiter *w);

/* From now on the hub opens the sealed messages of wake-ups and hands them to the waiters (an event
 * loop: push_loop_start calls it). Until then, and in a process without one (a blocking waiter of
 * plain CGI, push-poll's and push-mqtt's observers), seals are not opened: the wake-ups wake. */
void push_hub_carry(struct push_hub *hub);

/* An event loop may read the LISTEN connection on its own thread (push_loop does): a wake-up then
 * goes from PostgreSQL's socket to the streams' writes with no hand-over between threads. From
 * this call on, each time the connection is up (again), lend(arg, fd) is called on the listener
 * thread: the loop watches fd from then on (0), or cannot (-1 with errno: the listener thread
 * keeps reading it, as without a loop). While it watches, it calls push_hub_pump when fd is
 * readable and push_hub_pump_due at times (at least every second); when either returns 1, it
 * stops watching fd, then calls push_hub_give_back, and the listener thread does what may block
 * (the keys read again, a quiet connection's check, reconnecting) and lends it again. */
void push_hub_lend(struct push_hub *hub, int (*lend)(void *arg, int fd), void *arg);
int push_hub_pump(struct push_hub *hub);
int push_hub_pump_due(struct push_hub *hub, long now_ms);
void push_hub_give_back(struct push_hub *hub);

/* Streams now registered, and whether the LISTEN connection is up (for status and tests): read
 * together, under the hub's lock. */
void push_hub_status(struct push_hub *hub, int *streams, int *listening);

#endif
