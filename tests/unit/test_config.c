/* test_config.c: unit tests for lib/core/push_config: environment lookup, defaults, parsing, errors */
#include "config.h"

#include "unit.h"

#include "core/push_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static struct push_config cfg;
static char err[256];

/* Loads from a NULL-terminated list of "NAME=value" strings. */
#define LOAD(...) load((char *const[]){ __VA_ARGS__, NULL })

static int load(char *const *envp)
{
    err[0] = '\0';
    return push_config_load(&cfg, envp, err, sizeof err);
}

static void assert_error_names(const char *var)
{
    ck_assert_msg(strstr(err, var) != NULL, "error \"%s\" does not name %s", err, var);
    ck_assert_msg(strchr(err, '\n') == NULL, "error \"%s\" is not one line", err);
}

/* A temporary file holding content; the caller unlinks path. */
static void temp_file(char path[64], const char *content, size_t len)
{
    int fd;

    snprintf(path, 64, "/tmp/pgpush-test-secret-XXXXXX");
    fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, content, len), (ssize_t)len);
    ck_assert_int_eq(close(fd), 0);
}

/* ---- push_env_get */

START_TEST(env_get_matches_exact_names)
{
    char *const envp[] = { "PUSH_DEMO_X=1", "PUSH_DEM=2", "XPUSH_DEMO=3", "PUSH_DEMO",
                           "PUSH_LISTEN=a=b", "EMPTY=", "PUSH_DEMO=yes", "PUSH_DEMO=no", NULL };

    ck_assert_str_eq(push_env_get(envp, "PUSH_DEMO"), "yes"); /* the first one */
    ck_assert_str_eq(push_env_get(envp, "PUSH_DEM"), "2");
    ck_assert_str_eq(push_env_get(envp, "PUSH_DEMO_X"), "1");
    ck_assert_str_eq(push_env_get(envp, "PUSH_LISTEN"), "a=b");
    ck_assert_str_eq(push_env_get(envp, "EMPTY"), "");
    ck_assert_ptr_null(push_env_get(envp, "PUSH"));
    ck_assert_ptr_null(push_env_get(envp, "PUSH_DEMO_"));
    ck_assert_ptr_null(push_env_get(envp, "push_demo"));
    ck_assert_ptr_null(push_env_get(envp, "MISSING"));
}
END_TEST

START_TEST(env_get_empty_and_null_environment)
{
    char *const empty[] = { NULL };

    ck_assert_ptr_null(push_env_get(empty, "PUSH_DEMO"));
    ck_assert_ptr_null(push_env_get(NULL, "PUSH_DEMO"));
}
END_TEST

START_TEST(config_ignores_similar_names)
{
    ck_assert_int_eq(LOAD("PUSH_DEMO_X=1", "XPUSH_DEMO=1", "PUSH_LIMIT_MAXIMUM=7",
                          "PUSH_TOKEN_SECRETS=short"), 0);
    ck_assert_int_eq(cfg.demo, 0);
    ck_assert_int_eq(cfg.max_limit, 200);
    ck_assert_uint_eq(cfg.token_secret_len, 0);
}
END_TEST

/* ---- defaults and values */

START_TEST(defaults)
{
    char *const envp[] = { NULL };

    memset(&cfg, 0x5a, sizeof cfg);
    ck_assert_int_eq(load(envp), 0);
    ck_assert_str_eq(cfg.database_url, "");
    ck_assert_str_eq(cfg.token_secret, "");
    ck_assert_uint_eq(cfg.token_secret_len, 0);
    ck_assert_str_eq(cfg.token_cookie, "pgpush_token");
    ck_assert_int_eq(cfg.demo, 0);
    ck_assert_int_eq(cfg.allow_owner, 0);
    ck_assert_str_eq(cfg.listen, "");
    ck_assert_int_eq(cfg.socket_mode, 0660);
    ck_assert_int_eq(cfg.threads, 0);
    ck_assert_int_eq(cfg.default_limit, 50);
    ck_assert_int_eq(cfg.max_limit, 200);
    ck_assert_str_eq(cfg.allowed_origins, "");
    ck_assert_int_eq(cfg.log_level, PUSH_LOG_INFO);
    ck_assert_int_eq(cfg.log_time, 1);
    /* streaming defaults: mod_fcgid-safe heartbeat and lifetime (see INTEGRATION.md) */
    ck_assert_int_eq(cfg.heartbeat, 15);
    ck_assert_int_eq(cfg.lifetime, 240);
    ck_assert_int_eq(cfg.ticket_ttl, 60);
    ck_assert_int_eq(cfg.hold, 25);
    ck_assert_int_eq(cfg.hold_max, 60);
    ck_assert_int_eq(cfg.db_pool, 3);
    ck_assert_int_eq(cfg.max_streams, 1000);
    ck_assert_int_eq(cfg.max_streams_per_user, 16);
    ck_assert_int_eq(cfg.write_timeout, 30);
    ck_assert_int_eq(cfg.retry_ms, 3000);
    ck_assert_int_eq(cfg.thread_stack_kb, 128);
    ck_assert_int_eq(push_config_load(&cfg, NULL, err, sizeof err), 0);
    ck_assert_str_eq(cfg.token_cookie, "pgpush_token");
}
END_TEST

