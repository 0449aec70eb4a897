/* push_auth.c: identifying the user of a request */
#include "config.h"

#include "http/push_auth.h"

#include <string.h>
#include <strings.h>

static enum push_auth_err set_user(struct push_identity *id, const char *name,
                                   enum push_auth_source source)
{
    size_t len = strlen(name);

    if (!push_user_valid(name, len))
        return PUSH_AUTH_BAD_USER;
    memcpy(id->user, name, len + 1);
    id->source = source;
    id->expires = 0;
    return PUSH_AUTH_OK;
}

/* The token of the request, if any, into buf; returns buf or NULL. A cookie too long to be a
 * token gives "" (present, and bad). */
static const char *find_token(const struct push_config *cfg, char *const *envp,
                              const struct push_query *q, char *buf, size_t size)
{
    const char *v = push_query_get(q, "token");
    const char *auth = push_env_get(envp, "HTTP_AUTHORIZATION");
    int rc;

    if (v && *v)
        return v;
    if (auth && strncasecmp(auth, "Bearer ", 7) == 0) { /* auth schemes ignore case */
        for (auth += 7; *auth == ' '; auth++)
            ;
        return auth;
    }
    rc = push_cookie_get(push_env_get(envp, "HTTP_COOKIE"), cfg->token_cookie, buf, size);
    if (rc == 0 && *buf)
        return buf;
    if (rc == -2)
        return "";
    return NULL;
}

/* How many times the web server passed name. */
static int env_count(char *const *envp, const char *name)
{
    size_t len = strlen(name);
    int n = 0;

    for (; envp && *envp; envp++)
        n += strncmp(*envp, name, len) == 0 && (*envp)[len] == '=';
    return n;
}

/* The outcome of checking a token or a stream ticket (err), which came from source. */
static enum push_auth_err verified(enum push_token_err err, enum push_auth_source source,
                                   struct push_identity *id)
{
    if (err == PUSH_TOKEN_EXPIRED)
        return PUSH_AUTH_EXPIRED;
    if (err != PUSH_TOKEN_OK)
        return PUSH_AUTH_BAD_TOKEN;
    id->source = source;
    return PUSH_AUTH_OK;
}

/* Checks a stream ticket in place of a token; the identity carries the token's expiry. */
static enum push_auth_err ticket_identify(const struct push_config *cfg, const char *ticket,
                                          int64_t now, struct push_identity *id)
{
    return verified(push_ticket_verify(cfg->token_secret, cfg->token_secret_len, ticket, now,
                                       id->user, &id->expires),
                    PUSH_AUTH_TICKET, id);
}

static enum push_auth_err identify(const struct push_config *cfg, char *const *envp,
                                   const struct push_query *q, int64_t now, int tickets,
                                   struct push_identity *id)
{
    const char *remote = push_env_get(envp, "REMOTE_USER");
    char cookie[PUSH_TOKEN_MAX + 1];
    const char *token, *demo_user;

    /* Two values: which one did the server check? Neither is believed, even if one is empty. */
    if (env_count(envp, "REMOTE_USER") > 1)
        return PUSH_AUTH_AMBIGUOUS;
    if (remote && *remote)
        return set_user(id, remote, PUSH_AUTH_REMOTE_USER);
    token = find_token(cfg, envp, q, cookie, sizeof cookie);
    if (tickets && push_query_get(q, "ticket")) { /* the stream's ticket, before any token */
        if (cfg->token_secret_len == 0)
            return PUSH_AUTH_NO_SECRET;
        return ticket_identify(cfg, push_query_get(q, "ticket"), now, id);
    }
    if (token) {
        if (cfg->token_secret_len == 0)
            return PUSH_AUTH_NO_SECRET;
        return verified(push_token_verify(cfg->token_secret, cfg->token_secret_len, token, now,
                                          id->user, &id->expires),
                        PUSH_AUTH_TOKEN, id);
    }
    demo_user = push_query_get(q, "user");
    if (cfg->demo && demo_user)
        return set_user(id, demo_user, PUSH_AUTH_DEMO);
    return PUSH_AUTH_MISSING;
}

enum push_auth_err push_auth_identify(const struct push_config *cfg, char *const *envp,
                                      const struct push_query *q, int64_t now,
                                      struct push_identity *id)
{
    return identify(cfg, envp, q, now, 0, id);
}

enum push_auth_err push_auth_identify_stream(const struct push_config *cfg, char *const *envp,
                                             const struct push_query *q, int64_t now,
                                             struct push_identity *id)
{
    return identify(cfg, envp, q, now, 1, id);
}

const char *push_auth_strerror(enum push_auth_err err)
{
    switch (err) {
    case PUSH_AUTH_OK: return "ok";
    case PUSH_AUTH_MISSING:
        return "authentication required: log in through the web server, or send a signed token";
    case PUSH_AUTH_BAD_TOKEN: return "the token is malformed or its signature does not match";
    case PUSH_AUTH_EXPIRED: return "the token has expired";
    case PUSH_AUTH_NO_SECRET: return "tokens are not accepted: the server has no token secret";
    case PUSH_AUTH_BAD_USER: return "the user name is not valid";
    case PUSH_AUTH_AMBIGUOUS:
        return "the web server passed the user twice; refused (a misconfigured server, see its log)";
    }
    return "unknown authentication error";
}

int push_auth_status(enum push_auth_err err)
{
    return err == PUSH_AUTH_AMBIGUOUS ? 403 : 401;
}

const char *push_auth_code(enum push_auth_err err)
{
    switch (err) {
    case PUSH_AUTH_MISSING: return "unauthorized";
    case PUSH_AUTH_AMBIGUOUS: return "identity_ambiguous";
    default: return "bad_token";
    }
}
