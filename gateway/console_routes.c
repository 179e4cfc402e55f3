/*
 * console_routes: which handler serves which path of the console.  To add
 * a door, add a row above the last one (the static pages take every path
 * not matched before): CONSOLE_ROUTE_PRINCIPAL for pages and calls of
 * people with a certificate, CONSOLE_ROUTE_PUBLIC for the public form,
 * whose handler sees no principal and does its own limiting.
 */
#include "console.h"
#include "console_api.h"
#include "console_chart.h"
#include "console_static.h"
#include "public_http.h"

const struct console_route console_routes[] = {
    { "/api/", CONSOLE_ROUTE_PRINCIPAL, console_api_handle },
    { "/chart/", CONSOLE_ROUTE_PRINCIPAL, console_chart_handle },
    { "/public/", CONSOLE_ROUTE_PUBLIC, public_http_handle },
    { "/", CONSOLE_ROUTE_PRINCIPAL, console_static_handle },
    { NULL, CONSOLE_ROUTE_PRINCIPAL, NULL },
};
