/*
 * it_public: the 码上商 public form's door on the console's listener,
 * without a client certificate, against a real gateway and database.
 *
 * The form's page is served with the console's security headers; a forged
 * token gets nothing; a message sent with a solved challenge is stored
 * once, its photo without the EXIF chunk, and its pickup code shows its
 * status and the contact point's reply; a challenge serves once; a photo
 * that is not an image is refused naming its field; a poster revoked by
 * rotating is refused by the door.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "itkit.h"
#include "public_pow.h"
#include "webkit.h"

#define POW_BITS 8

static struct itenv env;
static char dir[512], pub_key[600], ini[2048], prof_c1[600], origin[128];

static int setup(void **state)
{
    (void)state;
    if (!itmkdtemp(dir, sizeof dir, "public"))
        return -1;
    itpublic_key(dir, pub_key, sizeof pub_key);
    snprintf(ini, sizeof ini,
             "[public]\ntoken_key_file = %s\nbase_url = https://127.0.0.1\n"
             "pow_difficulty = %d\nrate_per_address = 1000\n",
             pub_key, POW_BITS);
    if (!itenv_up(&env, ini))
        return -1;
    snprintf(prof_c1, sizeof prof_c1, "%s/c1.conf", dir);
    snprintf(origin, sizeof origin, "Origin: https://127.0.0.1:%d\r\n", env.gw.console_port);
    return tprofile_write(prof_c1, "contact1", &env.gw) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    int rc = itenv_teardown(&env);
    itrmtree(dir);
    return rc;
}

/* The token of contact1's current poster, from `minyi poster`. */
static void poster_token(bool rotate, char *token, size_t len)
{
    itposter_token(dir, prof_c1, rotate, token, len);
}

static json_t *call(const char *method, const char *path, const char *body, int want)
{
    struct tweb_answer a;
    json_error_t jerr;
    int status = tweb_call(&env.gw, NULL, method, path, body ? origin : NULL, body, &a);
    if (status != want)
        fail_msg("%s %s: %d, want %d: %s", method, path, status, want, a.body ? a.body : a.err);
    json_t *j = json_loads(a.body, 0, &jerr);
    tweb_answer_free(&a);
    assert_non_null(j);
    return j;
}

/* Solved as the page does, by the gateway's own solver. */
static void solve(const char *challenge, char *nonce, size_t len)
{
    char n[PUBLIC_POW_NONCE_MAX + 1];
    assert_true(public_pow_solve(challenge, POW_BITS, n));
    snprintf(nonce, len, "%s", n);
}

/* A challenge for token, solved: into challenge and nonce. */
static void challenge_for(const char *token, char *challenge, size_t clen, char *nonce,
                          size_t nlen)
{
    char path[300];
    snprintf(path, sizeof path, "/public/api/challenge?t=%s", token);
    json_t *j = call("GET", path, NULL, 200);
    assert_int_equal(json_integer_value(json_object_get(j, "difficulty")), POW_BITS);
    snprintf(challenge, clen, "%s", json_string_value(json_object_get(j, "challenge")));
    json_decref(j);
    solve(challenge, nonce, nlen);
}

/* A PNG as a phone might send it: an eXIf chunk with a GPS position
 * between its header and its image data.  (The door checks structure,
 * not the chunks' CRCs, which a viewer checks.) */