START_TEST(every_variable_is_read)
{
    ck_assert_int_eq(LOAD("PUSH_DATABASE_URL=postgresql://u@h/db", "HOME=/root",
                          "PUSH_TOKEN_SECRET=0123456789abcdef-and-more",
                          "PUSH_TOKEN_COOKIE=my.cookie-Name_2", "PUSH_DEMO=1",
                          "PUSH_LISTEN=127.0.0.1:9000", "PUSH_SOCKET_MODE=0600",
                          "PUSH_THREADS=8", "PUSH_LIMIT_DEFAULT=10", "PUSH_LIMIT_MAX=500",
                          "PUSH_ALLOWED_ORIGINS=https://a.example https://b.example",
                          "PUSH_LOG_LEVEL=debug", "PUSH_LOG_TIME=0", "PUSH_ALLOW_OWNER=yes"),
                     0);
    ck_assert_str_eq(cfg.database_url, "postgresql://u@h/db");
    ck_assert_str_eq(cfg.token_secret, "0123456789abcdef-and-more");
    ck_assert_uint_eq(cfg.token_secret_len, strlen("0123456789abcdef-and-more"));
    ck_assert_str_eq(cfg.token_cookie, "my.cookie-Name_2");
    ck_assert_int_eq(cfg.demo, 1);
    ck_assert_str_eq(cfg.listen, "127.0.0.1:9000");
    ck_assert_int_eq(cfg.socket_mode, 0600);
    ck_assert_int_eq(cfg.threads, 8);
    ck_assert_int_eq(cfg.default_limit, 10);
    ck_assert_int_eq(cfg.max_limit, 500);
    ck_assert_str_eq(cfg.allowed_origins, "https://a.example https://b.example");
    ck_assert_int_eq(cfg.log_level, PUSH_LOG_DEBUG);
    ck_assert_int_eq(cfg.log_time, 0);
    ck_assert_int_eq(cfg.allow_owner, 1);
}
END_TEST

/* The LISTEN connection's string falls back to PUSH_DATABASE_URL; PUSH_DB_PREPARE is 0 or 1 */
START_TEST(listen_url_and_prepare)
{
    ck_assert_int_eq(LOAD("PUSH_DATABASE_URL=host=pooler port=6432"), 0);
    ck_assert_str_eq(push_config_listen_url(&cfg), "host=pooler port=6432");
    ck_assert_int_eq(cfg.db_prepare, 1);
    ck_assert_int_eq(LOAD("PUSH_DATABASE_URL=host=pooler port=6432", "PUSH_LISTEN_DATABASE_URL=host=db",
                          "PUSH_DB_PREPARE=0"),
                     0);
    ck_assert_str_eq(push_config_listen_url(&cfg), "host=db");
    ck_assert_str_eq(cfg.database_url, "host=pooler port=6432");
    ck_assert_int_eq(cfg.db_prepare, 0);
    ck_assert_int_eq(LOAD("PUSH_DB_PREPARE=2"), -1);
    assert_error_names("PUSH_DB_PREPARE");
    ck_assert_int_eq(LOAD("PUSH_DB_PREPARE=maybe"), -1);
    assert_error_names("PUSH_DB_PREPARE");
    ck_assert_int_eq(LOAD("PUSH_DB_PREPARE=no"), 0);
    ck_assert_int_eq(cfg.db_prepare, 0);
}
END_TEST

START_TEST(log_time_parses)
{
    static const struct { const char *env; int on; } values[] = {
        { "PUSH_LOG_TIME=0", 0 }, { "PUSH_LOG_TIME=no", 0 }, { "PUSH_LOG_TIME=off", 0 },
        { "PUSH_LOG_TIME=1", 1 }, { "PUSH_LOG_TIME=yes", 1 }, { "PUSH_LOG_TIME=", 1 },
    };

    for (int i = 0; i < N(values); i++) {
        char *const envp[] = { (char *)values[i].env, NULL };

        ck_assert_msg(load(envp) == 0, "%s: %s", values[i].env, err);
        ck_assert_int_eq(cfg.log_time, values[i].on);
    }
}
END_TEST

static const struct {
    const char *value;
    int demo;
} demo_values[] = {
    { "PUSH_DEMO=1", 1 }, { "PUSH_DEMO=yes", 1 }, { "PUSH_DEMO=true", 1 }, { "PUSH_DEMO=on", 1 },
    { "PUSH_DEMO=0", 0 }, { "PUSH_DEMO=no", 0 }, { "PUSH_DEMO=false", 0 }, { "PUSH_DEMO=off", 0 },
    { "PUSH_DEMO=", 0 },
};

START_TEST(demo_values_parse)
{
    char *const envp[] = { (char *)demo_values[_i].value, NULL };

    ck_assert_msg(load(envp) == 0, "%s: %s", demo_values[_i].value, err);
    ck_assert_int_eq(cfg.demo, demo_values[_i].demo);
}
END_TEST

