/* push_loop_conn.h: inside the event loop: a stream, and how its bytes reach its client (the
 * FastCGI kind in push_fcgiconn.c, the WebSocket kind in push_wsconn.c). Only the loop, its kinds
 * and the loop's unit test (tests/unit/test_loop.c) include it. */
#ifndef PUSH_LOOP_CONN_H
#define PUSH_LOOP_CONN_H

#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "store/push_pool.h"
#include "store/push_store.h"
#include "http/push_http.h"
#include "http/push_request.h"
#include "transport/push_emit.h"
#include "runtime/push_hub.h"
#include "runtime/push_loop.h"

struct carry;

enum push_loop_state {
    PUSH_LOOP_ADOPTING, /* joined; not yet the loop's */
    PUSH_LOOP_IDLE,     /* the loop's */
    PUSH_LOOP_READING,  /* a reader's, until it comes back through the done queue */
    PUSH_LOOP_CLOSING,  /* ended cleanly; written out, then closed */
    PUSH_LOOP_DEAD,     /* left the hub; freed once no wake-up can name it */
};

struct buf {
    char *data;
    size_t len, off, cap;
};

void push_loop_buf_put(struct buf *b, const void *data, size_t len);

/* For a stream's request io (ctx: the stream): its body was read before the hand-over, so a read
 * finds nothing; the last write's error is EAGAIN after an overflow. */
long push_loop_io_read(void *ctx, char *data, size_t len);
int push_loop_io_error(void *ctx);
void push_loop_buf_free(struct buf *b);

/* What a stream's kind does. "loop": called on the loop thread; "reader": on a reader thread,
 * which owns the stream while it is READING (it writes only through s->req, into s->body). */
struct push_loop_kind {
    const char *noun; /* for logs: "stream", "socket" */
    int quiet_beats;  /* a heartbeat only after PUSH_HEARTBEAT without data (else every one:
                       * a WebSocket ping wants its pong, whatever else is sent) */
    /* loop: the descriptor has events (EPOLLIN, EPOLLRDHUP, EPOLLHUP, EPOLLERR); also while the
     * stream is READING. -1: the client left (the loop drops the stream, or marks it gone). */
    int (*input)(struct push_loop_stream *s, uint32_t events, long now);
    /* loop, never while READING: writes what waits without blocking. 1: all of it is written;
     * 0: it would block (EPOLLOUT is watched); -1: the client left, or the end is done. */
    int (*output)(struct push_loop_stream *s, long now);
    size_t (*pending)(const struct push_loop_stream *s); /* loop: bytes waiting for the client */
    int (*wants_input)(const struct push_loop_stream *s); /* loop: EPOLLIN to be watched? */
    /* reader: the start of the answer, after the first read set s->e.pos: 0, or -1 (overflow) */
    int (*begin)(struct push_loop_stream *s, const struct push_config *cfg);
    /* reader: an HTTP refusal instead of the start; the stream is then finished */
    void (*refuse)(struct push_loop_stream *s, struct push_refusal f);
    /* loop: a reader handed the stream back: take what it wrote */
    void (*taken)(struct push_loop_stream *s, long now);
    /* loop: the stream ends with reason ("lifetime", "token_expired", "shutdown"); the client
     * comes back at once (retry_ms 0) or after retry_ms (a draining process) */
    void (*end)(struct push_loop_stream *s, const char *reason, int retry_ms);
    /* loop: what ends the answer, once everything is written (FastCGI's end records) */
    void (*finish)(struct push_loop_stream *s);
    /* loop: time for a heartbeat; -1 drops the stream (a ping never answered) */
    int (*heartbeat)(struct push_loop_stream *s, long now);
    /* loop: a command waits to be run (then the reader runs it instead of a read) */
    int (*has_command)(const struct push_loop_stream *s);
    /* reader: runs the stream's next command on a connection of pool */
    void (*command)(struct push_loop_stream *s, struct push_pool *pool);
    void (*free)(struct push_loop_stream *s); /* loop: the kind's own state, at the end */
};

