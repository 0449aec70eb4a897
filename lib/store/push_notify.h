/* push_notify.h: what the database's notifications say (README "How it works"; sent by the
 * triggers of sql/migrations/0001_init.sql). The one reading of them, for push_hub and push-mqtt. */
#ifndef PUSH_NOTIFY_H
#define PUSH_NOTIFY_H

/* The channel every change is notified on, and the statement that listens to it. */
#define PUSH_NOTIFY_CHANNEL "pgpush"
#define PUSH_NOTIFY_LISTEN "LISTEN " PUSH_NOTIFY_CHANNEL

/* Payloads name users only, never content:
 *
 *     payload = "u:" user     one user's stream or read state changed
 *             | "*"           everyone's may have (a broadcast, an edit, a bulk change)
 *
 * where user is a valid user name (push_user_valid). A notification only wakes: the programs
 * read the tables afterwards, so waking too much is always safe and waking too little never is. */
enum push_notify_kind {
    PUSH_NOTIFY_ALL,    /* "*", or a payload of no known form (a later version's): everyone */
    PUSH_NOTIFY_USER,   /* "u:" and a valid user name: that user only */
    PUSH_NOTIFY_NOBODY, /* "u:" and a name no user can have (push_user_valid): no one */
};

struct push_notify {
    enum push_notify_kind kind;
    const char *user; /* PUSH_NOTIFY_USER: the name, pointing into the payload; else NULL */
};

/* Reads payload (NUL-terminated, as libpq's PGnotify.extra) into *out; returns out->kind. */
enum push_notify_kind push_notify_parse(const char *payload, struct push_notify *out);

#endif