START_TEST(log_levels_parse)
{
    static const struct { const char *env; enum push_log_level level; } levels[] = {
        { "PUSH_LOG_LEVEL=error", PUSH_LOG_ERROR }, { "PUSH_LOG_LEVEL=warn", PUSH_LOG_WARN },
        { "PUSH_LOG_LEVEL=info", PUSH_LOG_INFO }, { "PUSH_LOG_LEVEL=debug", PUSH_LOG_DEBUG },
        { "PUSH_LOG_LEVEL=", PUSH_LOG_INFO },
    };

    for (int i = 0; i < N(levels); i++) {
        char *const envp[] = { (char *)levels[i].env, NULL };

        ck_assert_msg(load(envp) == 0, "%s: %s", levels[i].env, err);
        ck_assert_int_eq(cfg.log_level, levels[i].level);
    }
}
END_TEST

START_TEST(limits_bounds_and_clamping)
{
    ck_assert_int_eq(LOAD("PUSH_LIMIT_MAX=1000", "PUSH_LIMIT_DEFAULT=1000"), 0);
    ck_assert_int_eq(cfg.max_limit, 1000);
    ck_assert_int_eq(cfg.default_limit, 1000);
    ck_assert_int_eq(LOAD("PUSH_LIMIT_MAX=1", "PUSH_LIMIT_DEFAULT=1"), 0);
    ck_assert_int_eq(cfg.max_limit, 1);
    ck_assert_int_eq(cfg.default_limit, 1);
    /* a lower maximum pulls the default down with it */
    ck_assert_int_eq(LOAD("PUSH_LIMIT_MAX=20"), 0);
    ck_assert_int_eq(cfg.max_limit, 20);
    ck_assert_int_eq(cfg.default_limit, 20);
    ck_assert_int_eq(LOAD("PUSH_LIMIT_DEFAULT=200"), 0);
    ck_assert_int_eq(cfg.default_limit, 200);
    ck_assert_int_eq(LOAD("PUSH_THREADS=1"), 0);
    ck_assert_int_eq(cfg.threads, 1);
    ck_assert_int_eq(LOAD("PUSH_THREADS=20000"), 0);
    ck_assert_int_eq(cfg.threads, 20000);
}
END_TEST

START_TEST(socket_mode_is_octal)
{
    ck_assert_int_eq(LOAD("PUSH_SOCKET_MODE=0600"), 0);
    ck_assert_int_eq(cfg.socket_mode, 0600);
    ck_assert_int_eq(LOAD("PUSH_SOCKET_MODE=660"), 0);
    ck_assert_int_eq(cfg.socket_mode, 0660);
    ck_assert_int_eq(LOAD("PUSH_SOCKET_MODE=0777"), 0);
    ck_assert_int_eq(cfg.socket_mode, 0777);
    ck_assert_int_eq(LOAD("PUSH_SOCKET_MODE=0"), 0);
    ck_assert_int_eq(cfg.socket_mode, 0);
}
END_TEST

START_TEST(secret_length_bounds)
{
    char env[PUSH_SECRET_MAX + 64];

    snprintf(env, sizeof env, "PUSH_TOKEN_SECRET=%.*s", PUSH_SECRET_MIN,
             "0123456789abcdefghijklmnop");
    ck_assert_int_eq(LOAD(env), 0);
    ck_assert_uint_eq(cfg.token_secret_len, PUSH_SECRET_MIN);

    memset(env, 's', sizeof env);
    memcpy(env, "PUSH_TOKEN_SECRET=", 18);
    env[18 + PUSH_SECRET_MAX] = '\0';
    ck_assert_int_eq(LOAD(env), 0);
    ck_assert_uint_eq(cfg.token_secret_len, PUSH_SECRET_MAX);
    ck_assert_uint_eq(strlen(cfg.token_secret), PUSH_SECRET_MAX);

    /* empty: no secret, tokens refused, not an error */
    ck_assert_int_eq(LOAD("PUSH_TOKEN_SECRET="), 0);
    ck_assert_uint_eq(cfg.token_secret_len, 0);
}
END_TEST

/* ---- errors */

