/* push-token.c: mints (or checks) a signed pgpush token from the shell */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/push_config.h"
#include "core/push_token.h"
#include "runtime/push_program.h"

extern char **environ;

static void usage(FILE *out)
{
    fputs("Usage: push-token [--config FILE] [--ttl SECONDS] USER\n"
          "       push-token [--config FILE] --verify TOKEN\n"
          "       push-token --help | --version\n\n"
          "Prints a token that identifies USER to the pgpush programs until it expires\n"
          "(--ttl, default 3600 seconds), signed with the secret in PUSH_TOKEN_SECRET or\n"
          "PUSH_TOKEN_SECRET_FILE. With --verify, checks a token and prints its user and expiry;\n"
          "during a rotation a token signed with PUSH_TOKEN_SECRET_PREVIOUS(_FILE) verifies too,\n"
          "and says so. Settings come from the environment over the configuration file\n"
          "(--config FILE, or PUSH_CONFIG, default " PUSH_SYSCONFDIR "/pgpush/pgpush.conf).\n"
          "--help shows this help, --version the version.\n\n"
          "A site's backend mints the same tokens itself; the format is in README.md.\n", out);
}

int main(int argc, char **argv)
{
    struct push_config cfg;
    char token[PUSH_TOKEN_MAX + 1], user[PUSH_USER_MAX + 1];
    const char *name = NULL, *verify = NULL, *config = NULL;
    long long ttl = 3600;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--version") == 0) {
            push_program_version("push-token");
            return 0;
        } else if (strcmp(argv[i], "--ttl") == 0 && i + 1 < argc) {
            char *end;
            errno = 0;
            ttl = strtoll(argv[++i], &end, 10);
            if (errno || *end || ttl < 1 || ttl > 10LL * 365 * 86400) {
                fprintf(stderr, "push-token: --ttl: expected seconds from 1 to 315360000\n");
                return 2;
            }
        } else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            config = argv[++i];
        } else if (strcmp(argv[i], "--verify") == 0 && i + 1 < argc) {
            verify = argv[++i];
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "push-token: unknown option %s (see --help)\n", argv[i]);
            return 2;
        } else if (!name) {
            name = argv[i];
        } else {
            fprintf(stderr, "push-token: one user at a time (see --help)\n");
            return 2;
        }
    }
    if (!name == !verify) {
        usage(stderr);
        return 2;
    }
    if (push_program_configure("push-token", config, &cfg) < 0)
        return 1;
    if (cfg.token_secret_len == 0) {
        fprintf(stderr, "push-token: set PUSH_TOKEN_SECRET (or PUSH_TOKEN_SECRET_FILE) first\n");
        return 1;
    }
    if (verify) {
        struct push_secret secrets[2];
        int n = push_config_secrets(&cfg, secrets);
        int64_t expires, now = (int64_t)time(NULL);
        enum push_token_err e = push_token_verify_any(secrets, n, verify, now, user, &expires);
        if (e != PUSH_TOKEN_OK) {
            fprintf(stderr, "push-token: %s\n", push_token_strerror(e));
            return 1;
        }
        /* which one: an operator rotating the secret wants to know what still uses the old one */
        int current = push_token_verify_any(secrets, 1, verify, now, user, &expires) == PUSH_TOKEN_OK;
        printf("user %s, expires %" PRId64 "%s\n", user, expires,
               current ? "" : ", signed with the previous secret");
        return 0;
    }
    if (push_token_sign(cfg.token_secret, cfg.token_secret_len, name, (int64_t)time(NULL) + ttl,
                        token, sizeof token) < 0) {
        fprintf(stderr, "push-token: not a valid user name (1 to %d bytes of UTF-8, no control "
                        "characters)\n", PUSH_USER_MAX);
        return 1;
    }
    puts(token);
    return 0;
}
