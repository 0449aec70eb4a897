/* push_cursor.h: a position in one user's stream, and its opaque text form */
#ifndef PUSH_CURSOR_H
#define PUSH_CURSOR_H

#include <stddef.h>
#include <stdint.h>

/* A user's stream merges two streams; a cursor holds the last id seen of each. Within a stream
 * ids grow in commit order (see sql/migrations/0001_init.sql), so "after a cursor" is exact. */
struct push_cursor {
    int64_t personal;  /* last message id seen that was sent to the user */
    int64_t broadcast; /* last message id seen that was sent to everyone */
};

/* Text form: "<personal hex>-<broadcast hex>-<8 hex of the user's tag>", at most
 * PUSH_CURSOR_MAX - 1 characters. The tag binds a cursor to its user: another user's cursor
 * is refused instead of being read as a position in the wrong stream. */
#define PUSH_CURSOR_MAX 48
#define PUSH_CURSOR_TAG_LEN 8

enum push_cursor_err {
    PUSH_CURSOR_OK,
    PUSH_CURSOR_MALFORMED,  /* not a cursor at all */
    PUSH_CURSOR_WRONG_USER, /* a cursor, of another user */
};

/* Computes user's tag (PUSH_CURSOR_TAG_LEN hex digits and a NUL) into tag. */
void push_cursor_tag(const char *user, char tag[PUSH_CURSOR_TAG_LEN + 1]);

/* Writes c's text form for the user with tag into buf (PUSH_CURSOR_MAX bytes). */
void push_cursor_format(const struct push_cursor *c, const char *tag, char buf[PUSH_CURSOR_MAX]);

/* Parses text into c, checking it belongs to the user with tag. On error c is untouched. */
enum push_cursor_err push_cursor_parse(const char *text, const char *tag, struct push_cursor *c);

/* A short English phrase for err. */
const char *push_cursor_strerror(enum push_cursor_err err);

#endif
