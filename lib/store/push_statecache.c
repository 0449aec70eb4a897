/* push_statecache.c: the per-process table of users' states, dropped by notifications */
#include "config.h"

#include "store/push_statecache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/push_user.h"
#include "core/push_util.h"


struct slot {
    uint64_t version;  /* bumped by every change notified for a user of this slot */
    uint64_t global;   /* the cache's global version when state was stored */
    int used;
    struct push_state state;
    char user[PUSH_USER_MAX + 1];
};

struct push_statecache {
    struct push_stripes stripes;
    pthread_mutex_t global_lock;
    uint64_t global;   /* bumped by "everyone changed" and by the LISTEN connection going up or down */
    int listening;
    uint64_t hits, misses; /* atomic */
    unsigned nslots;
    struct slot *slot;
};

static unsigned slot_of(const struct push_statecache *c, const char *user)
{
    return push_hash(user) % c->nslots;
}

struct push_statecache *push_statecache_new(unsigned slots)
{
    struct push_statecache *c = xcalloc(1, sizeof *c);

    if (!slots)
        abort();
    c->slot = xcalloc(slots, sizeof *c->slot);
    c->nslots = slots;
    push_stripes_init(&c->stripes);
    pthread_mutex_init(&c->global_lock, NULL);
    return c;
}

void push_statecache_free(struct push_statecache *c)
{
    if (!c)
        return;
    push_stripes_destroy(&c->stripes);
    pthread_mutex_destroy(&c->global_lock);
    free(c->slot);
    free(c);
}

int push_statecache_get(struct push_statecache *c, const char *user, struct push_state *st,
                        struct push_statecache_ticket *t)
{
    unsigned i = slot_of(c, user);
    struct slot *s = &c->slot[i];
    pthread_mutex_t *lock = push_stripe(&c->stripes, i);
    uint64_t g;
    int hit;

    /* the global version first: a change of everything after this read makes the slot's
     * global differ at the next lookup, and makes a put with this ticket fail */
    pthread_mutex_lock(&c->global_lock);
    g = c->listening ? c->global : 0;
    pthread_mutex_unlock(&c->global_lock);
    pthread_mutex_lock(lock);
    hit = g && s->used && s->global == g && strcmp(s->user, user) == 0;
    if (hit)
        *st = s->state;
    t->global = g;
    t->slot = s->version;
    t->index = i;
    pthread_mutex_unlock(lock);
    __atomic_fetch_add(hit ? &c->hits : &c->misses, 1, __ATOMIC_RELAXED);
    return hit;
}

void push_statecache_put(struct push_statecache *c, const char *user, const struct push_state *st,
                         const struct push_statecache_ticket *t)
{
    struct slot *s = &c->slot[t->index];
    pthread_mutex_t *lock = push_stripe(&c->stripes, t->index);
    size_t len = strlen(user);

    if (!t->global || len > PUSH_USER_MAX || t->index != slot_of(c, user))
        return;
    /* lock order: a stripe, then global_lock (push_statecache_changed never holds both) */
    pthread_mutex_lock(lock);
    pthread_mutex_lock(&c->global_lock);
    if (c->listening && c->global == t->global && s->version == t->slot) {
        s->used = 1;
        s->global = t->global;
        s->state = *st;
        memcpy(s->user, user, len + 1);
    }
    pthread_mutex_unlock(&c->global_lock);
    pthread_mutex_unlock(lock);
}

static void bump_global(struct push_statecache *c, int listening)
{
    pthread_mutex_lock(&c->global_lock);
    c->global++;
    if (listening >= 0)
        c->listening = listening;
    pthread_mutex_unlock(&c->global_lock);
}

void push_statecache_changed(struct push_statecache *c, const char *user)
{
    unsigned i;

    if (!user) {
        bump_global(c, -1); /* every stored slot now has an old global: all miss */
        return;
    }
    i = slot_of(c, user);
    pthread_mutex_lock(push_stripe(&c->stripes, i));
    c->slot[i].version++;
    c->slot[i].used = 0;
    pthread_mutex_unlock(push_stripe(&c->stripes, i));
}

void push_statecache_listening(struct push_statecache *c, int up)
{
    bump_global(c, up ? 1 : 0);
}

void push_statecache_stats(struct push_statecache *c, uint64_t *hits, uint64_t *misses)
{
    *hits = __atomic_load_n(&c->hits, __ATOMIC_RELAXED);
    *misses = __atomic_load_n(&c->misses, __ATOMIC_RELAXED);
}
