/* push_auth.c: identifying the user of a request */
#include "config.h"

#include "http/push_auth.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/push_log.h"

static enum push_auth_err set_user(struct push_identity *id, const char *name,
                                   enum push_auth_source source)
{
    size_t len = strlen(name);

    id->source = source; /* also when refused: the log says which name was not valid */
    if (!push_user_valid(name, len))
        return PUSH_AUTH_BAD_USER;
    memcpy(id->user, name, len + 1);
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

/* Checks text, a token or (source PUSH_AUTH_TICKET) a stream ticket, whose identity carries the
 * token's expiry. When it is refused, id says why and whom it claims, for the log. */
static enum push_auth_err check_signed(const struct push_config *cfg, const char *text,
                                       enum push_auth_source source, int64_t now,
                                       struct push_identity *id)
{
    struct push_secret secrets[2];
    enum push_token_err err;
    int n;

    /* the secrets in force: a reload may have rotated them (README "Rotating the token secret") */
    cfg = push_config_current(cfg);
    id->source = source;
    if (cfg->token_secret_len == 0)
        return PUSH_AUTH_NO_SECRET;
    n = push_config_secrets(cfg, secrets);
    if (source == PUSH_AUTH_TICKET)
        err = push_ticket_verify_any(secrets, n, text, now, id->user, &id->expires);
    else
        err = push_token_verify_any(secrets, n, text, now, id->user, &id->expires);
    if (err == PUSH_TOKEN_OK)
        return PUSH_AUTH_OK;
    id->refused = err;
    if (push_token_claimed_user(text, id->claimed) < 0)
        id->claimed[0] = '\0';
    return err == PUSH_TOKEN_EXPIRED ? PUSH_AUTH_EXPIRED : PUSH_AUTH_BAD_TOKEN;
}

static enum push_auth_err identify(const struct push_config *cfg, char *const *envp,
                                   const struct push_query *q, int64_t now, int tickets,
                                   struct push_identity *id)
{
    const char *remote = push_env_get(envp, "REMOTE_USER");
    char cookie[PUSH_TOKEN_MAX + 1];
    const char *token, *demo_user;

    id->refused = PUSH_TOKEN_OK;
    id->claimed[0] = '\0';
    id->source = PUSH_AUTH_REMOTE_USER;
    /* Two values: which one did the server check? Neither is believed, even if one is empty. */
    if (env_count(envp, "REMOTE_USER") > 1)
        return PUSH_AUTH_AMBIGUOUS;
    if (remote && *remote)
        return set_user(id, remote, PUSH_AUTH_REMOTE_USER);
    token = find_token(cfg, envp, q, cookie, sizeof cookie);
    if (tickets && push_query_get(q, "ticket")) /* the stream's ticket, before any token */
        return check_signed(cfg, push_query_get(q, "ticket"), PUSH_AUTH_TICKET, now, id);
    if (token)
        return check_signed(cfg, token, PUSH_AUTH_TOKEN, now, id);
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

const char *push_auth_reason(enum push_auth_err err, const struct push_identity *id)
{
    int ticket = id->source == PUSH_AUTH_TICKET;

    switch (err) {
    case PUSH_AUTH_OK: return "ok";
    case PUSH_AUTH_MISSING: return "no credentials (no login, token or ticket)";
    case PUSH_AUTH_BAD_TOKEN:
        if (id->refused == PUSH_TOKEN_BAD_SIGNATURE)
            return ticket ? "bad stream ticket signature (forged, or signed with another secret)"
                          : "bad token signature (forged, or signed with another secret)";
        return ticket ? "malformed stream ticket" : "malformed token";
    case PUSH_AUTH_EXPIRED: return ticket ? "stream ticket expired" : "token expired";
    case PUSH_AUTH_NO_SECRET:
        return ticket ? "a stream ticket came, but there is no secret to check it with (set "
                        "PUSH_TOKEN_SECRET_FILE or PUSH_TOKEN_SECRET)"
                      : "a token came, but there is no secret to check it with (set "
                        "PUSH_TOKEN_SECRET_FILE or PUSH_TOKEN_SECRET)";
    case PUSH_AUTH_BAD_USER:
        return id->source == PUSH_AUTH_DEMO ? "?user= is not a valid user name"
                                            : "REMOTE_USER is not a valid user name";
    case PUSH_AUTH_AMBIGUOUS:
        return "REMOTE_USER was passed twice (check the web server's configuration: one "
               "REMOTE_USER, set only where the server authenticates)";
    }
    return "unknown authentication error";
}

/* Whether text may go into the log as it is: printable ASCII, no space, at most max bytes. */
static int loggable(const char *text, size_t max)
{
    size_t n = 0;

    for (; text[n]; n++)
        if (n == max || text[n] <= ' ' || text[n] > '~')
            return 0;
    return n > 0;
}

void push_auth_log_refusal(enum push_auth_err err, const struct push_identity *id, const char *what,
                           const char *remote)
{
    char claims[PUSH_USER_MAX + 24] = "", from[80] = "";

    /* a valid user name has no control characters: it cannot break the line */
    if (id->claimed[0] && (err == PUSH_AUTH_BAD_TOKEN || err == PUSH_AUTH_EXPIRED))
        snprintf(claims, sizeof claims, ", claims user \"%s\"", id->claimed);
    if (remote && loggable(remote, 64))
        snprintf(from, sizeof from, ", from %s", remote);
    push_log(err == PUSH_AUTH_AMBIGUOUS ? PUSH_LOG_WARN : PUSH_LOG_INFO, "refused %s (%d %s): %s%s%s",
             what, push_auth_status(err), push_auth_code(err), push_auth_reason(err, id), claims,
             from);
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
