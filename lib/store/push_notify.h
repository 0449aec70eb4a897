/* push_notify.h: what the database's notifications say (README "How it works"; sent by the
 * triggers of sql/migrations/0001_init.sql). The one reading of them, for push_hub and push-mqtt. */
#ifndef PUSH_NOTIFY_H
#define PUSH_NOTIFY_H

/* The channel every change is notified on, and the statement that listens to it. */
#define PUSH_NOTIFY_CHANNEL "pgpush"
#define PUSH_NOTIFY_LISTEN "LISTEN " PUSH_NOTIFY_CHANNEL

#include <stddef.h>

#include <libpq-fe.h>

/* Payloads (sql/migrations/0005_carry.sql):
 *
 *     payload = target
 *             | "m:" seal ":" target  a new message, sealed, for target
 *             | "x"                   a message was given an expiry (0007_changes.sql): the
 *                                     programs' expiry timers look again; it wakes no stream
 *     target  = "u:" user             one user's stream or read state changed
 *             | "*"                   everyone's may have (a broadcast, a broadcast's edit, a
 *                                     bulk change)
 *
 * where user is a valid user name (push_user_valid) and seal the base64 of iv(16), the message's
 * JSON encrypted with AES-256-CBC, and HMAC-SHA-256 of both (32). Any role may LISTEN, so the
 * content is sealed with push.wake_key's keys, which only the programs' role reads. A target wakes
 * streams, which then read the tables: waking too much is always safe, waking too little never is.
 * A program that can open the seal may deliver the message without reading (push_loop), when it
 * can prove that the message is the next of its stream; otherwise it reads as for a target. */
enum push_notify_kind {
    PUSH_NOTIFY_ALL,    /* "*", or a payload of no known form (a later version's): everyone */
    PUSH_NOTIFY_USER,   /* "u:" and a valid user name: that user only */
    PUSH_NOTIFY_NOBODY, /* "u:" and a name no user can have (push_user_valid): no one */
    PUSH_NOTIFY_EXPIRY, /* "x": no one; the expiry timer looks again (push_expiry_poke) */
};

struct push_notify {
    enum push_notify_kind kind;
    const char *user; /* PUSH_NOTIFY_USER: the name, pointing into the payload; else NULL */
    const char *seal; /* "m:" payloads: the seal's base64, seal_len bytes, in the payload */
    size_t seal_len;
};

/* Reads payload (NUL-terminated, as libpq's PGnotify.extra) into *out; returns out->kind (that of
 * its target). */
enum push_notify_kind push_notify_parse(const char *payload, struct push_notify *out);

#define PUSH_NOTIFY_KEY_LEN 32
#define PUSH_NOTIFY_OPEN_MAX 8192 /* an opened message's bytes at most (PostgreSQL's payloads are
                                   * shorter than 8,000 bytes, the seal's base64 longer than its
                                   * content) */

struct push_notify_key {
    unsigned char enc[PUSH_NOTIFY_KEY_LEN], mac[PUSH_NOTIFY_KEY_LEN];
    int set; /* read (push_notify_keys) */
};

/* Reads push.wake_key on conn into *k: 0, or -1 (no such table, no privilege: k->set stays 0,
 * and seals are not opened). */
int push_notify_keys(PGconn *conn, struct push_notify_key *k);

/* Opens n's seal with k into out (cap bytes, NUL-terminated): the length of what it held, or -1
 * when there is no seal, it does not verify (another key, altered), or it does not fit. */
long push_notify_open(const struct push_notify *n, const struct push_notify_key *k, char *out,
                      size_t cap);

#endif
