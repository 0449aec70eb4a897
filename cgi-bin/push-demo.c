/* push-demo.c: the demo page's publish form (demo mode only; sites publish with SQL INSERT) */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "core/push_log.h"
#include "store/push_db.h"
#include "store/push_store.h"
#include "http/push_edge.h"
#include "http/push_http.h"
#include "http/push_server.h"
#include "runtime/push_program.h"

#define BODY_MAX 65536 /* bytes: a title of 1 KiB and a body of 32 KiB, escaped */

static const struct push_program program = {
    "push-demo",
    "Publishing from the pgpush demo page. Works only with PUSH_DEMO=1 (403 demo_only else):\n"
    "real sites publish with INSERT INTO push.message (see README, \"The SQL API\").\n\n"
    "POST {\"recipient\": \"bob\" | null, \"title\": T, \"body\": B, \"kind\": K}\n"
    "     (Content-Type: application/json; recipient null: everyone; body and kind optional)\n"
    "     answers {\"ok\": true, \"id\": \"123\"}\n",
    NULL,
    PUSH_USES_PUBLISH,
};

struct publish {
    const char *recipient, *title, *body, *kind;
};

/* A string member, or NULL when absent or null; -1 when it is there with another type. */
static int member(json_object *o, const char *name, const char **out)
{
    json_object *v;

    *out = NULL;
    if (!json_object_object_get_ex(o, name, &v) || json_object_is_type(v, json_type_null))
        return 0;
    if (!json_object_is_type(v, json_type_string))
        return -1;
    *out = json_object_get_string(v);
    return 0;
}

struct publish_run {
    const struct publish *m;
    int refused;  /* push.message refused it */
    char id[24];
};

static int publish_on(struct push_db *db, PGconn *conn, void *arg)
{
    struct publish_run *p = arg;
    int rc = push_store_publish(conn, p->m->recipient, p->m->title, p->m->body, p->m->kind, p->id);

    (void)db;
    p->refused = rc == 1;
    return rc < 0 ? -1 : 0;
}

static void publish(struct push_db_worker *w, struct push_request *r, const struct publish *m)
{
    struct publish_run p = { m, 0, "" };
    enum push_db_err err;
    char msg[512], answer[64];

    switch (push_db_run(&w->db, publish_on, &p, &err, msg, sizeof msg)) {
    case PUSH_DB_RUN_OK:
        if (p.refused) {
            push_http_error(r, 400, "bad_request",
                            "push.message refused it: a field too long, or a bad kind", NULL);
            return;
        }
        snprintf(answer, sizeof answer, "{\"ok\":true,\"id\":\"%s\"}\n", p.id);
        push_http_respond(r, 200, "Cache-Control: no-store\r\n", "application/json", answer,
                          strlen(answer));
        return;
    case PUSH_DB_RUN_FAILED:
        push_edge_query_failed(r, msg);
        return;
    case PUSH_DB_RUN_DOWN:
        push_edge_db_error(r, err, msg);
        return;
    }
}

static void handle(struct push_request *r, void *state)
{
    struct push_db_worker *w = state;
    const char *method = push_request_env(r, "REQUEST_METHOD");
    struct push_identity id;
    struct push_query q;
    struct publish m;
    json_object *body;

    if (!w->cfg->demo) {
        push_http_error(r, 403, "demo_only", "publishing over HTTP is for the demo (PUSH_DEMO=1); "
                        "sites publish with INSERT INTO push.message", NULL);
        return;
    }
    if (push_edge_identify(r, w->cfg, &q, &id) < 0)
        return;
    if (!method || strcmp(method, "POST") != 0) {
        push_edge_method(r, "POST");
        return;
    }
    if (!(body = push_edge_json_body(r, w->cfg, BODY_MAX)))
        return;
    if (member(body, "recipient", &m.recipient) < 0 || member(body, "title", &m.title) < 0
        || member(body, "body", &m.body) < 0 || member(body, "kind", &m.kind) < 0 || !m.title)
        push_http_error(r, 400, "bad_request",
                        "expected {\"recipient\": NAME | null, \"title\": T, \"body\": B, \"kind\": K}",
                        NULL);
    else
        publish(w, r, &(struct publish){ m.recipient, m.title, m.body ? m.body : "", m.kind });
    json_object_put(body);
}

int main(int argc, char **argv)
{
    struct push_config cfg;
    int rc = push_program_init(&program, argc, argv, &cfg);

    if (rc >= 0)
        return rc;
    return push_server_run_db(&cfg, program.name, handle, NULL);
}