static const struct {
    const char *env[3];
    const char *var; /* the variable the message must name */
} bad_configs[] = {
    { { "PUSH_LIMIT_MAX=0" }, "PUSH_LIMIT_MAX" },
    { { "PUSH_LIMIT_MAX=1001" }, "PUSH_LIMIT_MAX" },
    { { "PUSH_LIMIT_MAX=abc" }, "PUSH_LIMIT_MAX" },
    { { "PUSH_LIMIT_MAX=" }, "PUSH_LIMIT_MAX" },
    { { "PUSH_LIMIT_MAX=-5" }, "PUSH_LIMIT_MAX" },
    { { "PUSH_LIMIT_MAX=10x" }, "PUSH_LIMIT_MAX" },
    { { "PUSH_LIMIT_MAX=99999999999999999999999" }, "PUSH_LIMIT_MAX" },
    { { "PUSH_LIMIT_DEFAULT=201" }, "PUSH_LIMIT_DEFAULT" },
    { { "PUSH_LIMIT_DEFAULT=0" }, "PUSH_LIMIT_DEFAULT" },
    { { "PUSH_LIMIT_MAX=50", "PUSH_LIMIT_DEFAULT=100" }, "PUSH_LIMIT_DEFAULT" },
    { { "PUSH_LIMIT_DEFAULT=100", "PUSH_LIMIT_MAX=50" }, "PUSH_LIMIT_DEFAULT" },
    { { "PUSH_THREADS=0" }, "PUSH_THREADS" },
    { { "PUSH_THREADS=20001" }, "PUSH_THREADS" },
    { { "PUSH_THREAD_STACK=16" }, "PUSH_THREAD_STACK" },
    { { "PUSH_DB_POOL=0" }, "PUSH_DB_POOL" },
    { { "PUSH_DB_POOL=65" }, "PUSH_DB_POOL" },
    { { "PUSH_MAX_STREAMS=0" }, "PUSH_MAX_STREAMS" },
    { { "PUSH_MAX_STREAMS_PER_USER=x" }, "PUSH_MAX_STREAMS_PER_USER" },
    { { "PUSH_HEARTBEAT=0" }, "PUSH_HEARTBEAT" },
    { { "PUSH_LIFETIME=86401" }, "PUSH_LIFETIME" },
    { { "PUSH_TICKET_TTL=0" }, "PUSH_TICKET_TTL" },
    { { "PUSH_TICKET_TTL=3601" }, "PUSH_TICKET_TTL" },
    { { "PUSH_HOLD=61" }, "PUSH_HOLD" },
    { { "PUSH_HOLD=10", "PUSH_HOLD_MAX=5" }, "PUSH_HOLD" },
    { { "PUSH_WRITE_TIMEOUT=-1" }, "PUSH_WRITE_TIMEOUT" },
    { { "PUSH_RETRY=abc" }, "PUSH_RETRY" },
    { { "PUSH_THREADS=four" }, "PUSH_THREADS" },
    { { "PUSH_DEMO=maybe" }, "PUSH_DEMO" },
    { { "PUSH_DEMO=2" }, "PUSH_DEMO" },
    { { "PUSH_ALLOW_OWNER=sometimes" }, "PUSH_ALLOW_OWNER" },
    { { "PUSH_LOG_LEVEL=loud" }, "PUSH_LOG_LEVEL" },
    { { "PUSH_LOG_LEVEL=info " }, "PUSH_LOG_LEVEL" },
    { { "PUSH_LOG_TIME=utc" }, "PUSH_LOG_TIME" },
    { { "PUSH_LOG_TIME=2" }, "PUSH_LOG_TIME" },
    { { "PUSH_TOKEN_SECRET=0123456789abcde" }, "PUSH_TOKEN_SECRET" }, /* 15 bytes */
    { { "PUSH_TOKEN_SECRET=x" }, "PUSH_TOKEN_SECRET" },
    { { "PUSH_TOKEN_SECRET=0123456789abcdef", "PUSH_TOKEN_SECRET_FILE=/etc/hostname" },
      "PUSH_TOKEN_SECRET_FILE" },
    { { "PUSH_TOKEN_SECRET_FILE=/nonexistent/pgpush/secret" }, "PUSH_TOKEN_SECRET_FILE" },
    { { "PUSH_TOKEN_COOKIE=a b" }, "PUSH_TOKEN_COOKIE" },
    { { "PUSH_TOKEN_COOKIE=a;b" }, "PUSH_TOKEN_COOKIE" },
    { { "PUSH_TOKEN_COOKIE=a=b" }, "PUSH_TOKEN_COOKIE" },
    { { "PUSH_TOKEN_COOKIE=a,b" }, "PUSH_TOKEN_COOKIE" },
    { { "PUSH_TOKEN_COOKIE=tok\"en" }, "PUSH_TOKEN_COOKIE" },
    { { "PUSH_TOKEN_COOKIE=zo\xc3\xab" }, "PUSH_TOKEN_COOKIE" },
    { { "PUSH_TOKEN_COOKIE=a\tb" }, "PUSH_TOKEN_COOKIE" },
    { { "PUSH_SOCKET_MODE=999" }, "PUSH_SOCKET_MODE" },
    { { "PUSH_SOCKET_MODE=1000" }, "PUSH_SOCKET_MODE" },
    { { "PUSH_SOCKET_MODE=rw-rw----" }, "PUSH_SOCKET_MODE" },
    { { "PUSH_SOCKET_MODE=0660 " }, "PUSH_SOCKET_MODE" },
    { { "PUSH_SOCKET_MODE=-1" }, "PUSH_SOCKET_MODE" },
    /* a header no shipped configuration clears: any client could send it */
    { { "PUSH_WS_TRUST_USER_HEADER=X-Forwarded-User" }, "PUSH_WS_TRUST_USER_HEADER" },
    { { "PUSH_WS_TRUST_USER_HEADER=Remote-User" }, "PUSH_WS_TRUST_USER_HEADER" },
    { { "PUSH_WS_TRUST_USER_HEADER=X_Remote_User" }, "PUSH_WS_TRUST_USER_HEADER" },
    { { "PUSH_WS_TRUST_USER_HEADER=X-Remote-User " }, "PUSH_WS_TRUST_USER_HEADER" },
    { { "PUSH_WS_TRUST_USER_HEADER=Authorization" }, "PUSH_WS_TRUST_USER_HEADER" },
};

