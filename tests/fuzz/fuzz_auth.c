/* fuzz_auth.c: who a request is. The input is a request's query string, Authorization, Cookie and
 * the headers an attacker would forge (X-Remote-User, Forwarded, Remote-User, X-Forwarded-User:
 * as CGI passes them, HTTP_*), one per line; REMOTE_USER itself, which only the web server sets,
 * is never among them. Property: nothing without a valid signature identifies anyone: a request
 * that is identified carries, byte for byte, the token (or, for a stream, the ticket's user and
 * the token expiry) that the signer makes for that identity, and never comes from a header. */
#include "config.h"
#include "fuzz.h"
#include "core/push_config.h"
#include "core/push_token.h"
#include "http/push_auth.h"
#include "http/push_query.h"

#define NOW 1800000000
enum { QS, AUTH, COOKIE, XRU, FWD, RU, XFU, NPARTS };

static struct push_config cfg;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char err[256];
    char *const env[] = { "PUSH_TOKEN_SECRET=" FUZZ_SECRET, NULL };

    (void)argc, (void)argv;
    if (push_config_load(&cfg, env, err, sizeof err) != 0) {
        fprintf(stderr, "config: %s\n", err);
        abort();
    }
    return 0;
}

static char *var(const char *name, const char *value)
{
    size_t n = strlen(name) + strlen(value) + 2;
    char *s = malloc(n);

    if (!s)
        abort();
    snprintf(s, n, "%s=%s", name, value);
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *names[NPARTS] = { "QUERY_STRING", "HTTP_AUTHORIZATION", "HTTP_COOKIE",
                                         "HTTP_X_REMOTE_USER", "HTTP_FORWARDED", "HTTP_REMOTE_USER",
                                         "HTTP_X_FORWARDED_USER" };
    char *part[NPARTS], *env[NPARTS + 1], token[PUSH_TOKEN_MAX + 1];
    char *buf = fuzz_parts(data, size, part, NPARTS);
    struct push_query *q = push_query_new();
    struct push_identity id;

    for (int i = 0; i < NPARTS; i++)
        env[i] = var(names[i], part[i]);
    env[NPARTS] = NULL;
    if (push_query_parse(q, part[QS]) == PUSH_QUERY_OK) {
        memset(&id, 0, sizeof id);
        if (push_auth_identify(&cfg, env, q, NOW, &id) == PUSH_AUTH_OK) {
            PROPERTY(id.source == PUSH_AUTH_TOKEN, "identified by source %d without a token",
                     (int)id.source);
            PROPERTY(push_token_sign(FUZZ_SECRET, strlen(FUZZ_SECRET), id.user, id.expires, token,
                                     sizeof token) > 0,
                     "identified as a user the signer refuses");
            const char *qt = push_query_get(q, "token"); /* decoded */
            PROPERTY((qt && strcmp(qt, token) == 0) || strstr(part[AUTH], token) || strstr(part[COOKIE], token),
                     "%s identified without its token in the query, Authorization or Cookie",
                     id.user);
        }
        memset(&id, 0, sizeof id);
        if (push_auth_identify_stream(&cfg, env, q, NOW, &id) == PUSH_AUTH_OK) {
            PROPERTY(id.source == PUSH_AUTH_TOKEN || id.source == PUSH_AUTH_TICKET,
                     "a stream identified by source %d", (int)id.source);
            if (id.source == PUSH_AUTH_TICKET) {
                const char *t = push_query_get(q, "ticket");
                char user[PUSH_USER_MAX + 1];
                int64_t texp = 0;
                PROPERTY(t && push_ticket_verify(FUZZ_SECRET, strlen(FUZZ_SECRET), t, NOW, user,
                                                 &texp) == PUSH_TOKEN_OK
                             && strcmp(user, id.user) == 0 && texp == id.expires,
                         "a stream identified by a ticket that does not verify for %s", id.user);
            }
        }
    }
    for (int i = 0; i < NPARTS; i++)
        free(env[i]);
    free(q);
    free(buf);
    return 0;
}
