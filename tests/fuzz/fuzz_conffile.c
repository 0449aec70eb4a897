/* fuzz_conffile.c: the configuration file. Properties: every pair accepted has a key of the form
 * KEY (a letter or _, then letters, digits, _) that the file may set (push_config_key_known), and a
 * value within a line's bound without a newline or NUL; its line number is within the file and
 * increasing; anything past the bounds (a line longer than PUSH_CONFIG_LINE_MAX, a file longer than
 * PUSH_CONFIG_FILE_MAX) is refused; the accepted pairs, written back as KEY="VALUE" lines (or
 * KEY='VALUE' when the value holds a double quote), parse to the same pairs; a refusal names
 * "NAME:LINE: " with a line within the file. */
#include "config.h"
#include "fuzz.h"
#include "core/push_config.h"

static size_t longest_line(const uint8_t *data, size_t size)
{
    size_t longest = 0, run = 0;

    for (size_t i = 0; i < size; i++) {
        run = data[i] == '\n' ? 0 : run + 1;
        longest = run > longest ? run : longest;
    }
    return longest;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct push_conffile f = { 0 }, g = { 0 };
    char err[1200], err2[1200];
    size_t lines = 1, n = 0;
    int rc;

    for (size_t i = 0; i < size; i++)
        lines += data[i] == '\n';
    rc = push_conffile_parse(&f, "f", (const char *)data, size, err, sizeof err);
    if (rc < 0) {
        unsigned long line = 0;
        PROPERTY(sscanf(err, "f:%lu: ", &line) == 1 && line >= 1 && line <= lines,
                 "a refusal that does not name f:LINE within the file: %s", err);
        push_conffile_free(&f);
        return 0;
    }
    PROPERTY(size <= PUSH_CONFIG_FILE_MAX, "a file of %zu bytes was accepted", size);
    PROPERTY(longest_line(data, size) <= PUSH_CONFIG_LINE_MAX, "a line past the bound was accepted");
    PROPERTY(!memchr(data, '\0', size), "a NUL byte was accepted");
    char *text = malloc(f.n * (PUSH_CONFIG_LINE_MAX + 8) + 1);
    if (!text)
        abort();
    for (size_t i = 0; i < f.n; i++) {
        const char *k = f.pairs[i].key, *v = f.pairs[i].value;
        PROPERTY(push_config_key_known(k), "an unknown key %s was accepted", k);
        PROPERTY(strlen(k) + strlen(v) < PUSH_CONFIG_LINE_MAX, "a pair longer than a line");
        PROPERTY(!strchr(v, '\n') && !strchr(k, '\n'), "a newline in a pair");
        PROPERTY(f.pairs[i].line >= 1 && (size_t)f.pairs[i].line <= lines
                     && (i == 0 || f.pairs[i].line > f.pairs[i - 1].line),
                 "line %d of pair %zu out of place", f.pairs[i].line, i);
        char q = strchr(v, '"') ? '\'' : '"';
        n += (size_t)sprintf(text + n, "%s=%c%s%c\n", k, q, v, q);
    }
    /* a value holding both quotes cannot be written back in this format: nothing to compare */
    int both = 0;
    for (size_t i = 0; i < f.n; i++)
        both |= strchr(f.pairs[i].value, '"') && strchr(f.pairs[i].value, '\'');
    if (!both && n <= PUSH_CONFIG_FILE_MAX) {
        int rc2 = push_conffile_parse(&g, "g", text, n, err2, sizeof err2);
        PROPERTY(rc2 == 0, "the pairs written back are refused: %s", err2);
        PROPERTY(g.n == f.n, "%zu pairs written back parse to %zu", f.n, g.n);
        for (size_t i = 0; i < f.n; i++)
            PROPERTY(strcmp(f.pairs[i].key, g.pairs[i].key) == 0
                         && strcmp(f.pairs[i].value, g.pairs[i].value) == 0,
                     "pair %zu [%s]=[%s] reads back as [%s]=[%s]", i, f.pairs[i].key,
                     f.pairs[i].value, g.pairs[i].key, g.pairs[i].value);
    }
    free(text);
    push_conffile_free(&f);
    push_conffile_free(&g);
    return 0;
}
