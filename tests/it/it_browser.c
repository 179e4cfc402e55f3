/*
 * it_browser: the web console in Debian's chromium, driven by
 * playwright-core (tests/browser/console.mjs), against real gateways: a
 * city forwarding to a province on one throwaway cluster.  One test per
 * group of browser checks, each group one Chromium:
 *
 *   journey   contact point submits in the form -> the editor's queue shows
 *             it live, without reload -> claim, edit, diff, forward to the
 *             province -> the provincial editor adopts with 批示 -> the
 *             contact point's page shows the 批示
 *   security  script and HTML in every field render as text; a
 *             cross-origin POST is refused; no, an unregistered or a
 *             disabled certificate gets no data; a contact point cannot
 *             open another's report by URL
 *   public    码上商 on a phone-sized viewport (tests/browser/public.mjs):
 *             the poster's URL (from `minyi poster`) opens the public form,
 *             a message goes with a photo carrying EXIF GPS and the browser's
 *             proof of work, and gets a pickup code -> the contact point's
 *             inbox page shows it, the stored photo without the GPS -> reply,
 *             dismiss another, convert it into a report -> the editor adopts
 *             -> the pickup code shows the reply and the outcome
 *
 * Screenshots go to BUILD/tests/browser-shots/.  The test skips when
 * chromium or node are not installed or tests/run has not installed
 * playwright-core.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/rand.h>
#include <sys/stat.h>

#include "hex.h"
#include "itkit.h"

#define CHROMIUM "/usr/bin/chromium"
#define NODE "/usr/bin/node"
#define PLAYWRIGHT MINYI_SOURCE_DIR "/tests/browser/node_modules/playwright-core/package.json"
#define SCRIPTS MINYI_SOURCE_DIR "/tests/browser"
#define SHOTS MINYI_BINARY_DIR "/tests/browser-shots"
/* Results from the province are pulled this often, so the 批示 comes down
 * within the script's wait. */
#define RESULTS_INTERVAL_MS 1000
/* The public form's proof of work, in bits: Chromium solves it in the
 * page, as a phone would, in well under a second at this difficulty. */
#define PUBLIC_POW_BITS 12
#define OUT_LEN 65536

static struct tpg pg;
static bool pg_up;
static struct itinst prov, city;
static char dir[PATH_MAX], config[PATH_MAX + 32];
static char out[OUT_LEN], err[OUT_LEN];

/* The city's [public] section: a token key of its own in dir, and rates
 * that let one test address make every call of the journey. */
static bool public_ini(char *ini, size_t len)
{
    uint8_t key[32];
    char hex[65], path[PATH_MAX + 16];

    snprintf(path, sizeof(path), "%s/public.key", dir);
    if (RAND_bytes(key, sizeof(key)) != 1)
        return false;
    hex_encode(key, sizeof(key), hex);
    itwrite_file(path, hex);
    if (chmod(path, 0600) != 0)
        return false;
    snprintf(ini, len,
             "[public]\ntoken_key_file = %s\nbase_url = https://127.0.0.1\n"
             "pow_difficulty = %d\nrate_per_address = 1000\n",
             path, PUBLIC_POW_BITS);
    return true;
}

/* contact1's poster URL at the city, as `minyi poster` prints it. */
static bool poster_url(char *url, size_t len)
{
    char profile[PATH_MAX + 16], svg[PATH_MAX + 16];

    snprintf(profile, sizeof(profile), "%s/contact1.conf", dir);
    snprintf(svg, sizeof(svg), "%s/poster.svg", dir);
    if (!tprofile_write(profile, "contact1", &city.gw))
        return false;
    const char *const args[] = { "poster", "--svg", svg, NULL };
    if (itrun_cli(dir, profile, args, out, err, OUT_LEN) != 0)
        return false;
    itfirst_line(out, url, len);
    return strstr(url, "/public/?t=") != NULL;
}

static int setup(void **state)
{
    (void)state;
    if (access(CHROMIUM, X_OK) != 0 || access(NODE, X_OK) != 0 || access(PLAYWRIGHT, R_OK) != 0)
        return 0; /* each test skips, saying why */
    char ini[PATH_MAX + 256], url[PATH_MAX];
    if (!itmkdtemp(dir, sizeof(dir), "browser") || !public_ini(ini, sizeof(ini)) ||
        !tpg_start(&pg))
        return -1;
    pg_up = true;
    if (!itinst_up(&pg, &prov, "province", IT_PROV_REGION, IT_PROV_NAME, NULL, NULL, NULL,
                   RESULTS_INTERVAL_MS) ||
        tprincipal_add(prov.conninfo, "peer2", "peer", IT_CITY_REGION, true) <= 0 ||
        !itinst_up_ini(&pg, &city, "city", IT_CITY_REGION, IT_CITY_NAME, "province", &prov,
                       "peer2", RESULTS_INTERVAL_MS, ini) ||
        tprincipal_add(city.conninfo, "contact1", "contact", IT_REGION, true) <= 0 ||
        tprincipal_add(city.conninfo, "contact2", "contact", IT_REGION, true) <= 0 ||
        tprincipal_add(city.conninfo, "inactive", "contact", IT_REGION, false) <= 0 ||
        tprincipal_add(city.conninfo, "office1", "office", IT_REGION, true) <= 0 ||
        !poster_url(url, sizeof(url)))
        return -1;
    char certs[PATH_MAX];
    snprintf(certs, sizeof(certs), "%s", tcert("ca", "crt"));
    *strrchr(certs, '/') = '\0';
    snprintf(config, sizeof(config), "%s/config.json", dir);
    FILE *f = fopen(config, "w");
    if (f == NULL)
        return -1;
    fprintf(f,
            "{\"city_console\": %d, \"province_console\": %d, \"certs\": \"%s\", "
            "\"shots\": \"%s\", \"chromium\": \"%s\", \"poster_url\": \"%s\"}\n",
            city.gw.console_port, prov.gw.console_port, certs, SHOTS, CHROMIUM, url);
    return fclose(f) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    if (!pg_up) {
        if (dir[0] != '\0')
            itrmtree(dir);
        return 0;
    }
    return itinst_down((struct itinst *[]){ &city, &prov }, 2, &pg, pg_up, dir);
}

/* Runs group of tests/browser/script with the instances' config. */
static void run_group(const char *script, const char *group)
{
    if (access(CHROMIUM, X_OK) != 0)
        itskip("chromium is not installed (" CHROMIUM ")");
    if (access(NODE, X_OK) != 0)
        itskip("node is not installed (" NODE ")");
    if (access(PLAYWRIGHT, R_OK) != 0)
        itskip("playwright-core is not installed in tests/browser (tests/run installs it)");
    char cmd[PATH_MAX * 4];
    snprintf(cmd, sizeof(cmd), "cd '%s' && '%s' '%s/%s' %s '%s' 2>&1", dir, NODE, SCRIPTS, script,
             group, config);
    int rc = system(cmd);
    if (rc != 0) {
        tgw_dump_log(&city.gw);
        tgw_dump_log(&prov.gw);
        fail_msg("the browser group %s failed (status %d)", group, rc);
    }
}

static void test_journey(void **state)
{
    (void)state;
    run_group("console.mjs", "journey");
}

static void test_security(void **state)
{
    (void)state;
    run_group("console.mjs", "security");
}

static void test_public(void **state)
{
    (void)state;
    run_group("public.mjs", "public");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_journey),
        cmocka_unit_test(test_security),
        cmocka_unit_test(test_public),
    };
    return itexit(cmocka_run_group_tests(tests, setup, teardown));
}