START_TEST(bad_value_is_refused_naming_the_variable)
{
    char *envp[4] = { NULL };

    for (int i = 0; i < 3 && bad_configs[_i].env[i]; i++)
        envp[i] = (char *)bad_configs[_i].env[i];
    ck_assert_msg(load(envp) == -1, "%s accepted", bad_configs[_i].env[0]);
    assert_error_names(bad_configs[_i].var);
}
END_TEST

START_TEST(both_secret_and_secret_file_is_refused)
{
    ck_assert_int_eq(LOAD("PUSH_TOKEN_SECRET_FILE=/nonexistent", "PUSH_TOKEN_SECRET=0123456789abcdef"),
                     -1);
    assert_error_names("PUSH_TOKEN_SECRET");
    assert_error_names("PUSH_TOKEN_SECRET_FILE");
}
END_TEST

START_TEST(overlong_strings_are_refused)
{
    static const char *const vars[] = { "PUSH_DATABASE_URL", "PUSH_LISTEN_DATABASE_URL", "PUSH_LISTEN",
                                        "PUSH_ALLOWED_ORIGINS", "PUSH_TOKEN_COOKIE",
                                        "PUSH_TOKEN_SECRET" };
    static char env[4096];

    for (int i = 0; i < N(vars); i++) {
        size_t n = strlen(vars[i]);

        memset(env, 'a', sizeof env - 1);
        env[sizeof env - 1] = '\0';
        memcpy(env, vars[i], n);
        env[n] = '=';
        ck_assert_msg(LOAD(env) == -1, "%s accepted 4 KB", vars[i]);
        assert_error_names(vars[i]);
    }
}
END_TEST

START_TEST(longest_strings_fit)
{
    static char url[1100], cookie[100];

    memset(url, 'u', sizeof url);
    memcpy(url, "PUSH_DATABASE_URL=", 18);
    url[18 + sizeof cfg.database_url - 1] = '\0';
    memset(cookie, 'c', sizeof cookie);
    memcpy(cookie, "PUSH_TOKEN_COOKIE=", 18);
    cookie[18 + sizeof cfg.token_cookie - 1] = '\0';
    ck_assert_int_eq(LOAD(url, cookie), 0);
    ck_assert_uint_eq(strlen(cfg.database_url), sizeof cfg.database_url - 1);
    ck_assert_uint_eq(strlen(cfg.token_cookie), sizeof cfg.token_cookie - 1);
}
END_TEST

/* ---- secret files */

START_TEST(secret_file_is_read_without_newline)
{
    static const char *const contents[] = {
        "0123456789abcdef-secret\n",
        "0123456789abcdef-secret\r\n",
        "0123456789abcdef-secret",
        "0123456789abcdef-secret\nsecond line\n",
    };
    char path[64], env[128];

    for (int i = 0; i < N(contents); i++) {
        temp_file(path, contents[i], strlen(contents[i]));
        snprintf(env, sizeof env, "PUSH_TOKEN_SECRET_FILE=%s", path);
        ck_assert_msg(LOAD(env) == 0, "%s", err);
        unlink(path);
        ck_assert_str_eq(cfg.token_secret, "0123456789abcdef-secret");
        ck_assert_uint_eq(cfg.token_secret_len, strlen("0123456789abcdef-secret"));
    }
}
END_TEST

START_TEST(secret_file_with_empty_secret_variable_is_used)
{
    char path[64], env[128];

    temp_file(path, "0123456789abcdef\n", 17);
    snprintf(env, sizeof env, "PUSH_TOKEN_SECRET_FILE=%s", path);
    ck_assert_int_eq(LOAD("PUSH_TOKEN_SECRET=", env), 0);
    unlink(path);
    ck_assert_str_eq(cfg.token_secret, "0123456789abcdef");
}
END_TEST

START_TEST(secret_file_too_short_is_refused)
{
    static const char *const contents[] = { "", "\n", "short\n", "0123456789abcde\n",
                                            "\n0123456789abcdef0123\n" };
    char path[64], env[128];

    for (int i = 0; i < N(contents); i++) {
        temp_file(path, contents[i], strlen(contents[i]));
        snprintf(env, sizeof env, "PUSH_TOKEN_SECRET_FILE=%s", path);
        ck_assert_msg(LOAD(env) == -1, "file content #%d accepted", i);
        unlink(path);
        assert_error_names("PUSH_TOKEN_SECRET_FILE");
    }
}
END_TEST

START_TEST(secret_file_longest_secret_fits)
{
    char path[64], env[128], content[PUSH_SECRET_MAX + 1];

    memset(content, 'k', PUSH_SECRET_MAX);
    content[PUSH_SECRET_MAX] = '\n';
    temp_file(path, content, sizeof content);
    snprintf(env, sizeof env, "PUSH_TOKEN_SECRET_FILE=%s", path);
    ck_assert_msg(LOAD(env) == 0, "%s", err);
    unlink(path);
    ck_assert_uint_eq(cfg.token_secret_len, PUSH_SECRET_MAX);
}
END_TEST

