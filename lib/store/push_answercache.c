/* push_answercache.c: push-poll's last full answers, by user, with the state they were read at */
#include "config.h"

#include "store/push_answercache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/push_user.h"
#include "core/push_util.h"

#define KEY_MAX 256 /* a request's parameters (since, limit): longer ones are not kept */

struct slot {
    char user[PUSH_USER_MAX + 1];
    char key[KEY_MAX];
    struct push_state state;
    char *body; /* NULL: empty */
    size_t len;
};

struct push_answercache {
    struct push_stripes stripes;
    unsigned long hits, misses; /* atomic */
    unsigned nslots;
    struct slot *slot;
};

struct push_answercache *push_answercache_new(unsigned slots)
{
    struct push_answercache *c = xcalloc(1, sizeof *c);

    if (!slots)
        abort();
    c->slot = xcalloc(slots, sizeof *c->slot);
    c->nslots = slots;
    push_stripes_init(&c->stripes);
    return c;
}

void push_answercache_free(struct push_answercache *c)
{
    if (!c)
        return;
    for (unsigned i = 0; i < c->nslots; i++)
        free(c->slot[i].body);
    push_stripes_destroy(&c->stripes);
    free(c->slot);
    free(c);
}

/* What the answer depends on: the state as the ETag has it (last_id only bounds cursors). */
static int same_state(const struct push_state *a, const struct push_state *b)
{
    return a->head.personal == b->head.personal && a->head.broadcast == b->head.broadcast
           && a->read_version == b->read_version && a->content_version == b->content_version;
}

int push_answercache_get(struct push_answercache *c, const char *user, const char *key,
                         const struct push_state *st, char **body, size_t *len)
{
    unsigned i = push_hash(user) % c->nslots;
    struct slot *s = &c->slot[i];
    int hit;

    pthread_mutex_lock(push_stripe(&c->stripes, i));
    /* the whole user name and key compared, never a hash of them: an answer goes to its own
     * user's identical request only */
    hit = s->body && strcmp(s->user, user) == 0 && strcmp(s->key, key) == 0
          && same_state(&s->state, st);
    if (hit) {
        *body = xmalloc(s->len + 1);
        memcpy(*body, s->body, s->len + 1);
        *len = s->len;
    }
    pthread_mutex_unlock(push_stripe(&c->stripes, i));
    __atomic_fetch_add(hit ? &c->hits : &c->misses, 1, __ATOMIC_RELAXED);
    return hit;
}

void push_answercache_put(struct push_answercache *c, const char *user, const char *key,
                          const struct push_state *st, const char *body, size_t len)
{
    unsigned i = push_hash(user) % c->nslots;
    struct slot *s = &c->slot[i];
    size_t ulen = strlen(user), klen = strlen(key);
    char *copy;

    if (len > PUSH_ANSWER_MAX || ulen > PUSH_USER_MAX || klen >= KEY_MAX)
        return;
    copy = xmalloc(len + 1);
    memcpy(copy, body, len);
    copy[len] = '\0';
    pthread_mutex_lock(push_stripe(&c->stripes, i));
    free(s->body);
    s->body = copy;
    s->len = len;
    s->state = *st;
    memcpy(s->user, user, ulen + 1);
    memcpy(s->key, key, klen + 1);
    pthread_mutex_unlock(push_stripe(&c->stripes, i));
}

void push_answercache_stats(struct push_answercache *c, unsigned long *hits, unsigned long *misses)
{
    *hits = __atomic_load_n(&c->hits, __ATOMIC_RELAXED);
    *misses = __atomic_load_n(&c->misses, __ATOMIC_RELAXED);
}
