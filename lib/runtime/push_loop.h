/* push_loop.h: open streams served by one event-loop thread, not one thread each */
#ifndef PUSH_LOOP_H
#define PUSH_LOOP_H

#include <stdint.h>

#include "core/push_config.h"
#include "store/push_pool.h"
#include "transport/push_emit.h"
#include "runtime/push_hub.h"

/* The one event loop of a process: one thread with epoll holds every open stream, whatever
 * carries it: FastCGI requests of push-sse, push-iframe and push-longpoll (push_fcgiconn's
 * kind: it writes the FastCGI records itself) and push-ws's WebSocket sockets (push_wsconn's kind).
 * For each it does the same things once: non-blocking output within bounds, heartbeats (a
 * comment, or a ping), lifetimes, the token's expiry, dropping clients that take nothing,
 * wake-ups from the hub, the 1 s retry after a failed read, and the deferred free.
 *
 * A FastCGI worker thread checks a stream's request (identity, cursor syntax, the hub's limits)
 * and hands the connection over (push_request_detach) before any read; push-ws's accept and
 * upgrade run on the loop thread itself (push_loop_watch). Either way accepting never waits on
 * PostgreSQL. A change wakes a stream through the hub's callback; a few reader threads
 * (PUSH_DB_POOL, on the pool's connections) read the woken streams' new messages together, up
 * to PUSH_STORE_MANY_MAX per query, and write them through the stream's encoder. A new stream's
 * first read (its state, then the same read) goes through the same readers, with the others of
 * its turn; so do push-ws's commands, one at a time. Held long polls live here too, and are
 * answered (once) the same way. A stream costs about a kilobyte and a socket, not a thread and
 * its stack; a broadcast wakes no thread per stream.
 *
 * Bounds: a stream whose client takes no data stops being read once PUSH_LOOP_OUT_HIGH bytes
 * wait, is dropped past PUSH_LOOP_OUT_MAX (4 MiB: one huge batch, or a flood of a socket's
 * frames), and after PUSH_WRITE_TIMEOUT seconds without progress (logged at info). */

#define PUSH_LOOP_OUT_HIGH (64 * 1024)
#define PUSH_LOOP_SCAN_MS 250 /* how often heartbeats, lifetimes, expiries and stalls are looked at */

struct push_loop;
struct push_loop_stream;

/* Starts the loop and its reader threads; never fails (aborts when out of threads). Everything
 * passed is borrowed for the process's life. */
struct push_loop *push_loop_start(const struct push_config *cfg, struct push_hub *hub,
                                  struct push_pool *pool);

/* A stream of user with the encoder enc and its arg (copied: enc->arg_size bytes;
 * push_longpoll_encoder for a long poll), joined to the hub with the hub's limits: NULL with
 * *err when past them. From the join on, changes are noted for the stream, so none is missed
 * before the loop takes it. */
struct push_loop_stream *push_loop_join(struct push_loop *l, const char *user, const char *tag,
                                        const struct push_encoder *enc, const void *arg,
                                        enum push_hub_err *err);

/* The loop takes the stream over on connection fd (FastCGI request request_id), nothing answered
 * yet. Its readers make the first read and answer: 400 cursor_future when *from is ahead of
 * every message, 503 when the database cannot be read, else the headers, the encoder's begin
 * and the first events: the messages after *from, or (from NULL) from the head its first read
 * finds (the counts, and what was committed between the statements of that read). Joined
 * before it, a stream with a cursor misses nothing; one from now on starts at that head, which
 * in a storm may be a while after the request. The stream ends at end_ms (CLOCK_MONOTONIC
 * milliseconds, as push_now_ms). */
void push_loop_adopt(struct push_loop *l, struct push_loop_stream *s, int fd, int request_id,
                     const struct push_cursor *from, long end_ms);

/* The same for a long poll (joined with push_longpoll_encoder): answered at once, push_stream_longpoll's way,
 * when there are messages after since (at most limit); else held until the user's stream has
 * messages after since or counts other than those of the first read, or with "timeout" at
 * end_ms. */
void push_loop_adopt_hold(struct push_loop *l, struct push_loop_stream *s, int fd, int request_id,
                          struct push_cursor since, int limit, long end_ms);

/* A stream that answers once with the current state, as push_stream_current: the newest limit
 * messages, the counts and the head, read by the loop's readers in one snapshot. It is not
 * joined to the hub (it waits for no change) and counts against no user's stream limit, but it is
 * a stream of the process's (push_hub_reserve: its descriptor is within the open-file limit):
 * NULL when the process holds all it may, and the caller answers itself. */
struct push_loop_stream *push_loop_answer(struct push_loop *l, const char *user, const char *tag);
void push_loop_adopt_current(struct push_loop *l, struct push_loop_stream *s, int fd,
                             int request_id, int limit);

/* Before adopting: s ends at expiry_ms (push_now_ms's clock; 0: never), its token's expiry,
 * within PUSH_LOOP_SCAN_MS: a stream with the encoder's end(reason "token_expired"), a held long
 * poll with 401 {"error": "token_expired"}. */
void push_loop_expire_at(struct push_loop_stream *s, long expiry_ms);

/* Before adopting: s reads and counts the kinds of filter kinds only (a valid filter's text,
 * push_store_kinds_valid; NULL: every kind). Another kind's message is skipped, and an edit that
 * moves a message out of them is a delete for it. */
void push_loop_filter(struct push_loop_stream *s, const char *kinds);

/* Gives up a stream that will never be adopted (it failed before streaming). */
void push_loop_abandon(struct push_loop *l, struct push_loop_stream *s);

/* Another descriptor the loop watches for its owner (push-ws's listening socket, signalfd and
 * sockets still sending their upgrade request): on(w, events) is called on the loop thread.
 * The owner embeds it and keeps it until the end of the loop turn that removed it (see hooks). */
struct push_loop_watch {
    void (*on)(struct push_loop_watch *w, uint32_t events);
};

/* Adds fd (events: EPOLLIN and the like) or changes what is watched; -1 with errno when epoll
 * refuses. Callable from any thread. */
int push_loop_watch_add(struct push_loop *l, int fd, uint32_t events, struct push_loop_watch *w);
void push_loop_watch_mod(struct push_loop *l, int fd, uint32_t events, struct push_loop_watch *w);
void push_loop_watch_del(struct push_loop *l, int fd);

/* Called on the loop thread: scan every PUSH_LOOP_SCAN_MS with the time, turn_end after each
 * turn (every watch removed during it may be freed then). Set before the first watch is added. */
void push_loop_hooks(struct push_loop *l, void (*scan)(void *arg, long now),
                     void (*turn_end)(void *arg), void *arg);

/* Loop thread: ends every stream with reason ("shutdown": SSE and the iframe a "reconnect" event,
 * WebSocket a close frame 1001; a held long poll is answered with what it holds); one a reader
 * holds when it comes back, and one handed over from then on after its first read. Each client is
 * told to come back after a time at random within spread_ms (0: at once). */
void push_loop_end_all(struct push_loop *l, const char *reason, int spread_ms);

/* The same from any thread (a signal's): the loop ends everything in its next turn. */
void push_loop_drain(struct push_loop *l, const char *reason, int spread_ms);

/* The streams holding a descriptor now (any thread; a moment's value). */
int push_loop_count(struct push_loop *l);


#endif
