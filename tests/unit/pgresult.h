/* pgresult.h: results shaped like push_store's, built without a database (libpq's result-building
 * calls), for the unit tests of what reads them */
#ifndef PUSH_UNIT_PGRESULT_H
#define PUSH_UNIT_PGRESULT_H

#include <string.h>

#include <check.h>
#include <libpq-fe.h>

#include "store/push_store.h"

#define TEXTOID 25
#define NCOLS PUSH_MESSAGE_COLS

static inline PGresult *make_result(const char *const *names, int ncols)
{
    PGresAttDesc attrs[NCOLS];
    PGresult *res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);

    ck_assert_ptr_nonnull(res);
    ck_assert_int_le(ncols, NCOLS);
    for (int i = 0; i < ncols; i++) {
        attrs[i] = (PGresAttDesc){ .name = (char *)names[i], .tableid = 0, .columnid = 0,
                                   .format = 0, .typid = TEXTOID, .typlen = -1,
                                   .atttypmod = -1 };
    }
    ck_assert_int_eq(PQsetResultAttrs(res, ncols, attrs), 1);
    return res;
}

/* Sets row, column to value; NULL value is SQL NULL. */
static inline void set(PGresult *res, int row, int col, const char *value)
{
    ck_assert_int_eq(PQsetvalue(res, row, col, (char *)value, value ? (int)strlen(value) : -1), 1);
}

/* One push_store_messages row, in enum push_message_col order; NULL is SQL NULL. (A read after a
 * cursor ends with a head row; these have none, which the readers take as "no head".) */
struct row {
    const char *col[NCOLS];
};

static inline PGresult *messages(const struct row *rows, int n)
{
    static const char *const names[NCOLS] = { "id", "broadcast", "kind", "title", "body",
                                              "data", "link", "created_at", "read", "pos_p",
                                              "pos_b", "op", "at_p", "at_b" };
    PGresult *res = make_result(names, NCOLS);

    for (int r = 0; r < n; r++)
        for (int c = 0; c < NCOLS; c++)
            set(res, r, c, rows[r].col[c]);
    ck_assert_int_eq(PQntuples(res), n);
    ck_assert_int_eq(PQnfields(res), NCOLS);
    return res;
}

static inline PGresult *unread(const char *const (*rows)[2], int n)
{
    static const char *const names[2] = { "kind", "n" };
    PGresult *res = make_result(names, 2);

    for (int r = 0; r < n; r++) {
        set(res, r, 0, rows[r][0]);
        set(res, r, 1, rows[r][1]);
    }
    return res;
}

/* A message row with the given text columns and positions. */
static inline struct row message_row(const char *id, const char *title, const char *body,
                                     const char *pos_p, const char *pos_b)
{
    struct row r = { { id, "f", "chat", title, body, "{\"k\":1}", "/inbox/1",
                       "2024-05-01 12:00:00+00", "f", pos_p, pos_b, "message", pos_p, pos_b } };

    return r;
}

#endif
