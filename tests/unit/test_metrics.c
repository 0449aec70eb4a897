/* test_metrics.c: unit tests for lib/core/push_metrics: counters, refusals by status, the delivery
 * lag histogram (its buckets cumulative, created_at parsed), and the text's shape */
#include "config.h"

#include "unit.h"

#include "core/push_metrics.h"

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

static Suite *metrics_suite(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("metrics");

    tcase_add_test(tc, counters_count_and_refusals_go_by_status);
    tcase_add_test(tc, the_lag_histogram_is_cumulative_with_sum_and_count);
    tcase_add_test(tc, created_at_as_the_store_writes_it_is_measured_against_the_clock);
    tcase_add_test(tc, a_program_without_streams_leaves_out_their_series);
    tcase_add_test(tc, gauges_and_build_info_come_from_the_program);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(metrics_suite)
