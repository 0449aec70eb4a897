/* fuzz_kinds.c: the kinds filter (?kinds=a,b). Properties: the parser accepts exactly what an
 * independent reading of the rule accepts (1 to PUSH_KINDS_MAX kinds, each [a-z0-9][a-z0-9_.-]{0,31},
 * separated by single commas, shorter than PUSH_KINDS_TEXT_MAX); a filter it accepts has each of
 * its kinds (push_store_kinds_has) and no kind that is a part of one (a prefix, a suffix). */
#include "config.h"
#include "fuzz.h"
#include "store/push_store.h"

/* the rule, read again without the parser's code */
static int by_rule(const char *s, size_t len)
{
    int parts = 0;
    size_t start = 0;

    if (len == 0 || len >= PUSH_KINDS_TEXT_MAX)
        return 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && s[i] != ',')
            continue;
        size_t n = i - start;
        if (n < 1 || n > 32 || ++parts > PUSH_KINDS_MAX)
            return 0;
        for (size_t k = start; k < i; k++) {
            char c = s[k];
            int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
            if (!(alnum || (k > start && (c == '_' || c == '.' || c == '-'))))
                return 0;
        }
        start = i + 1;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1), kind[40];

    if (!text)
        abort();
    memcpy(text, data, size);
    text[size] = '\0';
    size_t len = strlen(text); /* (a NUL ends a query parameter's value) */
    int ok = push_store_kinds_valid(text, len);
    PROPERTY(ok == by_rule(text, len), "%s: the parser says %d, the rule %d", text, ok, !ok);
    if (ok) {
        for (const char *at = text; *at;) {
            size_t n = strcspn(at, ",");
            memcpy(kind, at, n);
            kind[n] = '\0';
            PROPERTY(push_store_kinds_has(text, kind), "%s does not have its kind %s", text, kind);
            if (n > 1) {
                kind[n - 1] = '\0'; /* a prefix: had only when it is a kind of the filter too */
                int listed = 0;
                for (const char *b = text; *b;) {
                    size_t m = strcspn(b, ",");
                    listed |= m == n - 1 && memcmp(b, kind, m) == 0;
                    b += m + (b[m] == ',');
                }
                PROPERTY(push_store_kinds_has(text, kind) == listed, "%s: its prefix %s had: %d", text,
                         kind, !listed);
            }
            at += n + (at[n] == ',');
        }
    }
    free(text);
    return 0;
}