START_TEST(secret_file_too_long_is_refused)
{
    /* like PUSH_TOKEN_SECRET longer than 256 bytes: refused, not silently cut to a different
     * secret that would then reject every token the site signs with the whole one */
    char path[64], env[128], content[PUSH_SECRET_MAX + 2];

    memset(content, 'k', PUSH_SECRET_MAX + 1);
    content[PUSH_SECRET_MAX + 1] = '\n';
    temp_file(path, content, sizeof content);
    snprintf(env, sizeof env, "PUSH_TOKEN_SECRET_FILE=%s", path);
    ck_assert_msg(LOAD(env) == -1, "a %d-byte secret was accepted as %zu bytes",
                  PUSH_SECRET_MAX + 1, cfg.token_secret_len);
    unlink(path);
    assert_error_names("PUSH_TOKEN_SECRET_FILE");
}
END_TEST

START_TEST(help_mentions_every_variable)
{
    static const char *const vars[] = {
        "PUSH_DATABASE_URL", "PUSH_LISTEN_DATABASE_URL", "PUSH_DB_PREPARE", "PUSH_TOKEN_SECRET",
        "PUSH_TOKEN_SECRET_FILE", "PUSH_TOKEN_COOKIE",
        "PUSH_DEMO", "PUSH_LISTEN", "PUSH_SOCKET_MODE", "PUSH_THREADS", "PUSH_LIMIT_DEFAULT",
        "PUSH_LIMIT_MAX", "PUSH_ALLOWED_ORIGINS", "PUSH_LOG_LEVEL", "PUSH_LOG_TIME", "PUSH_ALLOW_OWNER",
    };

    for (int i = 0; i < N(vars); i++)
        ck_assert_msg(strstr(push_config_help, vars[i]) != NULL, "%s", vars[i]);
}
END_TEST


/* ---- the configuration file */

static struct push_conffile cf;

/* Parses text; returns what push_conffile_parse did. */
static int parse(const char *text)
{
    push_conffile_free(&cf);
    memset(&cf, 0, sizeof cf);
    err[0] = '\0';
    return push_conffile_parse(&cf, "t.conf", text, strlen(text), err, sizeof err);
}

static void assert_pair(size_t i, const char *key, const char *value, int line)
{
    ck_assert_uint_gt(cf.n, i);
    ck_assert_str_eq(cf.pairs[i].key, key);
    ck_assert_str_eq(cf.pairs[i].value, value);
    ck_assert_int_eq(cf.pairs[i].line, line);
}

START_TEST(file_pairs_comments_and_quotes)
{
    ck_assert_int_eq(parse("# a comment\n"
                           "\n"
                           "PUSH_HEARTBEAT=5\n"
                           "  PUSH_LIFETIME = 60  \n"
                           "; another comment\n"
                           "PUSH_ALLOWED_ORIGINS=\"https://a.example https://b.example\"\n"
                           "PUSH_TOKEN_COOKIE='tok'\n"
                           "PGHOST=/run/postgresql\r\n"
                           "PUSH_WS_ORIGINS=\n"
                           "PUSH_DATABASE_URL=host=x dbname=y # not a comment\n"
                           "PUSH_LOG_LEVEL=\"it's\""), 0);
    ck_assert_uint_eq(cf.n, 8);
    assert_pair(0, "PUSH_HEARTBEAT", "5", 3);
    assert_pair(1, "PUSH_LIFETIME", "60", 4);
    assert_pair(2, "PUSH_ALLOWED_ORIGINS", "https://a.example https://b.example", 6);
    assert_pair(3, "PUSH_TOKEN_COOKIE", "tok", 7);
    assert_pair(4, "PGHOST", "/run/postgresql", 8);
    assert_pair(5, "PUSH_WS_ORIGINS", "", 9);
    assert_pair(6, "PUSH_DATABASE_URL", "host=x dbname=y # not a comment", 10);
    assert_pair(7, "PUSH_LOG_LEVEL", "it's", 11);
    ck_assert_int_eq(parse(""), 0);
    ck_assert_uint_eq(cf.n, 0);
}
END_TEST

static const struct { const char *text, *says; } bad_files[] = {
    { "PUSH_HEARTBEAT=1\nPUSH_HEARTBEET=2\n", "t.conf:2: PUSH_HEARTBEET: unknown setting" },
    { "PUSH_CONFIG=/etc/x\n", "t.conf:1: PUSH_CONFIG: unknown setting" },
    { "HOME=/root\n", "t.conf:1: HOME: unknown setting" },
    { "pghost=x\n", "t.conf:1: pghost: unknown setting" },
    { "\n\njust words\n", "t.conf:3: expected KEY=VALUE" },
    { "=value\n", "t.conf:1: expected KEY=VALUE" },
    { "export PUSH_HEARTBEAT=1\n", "t.conf:1: expected KEY=VALUE" },
    { "PUSH_LIFETIME=\"60\n", "t.conf:1: PUSH_LIFETIME: a quote without its end" },
    { "PUSH_LIFETIME='60\"\n", "t.conf:1: PUSH_LIFETIME: a quote without its end" },
    { "PUSH_LIFETIME=\"6\"0\"\n", "t.conf:1: PUSH_LIFETIME: a quote without its end" },
    { "PUSH_ALLOWED_ORIGINS=a \\\n b\n", "t.conf:1: PUSH_ALLOWED_ORIGINS: a line continuation" },
};

