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

#include "itkit.h"

#define CHROMIUM "/usr/bin/chromium"
#define NODE "/usr/bin/node"
#define PLAYWRIGHT MINYI_SOURCE_DIR "/tests/browser/node_modules/playwright-core/package.json"
#define SCRIPT MINYI_SOURCE_DIR "/tests/browser/console.mjs"
#define SHOTS MINYI_BINARY_DIR "/tests/browser-shots"
/* Results from the province are pulled this often, so the 批示 comes down
 * within the script's wait. */
#define RESULTS_INTERVAL_MS 1000

static struct tpg pg;
static bool pg_up;
static struct itinst prov, city;
static char dir[PATH_MAX], config[PATH_MAX + 32];

static int setup(void **state)
{
    (void)state;
    if (access(CHROMIUM, X_OK) != 0 || access(NODE, X_OK) != 0 || access(PLAYWRIGHT, R_OK) != 0)
        return 0; /* each test skips, saying why */
    if (!tpg_start(&pg))
        return -1;
    pg_up = true;
    if (!itinst_up(&pg, &prov, "province", IT_PROV_REGION, IT_PROV_NAME, NULL, NULL, NULL,
                   RESULTS_INTERVAL_MS) ||
        tprincipal_add(prov.conninfo, "peer2", "peer", IT_CITY_REGION, true) <= 0 ||
        !itinst_up(&pg, &city, "city", IT_CITY_REGION, IT_CITY_NAME, "province", &prov, "peer2",
                   RESULTS_INTERVAL_MS) ||
        tprincipal_add(city.conninfo, "contact1", "contact", IT_REGION, true) <= 0 ||
        tprincipal_add(city.conninfo, "contact2", "contact", IT_REGION, true) <= 0 ||
        tprincipal_add(city.conninfo, "inactive", "contact", IT_REGION, false) <= 0 ||
        !itmkdtemp(dir, sizeof(dir), "browser"))
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
            "\"shots\": \"%s\", \"chromium\": \"%s\"}\n",
            city.gw.console_port, prov.gw.console_port, certs, SHOTS, CHROMIUM);
    return fclose(f) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    if (!pg_up)
        return 0;
    return itinst_down((struct itinst *[]){ &city, &prov }, 2, &pg, pg_up, dir);
}

static void run_group(const char *group)
{
    if (access(CHROMIUM, X_OK) != 0)
        itskip("chromium is not installed (" CHROMIUM ")");
    if (access(NODE, X_OK) != 0)
        itskip("node is not installed (" NODE ")");
    if (access(PLAYWRIGHT, R_OK) != 0)
        itskip("playwright-core is not installed in tests/browser (tests/run installs it)");
    char cmd[PATH_MAX * 4];
    snprintf(cmd, sizeof(cmd), "cd '%s' && '%s' '%s' %s '%s' 2>&1", dir, NODE, SCRIPT, group,
             config);
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
    run_group("journey");
}

static void test_security(void **state)
{
    (void)state;
    run_group("security");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_journey),
        cmocka_unit_test(test_security),
    };
    return itexit(cmocka_run_group_tests(tests, setup, teardown));
}
