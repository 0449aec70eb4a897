/* test_metrics.c: unit tests for lib/core/push_metrics: counters, refusals by status, the delivery
 * lag histogram (its buckets cumulative, created_at parsed), and the text's shape; and that the
 * Grafana dashboard (doc/grafana-pgpush.json) asks for no series the programs do not export */
#include "config.h"

#include "unit.h"

#include "core/push_metrics.h"

#include <ctype.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const struct push_metrics_state state = { .program = "push-sse", .transport = "sse", .streams = 7,
                                                  .db_pool = 3, .db_busy = 1, .listening = 1,
                                                  .broker = -1 };

/* push-mqtt's: no streams, a broker connection */
static const struct push_metrics_state bridge = { .program = "push-mqtt", .transport = "mqtt",
                                                   .streams = -1, .db_pool = 1, .db_busy = 0,
                                                   .listening = 1, .broker = 0 };

/* The value of the sample named exactly `series` (name and labels) in st's text; -1 if absent. */
static double value_in(const struct push_metrics_state *st, const char *series)
{
    size_t len;
    char *text = push_metrics_text(st, &len);
    size_t n = strlen(series);
    double v = -1;

    ck_assert_uint_eq(strlen(text), len);
    for (const char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (strncmp(line, series, n) == 0 && line[n] == ' ') {
            v = strtod(line + n + 1, NULL);
            break;
        }
    }
    free(text);
    return v;
}

static double value_of(const char *series)
{
    return value_in(&state, series);
}

START_TEST(counters_count_and_refusals_go_by_status)
{
    double before = value_of("pgpush_delivered_messages_total");

    push_metric_add(PUSH_M_DELIVERED, 3);
    ck_assert_double_eq(value_of("pgpush_delivered_messages_total"), before + 3);
    ck_assert_double_eq(value_of("pgpush_refused_total{status=\"429\"}"), 0); /* shown at 0 */
    ck_assert_double_eq(value_of("pgpush_refused_total{status=\"418\"}"), -1); /* not shown */
    push_metric_refused(418);
    push_metric_refused(503);
    push_metric_refused(503);
    push_metric_refused(200); /* not a refusal */
    push_metric_refused(600);
    ck_assert_double_eq(value_of("pgpush_refused_total{status=\"418\"}"), 1);
    ck_assert_double_eq(value_of("pgpush_refused_total{status=\"503\"}"), 2);
}
END_TEST

START_TEST(the_lag_histogram_is_cumulative_with_sum_and_count)
{
    push_metric_lag(0);    /* le 0.001 */
    push_metric_lag(7);    /* le 0.01 */
    push_metric_lag(7);
    push_metric_lag(60000); /* +Inf only */
    ck_assert_double_eq(value_of("pgpush_delivery_lag_seconds_bucket{le=\"0.001\"}"), 1);
    ck_assert_double_eq(value_of("pgpush_delivery_lag_seconds_bucket{le=\"0.005\"}"), 1);
    ck_assert_double_eq(value_of("pgpush_delivery_lag_seconds_bucket{le=\"0.01\"}"), 3);
    ck_assert_double_eq(value_of("pgpush_delivery_lag_seconds_bucket{le=\"10\"}"), 3);
    ck_assert_double_eq(value_of("pgpush_delivery_lag_seconds_bucket{le=\"+Inf\"}"), 4);
    ck_assert_double_eq(value_of("pgpush_delivery_lag_seconds_count"), 4);
    ck_assert_double_eq_tol(value_of("pgpush_delivery_lag_seconds_sum"), 60.014, 0.0005);
}
END_TEST

