/* push_mqtt_pub.c: a libmosquitto client that tracks PUBACKs between flushes */
#include "config.h"

#include "mqtt/push_mqtt_pub.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mosquitto.h>

#include "core/push_log.h"
#include "core/push_util.h"
#include "mqtt/push_mqtt_topic.h"

struct push_mqtt_pub {
    struct mosquitto *mosq;
    const struct push_mqtt_config *cfg;
    /* lock guards what follows; the network thread takes it in the callbacks, the publishing
     * thread holds it across mosquitto_publish, so an acknowledgement can never be seen
     * before its message id is recorded (libmosquitto calls on_publish without holding the
     * locks mosquitto_publish takes) */
    pthread_mutex_t lock;
    pthread_cond_t changed;
    unsigned session;       /* connections made so far */
    int up;
    int complained;         /* a connection failure was logged; say when it is back */
    int started;            /* the network thread runs (after the first connection) */
    unsigned sent_in;       /* the session of the first send since the last flush */
    int pending_n;          /* message ids sent since the last flush and not acknowledged */
    int pending[PUSH_MQTT_PENDING_MAX];
    /* logins announced by the plugin, until the publishing thread takes them */
    char login_topic[PUSH_MQTT_PREFIX_MAX + 16];
    int wake[2];            /* a pipe: a byte is written when a login is queued */
    int logins_n, logins_lost;
    char logins[PUSH_MQTT_LOGINS_MAX][PUSH_USER_MAX + 1];
};

/* The broker connection came up (connected, rc 0), was refused, or went down: the one place that
 * changes p->up, under the lock, waking whoever waits for it. */
static void connection_changed(struct push_mqtt_pub *p, struct mosquitto *mosq, int connected,
                               int rc)
{
    pthread_mutex_lock(&p->lock);
    if (connected && rc == 0) {
        p->up = 1;
        p->session++;
        mosquitto_subscribe(mosq, NULL, p->login_topic, 1);
        push_log_info("connected to the MQTT broker %s:%d", p->cfg->host, p->cfg->port);
        p->complained = 0;
    } else if (connected && !p->complained) {
        /* refused: the bridge's user or password, or the plugin is not loaded */
        push_log_error("the MQTT broker refused the bridge: %s; retrying",
                       mosquitto_connack_string(rc));
        p->complained = 1;
    } else if (!connected) {
        if (p->up && rc != 0) /* 0: our own disconnect, when stopping */
            push_log_warn("lost the MQTT broker (%s); reconnecting", mosquitto_strerror(rc));
        p->up = 0;
    }
    pthread_cond_broadcast(&p->changed);
    pthread_mutex_unlock(&p->lock);
}

static void on_connect(struct mosquitto *mosq, void *arg, int rc)
{
    connection_changed(arg, mosq, 1, rc);
}

static void on_disconnect(struct mosquitto *mosq, void *arg, int rc)
{
    connection_changed(arg, mosq, 0, rc);
}

static void on_publish(struct mosquitto *mosq, void *arg, int mid)
{
    struct push_mqtt_pub *p = arg;

    pthread_mutex_lock(&p->lock);
    for (int i = 0; i < p->pending_n; i++) {
        if (p->pending[i] == mid) {
            p->pending[i] = p->pending[--p->pending_n];
            if (p->pending_n == 0)
                pthread_cond_broadcast(&p->changed);
            break;
        }
    }
    /* an id not found was sent before a reconnect and already given up on */
    pthread_mutex_unlock(&p->lock);
}

static void on_message(struct mosquitto *mosq, void *arg, const struct mosquitto_message *msg)
{
    struct push_mqtt_pub *p = arg;
    char name[PUSH_USER_MAX + 1];

    if (strcmp(msg->topic, p->login_topic) != 0 || msg->payloadlen < 1
        || msg->payloadlen > PUSH_USER_MAX)
        return;
    memcpy(name, msg->payload, (size_t)msg->payloadlen);
    name[msg->payloadlen] = '\0';
    if (!push_mqtt_user_ok(name))
        return;
    pthread_mutex_lock(&p->lock);
    if (p->logins_n < PUSH_MQTT_LOGINS_MAX)
        memcpy(p->logins[p->logins_n++], name, (size_t)msg->payloadlen + 1);
    else
        p->logins_lost = 1;
    pthread_mutex_unlock(&p->lock);
    if (write(p->wake[1], "", 1) < 0 && errno != EAGAIN)
        push_log_error("cannot wake the bridge: %s", strerror(errno));
}

/* Everything push_mqtt_pub_start made (the client destroyed, not stopped), then p. */
static void destroy(struct push_mqtt_pub *p)
{
    if (p->mosq)
        mosquitto_destroy(p->mosq);
    mosquitto_lib_cleanup();
    pthread_cond_destroy(&p->changed);
    pthread_mutex_destroy(&p->lock);
    close(p->wake[0]);
    close(p->wake[1]);
    free(p);
}

