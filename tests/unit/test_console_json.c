/*
 * test_console_json: the console's one JSON mapper (console_json.h) maps
 * every message by its descriptor: a message and its JSON come back the
 * same, text bytes as strings and other bytes as base64, enums by name;
 * and reading refuses, naming the field, what does not fit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "console_json.h"
#include "frame.h"

static json_t *parse(const char *text)
{
    json_error_t e;
    json_t *o = json_loads(text, 0, &e);
    assert_non_null(o);
    return o;
}

static void test_queue_answer_maps_out(void **state)
{
    (void)state;
    Minyi__V1__QueueItem item = MINYI__V1__QUEUE_ITEM__INIT;
    Minyi__V1__QueueItem *items[] = { &item };
    Minyi__V1__QueueResponse q = MINYI__V1__QUEUE_RESPONSE__INIT;
    item.receipt = frame_bytes("330400-2026-000001");
    item.title = frame_bytes("<script>alert(1)</script>标题");
    item.urgency = MINYI__V1__URGENCY__URGENT;
    item.received_at_ms = 1764000000000;
    item.overdue = 1;
    q.n_items = 1;
    q.items = items;
    json_t *o = console_json_from_message(&q.base);
    assert_non_null(o);
    char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    assert_non_null(strstr(text, "\"receipt\":\"330400-2026-000001\""));
    assert_non_null(strstr(text, "\"urgency\":\"URGENT\""));
    assert_non_null(strstr(text, "\"received_at_ms\":1764000000000"));
    assert_non_null(strstr(text, "\"overdue\":true"));
    assert_non_null(strstr(text, "<script>alert(1)</script>标题"));
    free(text);
    json_decref(o);
}

static void test_binary_bytes_as_base64(void **state)
{
    (void)state;
    Minyi__V1__Attachment at = MINYI__V1__ATTACHMENT__INIT;
    static const uint8_t bin[] = { 0x00, 0xff, 0x10 };
    at.name = frame_bytes("a.png");
    at.content.data = (uint8_t *)bin;
    at.content.len = sizeof(bin);
    json_t *o = console_json_from_message(&at.base);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(json_object_get(o, "content"), "base64")),
                        "AP8Q");
    char path[CONSOLE_JSON_PATH_MAX];
    Minyi__V1__Attachment *back =
        (Minyi__V1__Attachment *)console_json_to_message(&minyi__v1__attachment__descriptor, o, path);
    assert_non_null(back);
    assert_int_equal(back->content.len, sizeof(bin));
    assert_memory_equal(back->content.data, bin, sizeof(bin));
    assert_int_equal(back->name.len, 5);
    protobuf_c_message_free_unpacked(&back->base, NULL);
    json_decref(o);
}

static void test_request_maps_in(void **state)
{
    (void)state;
    char path[CONSOLE_JSON_PATH_MAX];
    json_t *o = parse("{\"receipt\":\"R-1\",\"decision\":\"FORWARD\",\"destinations\":[\"province\","
                      "\"cityhall\"],\"note\":\"好\"}");
    Minyi__V1__DecideRequest *d =
        (Minyi__V1__DecideRequest *)console_json_to_message(&minyi__v1__decide_request__descriptor,
                                                            o, path);
    assert_non_null(d);
    assert_int_equal(d->decision, MINYI__V1__DECISION__FORWARD);
    assert_int_equal(d->n_destinations, 2);
    assert_memory_equal(d->destinations[1].data, "cityhall", 8);
    protobuf_c_message_free_unpacked(&d->base, NULL);
    json_decref(o);
}

static void test_refusals_name_the_field(void **state)
{
    (void)state;
    static const struct {
        const char *json, *path;
    } bad[] = {
        { "{\"report\":{\"nonsense\":1}}", "report.nonsense" },
        { "{\"report\":{\"category\":\"NO_SUCH\"}}", "report.category" },
        { "{\"report\":{\"category\":99999999999}}", "report.category" },
        { "{\"report\":{\"title\":{\"base64\":\"!!!!\"}}}", "report.title" },
        { "{\"report\":{\"reporter\":{\"kind\":true}}}", "report.reporter.kind" },
        { "{\"report\":{\"attachments\":[{\"name\":\"a\"},{\"sha256\":5}]}}", "report.attachments.sha256" },
        { "{\"report\":7}", "report" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char path[CONSOLE_JSON_PATH_MAX];
        json_t *o = parse(bad[i].json);
        ProtobufCMessage *m =
            console_json_to_message(&minyi__v1__submit_request__descriptor, o, path);
        if (m != NULL)
            fail_msg("%s was accepted", bad[i].json);
        assert_string_equal(path, bad[i].path);
        json_decref(o);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_queue_answer_maps_out),
        cmocka_unit_test(test_binary_bytes_as_base64),
        cmocka_unit_test(test_request_maps_in),
        cmocka_unit_test(test_refusals_name_the_field),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