struct push_loop_stream {
    struct push_loop_watch self; /* first: what epoll names; self.on NULL tells a stream */
    struct push_waiter w; /* wakes through loop_wake */
    struct push_loop *loop;
    const struct push_loop_kind *kind;
    struct push_emitter e; /* e.r is req: the encoder writes into body */
    struct push_request req;
    int fd, request_id;
    enum push_loop_state state;
    unsigned char cin_n, cq_n; /* the lengths of cin and cq below (at most CARRY_MAX) */
    int limit;              /* a long poll's messages per answer */
    int wake_queued;        /* in the wake list (loop->lock) */
    int more;               /* the reader's while READING: more messages wait (push_emit's) */
    /* Flags, one word for each writer: bits of one word are one memory location, which two
     * threads may not write at once (nor one write while the other reads). */
    /* set before the loop takes the stream, constant after */
    unsigned hold : 1;      /* a long poll: answered once, then closed */
    unsigned current : 1;   /* answers once with the current state (push_loop_answer) */
    unsigned joined : 1;    /* joined to the hub (all but current) */
    unsigned from_head : 1; /* opening from now on (no cursor): the first read starts at the head */
    unsigned abandoned : 1; /* never adopted */
    unsigned : 0;
    /* its owner's: the reader's while READING, else the loop's */
    unsigned opening : 1;    /* its first read is to come: the state too, then the answer's start */
    unsigned answered : 1;   /* answered: finish once written */
    unsigned commanding : 1; /* READING to run a command, not to read */
    unsigned read_failed : 1, overflow : 1, wrote : 1; /* what the last read did */
    unsigned synced : 1;     /* memory-first delivery (push_loop.c): the last read's counts cover
                              * exactly what e.pos has seen */
    unsigned : 0;
    /* the loop thread's, at any time (while READING too) */
    unsigned counted : 1;    /* holds a descriptor in the loop's count */
    unsigned wake_again : 1, gone : 1, want_out : 1, watching : 1;
    /* memory-first delivery: the highest read-state watermarks the last read saw (above them, a
     * message is unread), and the messages wake-ups carried, in order */
    struct push_cursor mark;
    struct carry *cin, *cin_tail; /* queued by the hub (loop->lock) */
    struct carry *cq, *cq_tail;   /* the loop's, moved from cin at each turn (their lengths:
                                   * cin_n, cq_n) */
    long end_ms, next_beat_ms, retry_at_ms, stall_since_ms;
    const char *end_reason;  /* the kind asked to end (from its input, or while READING) */
    int end_retry_ms;        /* ... and when its client should come back (0: at once) */
    long close_by_ms;        /* CLOSING: dropped past it (0: only the stall bound) */
    long expiry_ms;          /* the token's expiry; 0: none */
    struct buf body; /* what the encoder wrote since the last flush */
    struct buf out;  /* bytes (FastCGI records) not yet written */
    void *conn;      /* the kind's own state (WebSocket: its wslay context and commands) */
    struct push_loop_stream *wnext; /* wake list (loop->lock) */
    struct push_loop_stream *lnext; /* the loop's copy of the wake list: once the lock is let go
                                     * the hub may queue the stream again and rewrite wnext */
    struct push_loop_stream *qnext; /* adopt, read or done queue; grave */
    LIST_ENTRY(push_loop_stream) link; /* every stream the loop holds (from its adoption) */
    char *kinds;     /* the filter (kinds=, push_loop_filter), allocated; NULL: every kind */
    char user[PUSH_USER_MAX + 1];
    char tag[PUSH_CURSOR_TAG_LEN + 1];
    alignas(max_align_t) unsigned char arg[]; /* the encoder's, enc->arg_size bytes */
};

#define PUSH_LOOP_OUT_MAX (4 * 1024 * 1024) /* bytes waiting for one client, at most: reading
                                              * stops at PUSH_LOOP_OUT_HIGH, so only one huge
                                              * batch or a flood of the client's frames gets here */

/* The loop takes s over on fd (its kind's), after a first read from *from (NULL: the head),
 * until end_ms. push_loop_adopt is this with the FastCGI kind. */
void push_loop_adopt_kind(struct push_loop *l, struct push_loop_stream *s, int fd,
                          const struct push_loop_kind *kind, const struct push_cursor *from,
                          long end_ms);

/* loop: (re)computes what epoll watches for s: input when the kind wants it, output when
 * something waits. */
void push_loop_rewatch(struct push_loop_stream *s);

const struct push_config *push_loop_config(const struct push_loop *l);

/* How the readers run a batch of reads (push_store_read_many's contract: 0 with every msgs and
 * unread filled, or -1 with *err and msg). push_loop_start's runs them on the pool, with the one
 * retry on a lost connection; the loop's unit test gives its own, with results made in memory. */
typedef int (*push_loop_read_fn)(void *arg, struct push_store_read *reads, int n,
                                 enum push_db_err *err, char *msg, size_t msglen);

/* Call before the first stream is adopted. */
void push_loop_set_reader(struct push_loop *l, push_loop_read_fn read_many, void *arg);

#endif