static size_t phone_png(uint8_t *buf)
{
    static const uint8_t sig[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
    static const uint8_t ihdr[13] = { 0, 0, 0, 1, 0, 0, 0, 1, 8, 0, 0, 0, 0 };
    static const char exif[] = "MM\0*GPSLatitude=30.7N;GPSLongitude=120.7E";
    static const uint8_t idat[12] = { 0x78, 0x9c, 0x63, 0x60, 0, 0, 0, 2, 0, 1 };
    size_t n = 0;
    memcpy(buf, sig, 8);
    n = 8;
    const struct { const char *type; const void *data; size_t len; } chunks[] = {
        { "IHDR", ihdr, sizeof ihdr }, { "eXIf", exif, sizeof exif - 1 },
        { "IDAT", idat, sizeof idat }, { "IEND", "", 0 },
    };
    for (size_t i = 0; i < 4; i++) {
        size_t l = chunks[i].len;
        buf[n++] = 0; buf[n++] = 0; buf[n++] = (uint8_t)(l >> 8); buf[n++] = (uint8_t)l;
        memcpy(buf + n, chunks[i].type, 4);
        n += 4;
        memcpy(buf + n, chunks[i].data, l);
        n += l;
        memset(buf + n, 0, 4);
        n += 4;
    }
    return n;
}

static char *b64(const uint8_t *p, size_t n)
{
    char *s = malloc(4 * ((n + 2) / 3) + 1);
    assert_non_null(s);
    EVP_EncodeBlock((unsigned char *)s, p, (int)n);
    return s;
}

static void test_page_is_public(void **state)
{
    struct tweb_answer a;
    char csp[512];
    (void)state;
    assert_int_equal(tweb_call(&env.gw, NULL, "GET", "/public/", NULL, NULL, &a), 200);
    assert_non_null(strstr(a.body, "码上商"));
    assert_non_null(strstr(a.body, "/public/public.js"));
    assert_null(strstr(a.body, "<script>"));
    assert_true(tweb_header(&a, "Content-Security-Policy", csp, sizeof csp));
    tweb_answer_free(&a);
    assert_int_equal(tweb_call(&env.gw, NULL, "GET", "/public/public.js", NULL, NULL, &a), 200);
    tweb_answer_free(&a);
    /* Only the form's own files: the console's stay behind the certificate. */
    assert_int_equal(tweb_call(&env.gw, NULL, "GET", "/public/index.js", NULL, NULL, &a), 404);
    tweb_answer_free(&a);
    assert_int_equal(tweb_call(&env.gw, NULL, "GET", "/index.js", NULL, NULL, &a), 403);
    tweb_answer_free(&a);
}

static void test_forged_token_refused(void **state)
{
    char token[200], forged[200];
    (void)state;
    poster_token(false, token, sizeof token);
    snprintf(forged, sizeof forged, "%s", token);
    size_t n = strlen(forged);
    forged[n - 1] = forged[n - 1] == '0' ? '1' : '0';
    char path[300];
    snprintf(path, sizeof path, "/public/api/challenge?t=%s", forged);
    json_t *j = call("GET", path, NULL, 404);
    assert_string_equal(json_string_value(json_object_get(j, "field")), "token");
    json_decref(j);
}

static void test_send_and_pickup(void **state)
{
    char token[200], c[200], nonce[32], body[8192], path[200], pickup[16];
    uint8_t png[512];
    (void)state;

    poster_token(false, token, sizeof token);
    char *photo = b64(png, phone_png(png));
    challenge_for(token, c, sizeof c, nonce, sizeof nonce);
    snprintf(body, sizeof body,
             "{\"t\":\"%s\",\"challenge\":\"%s\",\"nonce\":\"%s\",\"what\":\"桥下积水，行人只能"
             "绕行。\",\"place\":\"南湖路桥洞\",\"name\":\"赵六\",\"phone\":\"13700003333\","
             "\"photos\":[\"%s\"]}", token, c, nonce, photo);
    json_t *j = call("POST", "/public/api/submit", body, 200);
    snprintf(pickup, sizeof pickup, "%s", json_string_value(json_object_get(j, "pickup")));
    json_decref(j);
    assert_int_equal(strlen(pickup), 10);

    /* Stored once, the photo without its EXIF chunk. */
    assert_int_equal(tdb_scalar(env.conninfo, "SELECT count(*) FROM public_messages WHERE"
                                              " place = '南湖路桥洞'", 0, NULL), 1);
    assert_int_equal(tdb_scalar(env.conninfo, "SELECT count(*) FROM public_photos WHERE"
                                              " position('eXIf'::bytea in content) = 0 AND"
                                              " position('GPS'::bytea in content) = 0 AND"
                                              " position('IDAT'::bytea in content) > 0", 0,
                                NULL), 1);
    /* The same challenge does not serve twice. */
    j = call("POST", "/public/api/submit", body, 400);
    assert_string_equal(json_string_value(json_object_get(j, "field")), "challenge");
    json_decref(j);

    snprintf(path, sizeof path, "/public/api/pickup?code=%s", pickup);
    j = call("GET", path, NULL, 200);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "new");
    assert_string_equal(json_string_value(json_object_get(j, "reply")), "");
    json_decref(j);
    j = call("GET", "/public/api/pickup?code=2222222222", NULL, 404);
    json_decref(j);
    free(photo);

    /* Not an image by content: refused, naming the field. */
    challenge_for(token, c, sizeof c, nonce, sizeof nonce);
    char *fake = b64((const uint8_t *)"<svg><script>x()</script></svg>", 31);
    snprintf(body, sizeof body,
             "{\"t\":\"%s\",\"challenge\":\"%s\",\"nonce\":\"%s\",\"what\":\"别的事\","
             "\"place\":\"某处\",\"photos\":[\"%s\"]}", token, c, nonce, fake);
    j = call("POST", "/public/api/submit", body, 400);
    assert_string_equal(json_string_value(json_object_get(j, "field")), "photos[0]");
    json_decref(j);
    free(fake);
}

static void test_revoked_token_refused(void **state)
{
    char old[200], fresh[200], c[200], nonce[32], body[2048];
    (void)state;
    poster_token(false, old, sizeof old);
    poster_token(true, fresh, sizeof fresh);
    assert_string_not_equal(old, fresh);
    challenge_for(old, c, sizeof c, nonce, sizeof nonce);
    snprintf(body, sizeof body,
             "{\"t\":\"%s\",\"challenge\":\"%s\",\"nonce\":\"%s\",\"what\":\"旧海报\","
             "\"place\":\"某处\"}", old, c, nonce);
    json_t *j = call("POST", "/public/api/submit", body, 404);
    assert_string_equal(json_string_value(json_object_get(j, "field")), "token");
    json_decref(j);
    challenge_for(fresh, c, sizeof c, nonce, sizeof nonce);
    snprintf(body, sizeof body,
             "{\"t\":\"%s\",\"challenge\":\"%s\",\"nonce\":\"%s\",\"what\":\"新海报\","
             "\"place\":\"某处\"}", fresh, c, nonce);
    j = call("POST", "/public/api/submit", body, 200);
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_page_is_public),
        cmocka_unit_test(test_forged_token_refused),
        cmocka_unit_test(test_send_and_pickup),
        cmocka_unit_test(test_revoked_token_refused),
    };
    return itexit(cmocka_run_group_tests(tests, setup, teardown));
}
