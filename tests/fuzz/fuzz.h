/* fuzz.h: what the libFuzzer harnesses share: a property check that aborts with its reason (so
 * that libFuzzer keeps the input), and the input cut into NUL-terminated parts. */
#ifndef FUZZ_H
#define FUZZ_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROPERTY(cond, ...)                                                                         \
    do {                                                                                            \
        if (!(cond)) {                                                                              \
            fprintf(stderr, "property failed: %s: ", #cond);                                        \
            fprintf(stderr, __VA_ARGS__);                                                           \
            fputc('\n', stderr);                                                                    \
            abort();                                                                                \
        }                                                                                           \
    } while (0)

/* Copies data into a malloc'd buffer cut at each '\n' into at most n NUL-terminated parts (parts
 * past the input are ""); returns the buffer, to free. */
static inline char *fuzz_parts(const uint8_t *data, size_t size, char **part, int n)
{
    char *buf = malloc(size + 1);
    int k = 0;

    if (!buf)
        abort();
    memcpy(buf, data, size);
    buf[size] = '\0';
    part[k++] = buf;
    for (size_t i = 0; i < size && k < n; i++)
        if (buf[i] == '\n') {
            buf[i] = '\0';
            part[k++] = buf + i + 1;
        }
    while (k < n)
        part[k++] = buf + size;
    return buf;
}

/* The fixed secret the token harnesses sign their seeds with (tests/fuzz/seed-tokens). */
#define FUZZ_SECRET "fuzz-secret-0123456789abcdef"
#endif
