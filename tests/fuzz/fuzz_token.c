/* fuzz_token.c: tokens and stream tickets. Properties: whatever verifies is exactly what the signer
 * makes for the user and expiry it names (so nothing but the holder of the secret can make an
 * identity, and there is one spelling of each); a token never verifies as a ticket nor a ticket as
 * a token; the user it names is a valid user name, and so is the one a refused text claims (which
 * the log prints: no control character may reach it). */
#include "config.h"
#include "fuzz.h"
#include "core/push_token.h"

#define NOW 1800000000

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1), user[PUSH_USER_MAX + 1], again[PUSH_TOKEN_MAX + 1];
    const size_t slen = strlen(FUZZ_SECRET);
    int64_t exp = 0, token_exp = 0;

    if (!text)
        abort();
    memcpy(text, data, size);
    text[size] = '\0';
    if (push_token_verify(FUZZ_SECRET, slen, text, NOW, user, &exp) == PUSH_TOKEN_OK) {
        PROPERTY(push_user_valid(user, strlen(user)), "a token names an invalid user");
        PROPERTY(push_token_sign(FUZZ_SECRET, slen, user, exp, again, sizeof again) > 0
                     && strcmp(again, text) == 0,
                 "a token verified that the signer would not have made: %s", text);
        PROPERTY(push_ticket_verify(FUZZ_SECRET, slen, text, NOW, user, NULL) != PUSH_TOKEN_OK,
                 "a token passed as a ticket");
    }
    if (push_ticket_verify(FUZZ_SECRET, slen, text, NOW, user, &token_exp) == PUSH_TOKEN_OK) {
        /* the ticket's own expiry is in its text; the signer must reproduce it byte for byte */
        int ok = 0;
        const char *p = strchr(text + 3, '.');
        long long texp = p ? strtoll(p + 1, NULL, 10) : 0;
        ok = push_ticket_sign(FUZZ_SECRET, slen, user, texp, token_exp, again, sizeof again) > 0
             && strcmp(again, text) == 0;
        PROPERTY(ok, "a ticket verified that the signer would not have made: %s", text);
        PROPERTY(push_token_verify(FUZZ_SECRET, slen, text, NOW, user, NULL) != PUSH_TOKEN_OK,
                 "a ticket passed as a token");
    }
    if (push_token_claimed_user(text, user) == 0)
        PROPERTY(push_user_valid(user, strlen(user)), "claims a user that is not a valid name: %s", text);
    free(text);
    return 0;
}