START_TEST(created_at_as_the_store_writes_it_is_measured_against_the_clock)
{
    char stamp[64];
    time_t t = time(NULL) - 2; /* two seconds ago */
    struct tm tm;
    double n0 = value_of("pgpush_delivery_lag_seconds_count");
    double in_5s = value_of("pgpush_delivery_lag_seconds_bucket{le=\"5\"}");
    double in_1s = value_of("pgpush_delivery_lag_seconds_bucket{le=\"1\"}");

    gmtime_r(&t, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S.250000Z", &tm);
    push_metric_lag_since(stamp);
    ck_assert_double_eq(value_of("pgpush_delivery_lag_seconds_count"), n0 + 1);
    ck_assert_double_eq(value_of("pgpush_delivery_lag_seconds_bucket{le=\"5\"}"), in_5s + 1);
    ck_assert_double_eq(value_of("pgpush_delivery_lag_seconds_bucket{le=\"1\"}"), in_1s); /* > 1 s */
    push_metric_lag_since("yesterday");
    push_metric_lag_since(NULL);
    push_metric_lag_since("2026-12-04 13:45:02");
    ck_assert_double_eq(value_of("pgpush_delivery_lag_seconds_count"), n0 + 1);
}
END_TEST

/* The stamp's date turned into seconds (by position, no timegm) against glibc's gmtime_r, which
 * wrote the stamp: whole days back across month ends, leap days, 2000 and 1970 add exactly that
 * many seconds to the sum; and shapes the store never writes are not counted. */
START_TEST(created_at_dates_back_to_1970_agree_with_gmtime)
{
    static const long days_back[] = { 1, 28, 29, 31, 59, 60, 365, 366, 1461, 9500, 11000, 20000 };
    static const char *bad[] = { "2026-12-04T13:45:02.250000",   "2026-12-04T13:45:02.25000Z",
                                 "2026-13-04T13:45:02.250000Z",  "2026-12-04 13:45:02.250000Z",
                                 "2026-12-04T13:45:02.2500000Z", "+026-12-04T13:45:02.250000Z",
                                 "2026-12-04T1 :45:02.250000Z",  "" };

    for (size_t i = 0; i < sizeof days_back / sizeof days_back[0]; i++) {
        char stamp[64];
        time_t t = time(NULL) - days_back[i] * 86400L;
        struct tm tm;
        double sum0 = value_of("pgpush_delivery_lag_seconds_sum"), sum1;

        gmtime_r(&t, &tm);
        strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S.000000Z", &tm);
        push_metric_lag_since(stamp);
        sum1 = value_of("pgpush_delivery_lag_seconds_sum");
        ck_assert_msg(sum1 - sum0 >= days_back[i] * 86400.0 - 0.001
                          && sum1 - sum0 <= days_back[i] * 86400.0 + 2.0,
                      "%s: %.3f s, not %ld days", stamp, sum1 - sum0, days_back[i]);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        double n0 = value_of("pgpush_delivery_lag_seconds_count");

        push_metric_lag_since(bad[i]);
        ck_assert_msg(value_of("pgpush_delivery_lag_seconds_count") == n0, "\"%s\" counted", bad[i]);
    }
}
END_TEST

START_TEST(gauges_and_build_info_come_from_the_program)
{
    ck_assert_double_eq(value_of("pgpush_open_streams{transport=\"sse\"}"), 7);
    ck_assert_double_eq(value_of("pgpush_db_connections{state=\"busy\"}"), 1);
    ck_assert_double_eq(value_of("pgpush_db_connections{state=\"idle\"}"), 2);
    ck_assert_double_eq(value_of("pgpush_listen_up"), 1);
    ck_assert_double_eq(value_of("pgpush_build_info{program=\"push-sse\",version=\"" PACKAGE_VERSION "\"}"), 1);
    ck_assert_double_eq(value_of("pgpush_mqtt_broker_up"), -1); /* not a bridge */
}
END_TEST

START_TEST(a_program_without_streams_leaves_out_their_series)
{
    push_metric_add(PUSH_M_OPENED, 1);
    ck_assert_double_eq(value_in(&bridge, "pgpush_mqtt_broker_up"), 0);
    ck_assert_double_eq(value_in(&bridge, "pgpush_listen_up"), 1);
    ck_assert_double_gt(value_in(&bridge, "pgpush_delivered_messages_total"), -1);
    ck_assert_double_gt(value_in(&bridge, "pgpush_listen_reconnects_total"), -1);
    ck_assert_double_gt(value_in(&bridge, "pgpush_delivery_lag_seconds_count"), -1);
    ck_assert_double_eq(value_in(&bridge, "pgpush_open_streams{transport=\"mqtt\"}"), -1);
    ck_assert_double_eq(value_in(&bridge, "pgpush_streams_opened_total"), -1);
    ck_assert_double_eq(value_in(&bridge, "pgpush_slow_client_drops_total"), -1);
    ck_assert_double_eq(value_in(&bridge, "pgpush_refused_total{status=\"503\"}"), -1);
    ck_assert_double_gt(value_of("pgpush_streams_opened_total"), 0); /* a stream program: there */
}
END_TEST

/* Is name a sample's name in st's text ("pgpush_x_bucket", "pgpush_x{...} 1", "pgpush_x 1")? */
static int exported(const struct push_metrics_state *st, const char *name)
{
    size_t len, n = strlen(name);
    char *text = push_metrics_text(st, &len);
    int found = 0;

    for (const char *line = text; line && *line && !found; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
        found = line[0] != '#' && strncmp(line, name, n) == 0 && (line[n] == '{' || line[n] == ' ');
    free(text);
    return found;
}

/* Every pgpush_* name in expr is exported by a program with streams or by push-mqtt; returns
 * how many names it checked. */
static int check_expr(const char *expr)
{
    int names = 0;

    for (const char *p = strstr(expr, "pgpush_"); p; p = strstr(p, "pgpush_")) {
        char name[128];
        size_t n = 0;
        while ((isalnum((unsigned char)p[n]) || p[n] == '_') && n < sizeof name - 1)
            n++;
        memcpy(name, p, n);
        name[n] = '\0';
        ck_assert_msg(exported(&state, name) || exported(&bridge, name),
                      "the dashboard asks for %s, which no program exports (in: %s)", name, expr);
        names++;
        p += n;
    }
    return names;
}

START_TEST(the_grafana_dashboard_asks_only_for_exported_series)
{
    json_object *d = json_object_from_file(PUSH_TOP_SRCDIR "/doc/grafana-pgpush.json");
    json_object *panels, *templating, *list, *v;
    int names = 0, has_ds = 0;

    ck_assert_msg(d != NULL, "doc/grafana-pgpush.json is not valid JSON");
    /* importable anywhere: the Prometheus data source is a variable */
    ck_assert(json_object_object_get_ex(d, "templating", &templating));
    ck_assert(json_object_object_get_ex(templating, "list", &list));
    for (size_t i = 0; i < json_object_array_length(list); i++) {
        json_object *t = json_object_array_get_idx(list, i), *type, *query;
        has_ds |= json_object_object_get_ex(t, "type", &type)
                  && strcmp(json_object_get_string(type), "datasource") == 0
                  && json_object_object_get_ex(t, "query", &query)
                  && strcmp(json_object_get_string(query), "prometheus") == 0;
    }
    ck_assert_msg(has_ds, "no Prometheus data source variable");
    ck_assert(json_object_object_get_ex(d, "panels", &panels));
    ck_assert_int_ge(json_object_array_length(panels), 9);
    for (size_t i = 0; i < json_object_array_length(panels); i++) {
        json_object *panel = json_object_array_get_idx(panels, i), *targets, *ds, *uid;
        ck_assert(json_object_object_get_ex(panel, "datasource", &ds));
        ck_assert(json_object_object_get_ex(ds, "uid", &uid));
        ck_assert_str_eq(json_object_get_string(uid), "${datasource}");
        ck_assert(json_object_object_get_ex(panel, "targets", &targets));
        ck_assert_int_ge(json_object_array_length(targets), 1);
        for (size_t k = 0; k < json_object_array_length(targets); k++) {
            ck_assert(json_object_object_get_ex(json_object_array_get_idx(targets, k), "expr", &v));
            ck_assert_int_ge(check_expr(json_object_get_string(v)), 1);
            names++;
        }
    }
    ck_assert_int_ge(names, 15);
    json_object_put(d);
}
END_TEST

static Suite *metrics_suite(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("metrics");

    tcase_add_test(tc, counters_count_and_refusals_go_by_status);
    tcase_add_test(tc, the_lag_histogram_is_cumulative_with_sum_and_count);
    tcase_add_test(tc, created_at_as_the_store_writes_it_is_measured_against_the_clock);
    tcase_add_test(tc, created_at_dates_back_to_1970_agree_with_gmtime);
    tcase_add_test(tc, a_program_without_streams_leaves_out_their_series);
    tcase_add_test(tc, the_grafana_dashboard_asks_only_for_exported_series);
    tcase_add_test(tc, gauges_and_build_info_come_from_the_program);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(metrics_suite)