struct push_mqtt_pub *push_mqtt_pub_start(const struct push_mqtt_config *cfg, char *err,
                                          size_t errlen)
{
    struct push_mqtt_pub *p = calloc(1, sizeof *p);
    pthread_condattr_t ca;
    int rc;

    if (!p)
        abort();
    p->cfg = cfg;
    push_mqtt_login_topic(p->login_topic, sizeof p->login_topic, cfg->prefix);
    if (pipe(p->wake) < 0) {
        snprintf(err, errlen, "cannot make a pipe: %s", strerror(errno));
        free(p);
        return NULL;
    }
    for (int i = 0; i < 2; i++)
        fcntl(p->wake[i], F_SETFL, O_NONBLOCK);
    fcntl(p->wake[0], F_SETFD, FD_CLOEXEC);
    fcntl(p->wake[1], F_SETFD, FD_CLOEXEC);
    pthread_mutex_init(&p->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->changed, &ca);
    pthread_condattr_destroy(&ca);
    mosquitto_lib_init();
    /* a clean session: what the broker had not acknowledged is published again from the
     * stored cursors, not resent from this process's memory */
    p->mosq = mosquitto_new(cfg->client_id, true, p);
    if (!p->mosq) {
        snprintf(err, errlen, "cannot create the MQTT client: %s", strerror(errno));
        goto fail;
    }
    mosquitto_int_option(p->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    mosquitto_max_inflight_messages_set(p->mosq, (unsigned)cfg->max_inflight);
    mosquitto_reconnect_delay_set(p->mosq, 1, 10, true);
    if (cfg->password_len || strcmp(cfg->user, "") != 0)
        mosquitto_username_pw_set(p->mosq, cfg->user, cfg->password_len ? cfg->password : NULL);
    mosquitto_connect_callback_set(p->mosq, on_connect);
    mosquitto_disconnect_callback_set(p->mosq, on_disconnect);
    mosquitto_publish_callback_set(p->mosq, on_publish);
    mosquitto_message_callback_set(p->mosq, on_message);
    if ((rc = push_mqtt_pub_connect(p)) < -1) {
        snprintf(err, errlen, "cannot start the MQTT client for %s:%d", cfg->host, cfg->port);
        goto fail;
    }
    return p;
fail:
    destroy(p);
    return NULL;
}

int push_mqtt_pub_connect(struct push_mqtt_pub *p)
{
    int rc;

    if (p->started)
        return 0;
    rc = mosquitto_connect_async(p->mosq, p->cfg->host, p->cfg->port, p->cfg->keepalive);
    if (rc != MOSQ_ERR_SUCCESS) {
        if (!p->complained)
            push_log_warn("cannot reach the MQTT broker %s:%d: %s; retrying", p->cfg->host,
                          p->cfg->port,
                          rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
        p->complained = 1;
        return rc == MOSQ_ERR_ERRNO || rc == MOSQ_ERR_EAI ? -1 : -2;
    }
    /* from here on libmosquitto's thread reconnects by itself */
    if (mosquitto_loop_start(p->mosq) != MOSQ_ERR_SUCCESS) {
        push_log_error("cannot start the MQTT thread");
        return -2;
    }
    p->started = 1;
    return 0;
}

unsigned push_mqtt_pub_session(struct push_mqtt_pub *p)
{
    unsigned s;

    pthread_mutex_lock(&p->lock);
    s = p->up ? p->session : 0;
    pthread_mutex_unlock(&p->lock);
    return s;
}

int push_mqtt_pub_send(struct push_mqtt_pub *p, const char *topic, const void *payload,
                       size_t len, int retain)
{
    int mid = 0, rc = -1;

    pthread_mutex_lock(&p->lock);
    if (p->up && p->pending_n < PUSH_MQTT_PENDING_MAX && len <= 268435455u
        && mosquitto_publish(p->mosq, &mid, topic, (int)len, payload, 1, retain != 0)
               == MOSQ_ERR_SUCCESS) {
        if (p->pending_n == 0)
            p->sent_in = p->session;
        p->pending[p->pending_n++] = mid;
        rc = 0;
    }
    pthread_mutex_unlock(&p->lock);
    return rc;
}

int push_mqtt_pub_flush(struct push_mqtt_pub *p, long timeout_ms)
{
    struct timespec until = push_deadline(timeout_ms);
    unsigned session;
    int rc;

    pthread_mutex_lock(&p->lock);
    session = p->pending_n ? p->sent_in : p->session;
    while (p->pending_n > 0 && p->up && p->session == session
           && pthread_cond_timedwait(&p->changed, &p->lock, &until) != ETIMEDOUT)
        ;
    rc = p->pending_n == 0 && p->up && p->session == session ? 0 : -1;
    if (rc < 0 && p->up && p->pending_n > 0)
        push_log_warn("the MQTT broker did not acknowledge %d messages within %ld ms",
                      p->pending_n, timeout_ms);
    p->pending_n = 0;
    pthread_mutex_unlock(&p->lock);
    return rc;
}

int push_mqtt_pub_logins_fd(struct push_mqtt_pub *p)
{
    return p->wake[0];
}

int push_mqtt_pub_logins(struct push_mqtt_pub *p, char (*names)[PUSH_USER_MAX + 1], int max,
                         int *lost)
{
    char drain[64];
    int n;

    while (read(p->wake[0], drain, sizeof drain) > 0)
        ;
    pthread_mutex_lock(&p->lock);
    n = p->logins_n < max ? p->logins_n : max;
    memcpy(names, p->logins, sizeof p->logins[0] * (size_t)n);
    /* what did not fit stays for the next call */
    memmove(p->logins, p->logins[n], sizeof p->logins[0] * (size_t)(p->logins_n - n));
    p->logins_n -= n;
    *lost = p->logins_lost;
    p->logins_lost = 0;
    pthread_mutex_unlock(&p->lock);
    return n;
}

void push_mqtt_pub_stop(struct push_mqtt_pub *p)
{
    if (!p)
        return;
    mosquitto_disconnect(p->mosq);
    if (p->started)
        mosquitto_loop_stop(p->mosq, false);
    destroy(p);
}