START_TEST(file_errors_name_file_and_line)
{
    ck_assert_int_eq(parse(bad_files[_i].text), -1);
    ck_assert_msg(strncmp(err, bad_files[_i].says, strlen(bad_files[_i].says)) == 0,
                  "\"%s\" does not begin \"%s\"", err, bad_files[_i].says);
}
END_TEST

START_TEST(file_bounds)
{
    static char text[PUSH_CONFIG_FILE_MAX + 64];
    size_t n;

    /* a line of exactly PUSH_CONFIG_LINE_MAX bytes is taken, one more is refused */
    n = (size_t)snprintf(text, sizeof text, "PUSH_ALLOWED_ORIGINS=");
    memset(text + n, 'a', PUSH_CONFIG_LINE_MAX - n);
    text[PUSH_CONFIG_LINE_MAX] = '\0';
    ck_assert_int_eq(parse(text), 0);
    ck_assert_uint_eq(strlen(cf.pairs[0].value), PUSH_CONFIG_LINE_MAX - n);
    memcpy(text + PUSH_CONFIG_LINE_MAX, "a", 2);
    ck_assert_int_eq(parse(text), -1);
    ck_assert_str_eq(err, "t.conf:1: a line longer than 4096 bytes");
    /* a file of PUSH_CONFIG_FILE_MAX bytes of comments is taken, one more byte is refused */
    for (n = 0; n + 64 <= PUSH_CONFIG_FILE_MAX; n += 64) {
        memset(text + n, '#', 63);
        text[n + 63] = '\n';
    }
    memset(text + n, '#', PUSH_CONFIG_FILE_MAX - n);
    text[PUSH_CONFIG_FILE_MAX] = '\0';
    ck_assert_int_eq(parse(text), 0);
    push_conffile_free(&cf); /* the calls below fill cf themselves */
    ck_assert_int_eq(push_conffile_parse(&cf, "t.conf", text, PUSH_CONFIG_FILE_MAX + 1, err,
                                         sizeof err), -1);
    ck_assert_msg(strstr(err, "longer than 65536 bytes") != NULL, "%s", err);
    /* a NUL byte */
    ck_assert_int_eq(push_conffile_parse(&cf, "t.conf", "PUSH_HOLD=1\nPUSH_HOLD=\0\n", 23, err,
                                         sizeof err), -1);
    ck_assert_str_eq(err, "t.conf:2: a NUL byte");
}
END_TEST

/* A temporary configuration file holding content; the caller unlinks path. */
static void conf_file(char path[64], const char *content)
{
    int fd;

    snprintf(path, 64, "/tmp/pgpush-test-conf-XXXXXX");
    fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, content, strlen(content)), (ssize_t)strlen(content));
    ck_assert_int_eq(close(fd), 0);
}

START_TEST(file_under_the_environment)
{
    struct push_config_source src;
    char path[64];
    char *const envp[] = { "PUSH_HEARTBEAT=7", NULL };

    conf_file(path, "PUSH_HEARTBEAT=5\nPUSH_LIFETIME=60\nPUSH_LIFETIME=61\n"
                    "PUSH_TOKEN_SECRET_PREVIOUS=previous-0123456789abcdef\n"
                    "PUSH_TOKEN_SECRET=current-0123456789abcdef\n");
    push_config_source_init(&src, path, NULL);
    ck_assert_int_eq(push_config_read(&cfg, &src, envp, 0, err, sizeof err), 0);
    ck_assert_int_eq(cfg.heartbeat, 7);  /* the environment wins */
    ck_assert_int_eq(cfg.lifetime, 61);  /* the last line of a key */
    ck_assert_str_eq(cfg.token_secret, "current-0123456789abcdef");
    ck_assert_str_eq(cfg.token_secret_previous, "previous-0123456789abcdef");
    ck_assert_int_eq(src.found, 1);
    ck_assert_int_eq(src.settings, 5);
    unlink(path);
    /* a bad value of the file is named with its line */
    conf_file(path, "PUSH_LIFETIME=60\n# c\nPUSH_HOLD=later\n");
    push_config_source_init(&src, path, NULL);
    ck_assert_int_eq(push_config_read(&cfg, &src, envp, 0, err, sizeof err), -1);
    ck_assert_msg(strstr(err, ":3: PUSH_HOLD: expected a number") != NULL, "%s", err);
    unlink(path);
    /* a missing default file is fine; a named one is not */
    snprintf(src.path, sizeof src.path, "/nonexistent/pgpush.conf");
    src.required = 0;
    ck_assert_int_eq(push_config_read(&cfg, &src, envp, 0, err, sizeof err), 0);
    ck_assert_int_eq(src.found, 0);
    ck_assert_int_eq(cfg.heartbeat, 7);
    src.required = 1;
    ck_assert_int_eq(push_config_read(&cfg, &src, envp, 0, err, sizeof err), -1);
    ck_assert_str_eq(err, "configuration file /nonexistent/pgpush.conf: No such file or directory");
}
END_TEST

