/*
 * client_err: how the client library classifies its own failures.
 *
 * Every reason string the library writes into an `err` buffer starts with
 * one of these prefixes, so a caller (the `minyi` CLI) can tell a refusal
 * from a network problem without a second error channel in client.h.
 * Errors that came from the gateway as Error frames are not strings: the
 * caller reads their code from the frame.  client_report_from_json's
 * reasons carry no prefix: they are always bad input, written as
 * "field.path: what is wrong".
 */
#ifndef MINYI_CLIENT_ERR_H
#define MINYI_CLIENT_ERR_H

#include <stdbool.h>
#include <string.h>

/* A local file or setting is unusable: profile, CA, certificate, key. */
#define CLIENT_ERR_CONFIG "config: "
/* The TLS layer refused: certificate verification failed either way, no
 * common protocol version, ALPN not agreed, or a TLS alert from the peer. */
#define CLIENT_ERR_TLS "tls: "
/* The gateway could not be reached (name lookup, connect). */
#define CLIENT_ERR_CONNECT "connect: "
/* Nothing (or not all of a frame) arrived within the profile's timeout. */
#define CLIENT_ERR_TIMEOUT "timeout: "
/* The connection was closed or reset; an answer in flight is lost. */
#define CLIENT_ERR_CLOSED "closed: "
/* The gateway sent bytes that are not a frame we accept. */
#define CLIENT_ERR_PROTOCOL "protocol: "

static inline bool client_err_is(const char *err, const char *prefix)
{
    return strncmp(err, prefix, strlen(prefix)) == 0;
}

#endif