START_TEST(file_source_precedence)
{
    struct push_config_source src;
    char *const envp[] = { "PUSH_CONFIG=/from/env.conf", NULL };

    push_config_source_init(&src, "/from/option.conf", envp);
    ck_assert_str_eq(src.path, "/from/option.conf");
    ck_assert_int_eq(src.required, 1);
    push_config_source_init(&src, NULL, envp);
    ck_assert_str_eq(src.path, "/from/env.conf");
    ck_assert_int_eq(src.required, 1);
    push_config_source_init(&src, NULL, NULL);
    ck_assert_str_eq(src.path, PUSH_SYSCONFDIR "/pgpush/pgpush.conf");
    ck_assert_int_eq(src.required, 0);
}
END_TEST

START_TEST(previous_secret_bounds)
{
    ck_assert_int_eq(LOAD("PUSH_TOKEN_SECRET=0123456789abcdef",
                          "PUSH_TOKEN_SECRET_PREVIOUS=short"), -1);
    assert_error_names("PUSH_TOKEN_SECRET_PREVIOUS");
    ck_assert_int_eq(LOAD("PUSH_TOKEN_SECRET_PREVIOUS=0123456789abcdef"), -1);
    assert_error_names("PUSH_TOKEN_SECRET_PREVIOUS");
    ck_assert_int_eq(LOAD("PUSH_TOKEN_SECRET=0123456789abcdef",
                          "PUSH_TOKEN_SECRET_PREVIOUS=0123456789abcdeX",
                          "PUSH_TOKEN_SECRET_PREVIOUS_FILE=/x"), -1);
    assert_error_names("PUSH_TOKEN_SECRET_PREVIOUS");
}
END_TEST

START_TEST(every_help_setting_is_known)
{
    /* the file takes what the help documents, and nothing else of PUSH_ */
    for (const char *p = push_config_help; (p = strstr(p, "\n  PUSH_")); p++) {
        char key[64];
        size_t n = strcspn(p + 3, " =\n");
        ck_assert_uint_lt(n, sizeof key);
        memcpy(key, p + 3, n);
        key[n] = '\0';
        ck_assert_msg(push_config_key_known(key), "%s", key);
    }
    ck_assert(push_config_key_known("PUSH_MQTT_HOST"));
    ck_assert(push_config_key_known("PGSSLMODE"));
    ck_assert(!push_config_key_known("PUSH_EVENT_LOOP"));
    ck_assert(!push_config_key_known("PUSH_"));
    ck_assert(!push_config_key_known("PG"));
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *env = tcase_create("env");
    TCase *values = tcase_create("values");
    TCase *errors = tcase_create("errors");
    TCase *files = tcase_create("secret_file");
    TCase *conffile = tcase_create("conffile");

    tcase_add_test(env, env_get_matches_exact_names);
    tcase_add_test(env, env_get_empty_and_null_environment);
    tcase_add_test(env, config_ignores_similar_names);
    suite_add_tcase(s, env);

    tcase_add_test(values, defaults);
    tcase_add_test(values, every_variable_is_read);
    tcase_add_loop_test(values, demo_values_parse, 0, N(demo_values));
    tcase_add_test(values, log_levels_parse);
    tcase_add_test(values, log_time_parses);
    tcase_add_test(values, listen_url_and_prepare);
    tcase_add_test(values, limits_bounds_and_clamping);
    tcase_add_test(values, socket_mode_is_octal);
    tcase_add_test(values, secret_length_bounds);
    tcase_add_test(values, longest_strings_fit);
    tcase_add_test(values, help_mentions_every_variable);
    suite_add_tcase(s, values);

    tcase_add_loop_test(errors, bad_value_is_refused_naming_the_variable, 0, N(bad_configs));
    tcase_add_test(errors, both_secret_and_secret_file_is_refused);
    tcase_add_test(errors, overlong_strings_are_refused);
    tcase_add_test(errors, previous_secret_bounds);
    suite_add_tcase(s, errors);

    tcase_add_test(conffile, file_pairs_comments_and_quotes);
    tcase_add_loop_test(conffile, file_errors_name_file_and_line, 0, N(bad_files));
    tcase_add_test(conffile, file_bounds);
    tcase_add_test(conffile, file_under_the_environment);
    tcase_add_test(conffile, file_source_precedence);
    tcase_add_test(conffile, every_help_setting_is_known);
    suite_add_tcase(s, conffile);

    tcase_add_test(files, secret_file_is_read_without_newline);
    tcase_add_test(files, secret_file_with_empty_secret_variable_is_used);
    tcase_add_test(files, secret_file_too_short_is_refused);
    tcase_add_test(files, secret_file_longest_secret_fits);
    tcase_add_test(files, secret_file_too_long_is_refused);
    suite_add_tcase(s, files);
    return s;
}

UNIT_MAIN(config_suite)
