/*
 * client: the minyi C client library.  Blocking and simple on purpose: a
 * contact point's tool sends a few requests at a time.  It still supports
 * pipelining (send many frames, then read the answers in any order, matched
 * by id), which the tests and the load generator rely on.
 */
#ifndef MINYI_CLIENT_H
#define MINYI_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "frame.h"

/* A client profile: an INI file with a [client] section:
 *   host = 127.0.0.1        port = 7443
 *   (host may list several gateways, tried in order until one answers:
 *    host = 10.0.0.1:7443, 10.0.0.2, [::1]:7444; an address without a
 *    port uses port)
 *   ca = path               (CA that signs the gateway's certificate)
 *   cert = path  key = path (our client certificate and key)
 *   server_name = localhost (name the gateway's certificate must carry;
 *                            default: the address being tried)
 *   timeout_ms = 10000
 *   spool = path            (where submissions wait until the gateway has
 *                            them; default: the profile's file name with
 *                            ".spool" in place of its extension, beside it)
 * Relative paths are resolved against the profile file's directory. */
struct client_profile {
    char host[256];
    char port[16];
    char ca[1024];
    char cert[1024];
    char key[1024];
    char server_name[256];
    int timeout_ms;
    char spool[1024];
};

bool client_profile_load(const char *path, struct client_profile *p,
                         char *err, size_t errlen) __attribute__((warn_unused_result));

struct client_conn;

/* Connects with TLS 1.3, ALPN "minyi/1", verifying the gateway's certificate
 * against p->ca and p->server_name.  NULL with a reason in err on failure. */
struct client_conn *client_connect(const struct client_profile *p, char *err, size_t errlen)
    __attribute__((warn_unused_result));
void client_close(struct client_conn *c);

/* Next request id (1, 2, 3, ...). */
uint64_t client_next_id(struct client_conn *c);

/* Sends one frame (blocking until written).  False when the connection failed. */
bool client_send(struct client_conn *c, const Frame *f) __attribute__((warn_unused_result));
/* The same with the reason (a client_err.h prefix) in err on failure. */
bool client_send_why(struct client_conn *c, const Frame *f, char *err, size_t errlen)
    __attribute__((warn_unused_result));
/* Sends raw bytes as they are (for tests of malformed input). */
bool client_send_raw(struct client_conn *c, const void *buf, size_t len) __attribute__((warn_unused_result));
/* Sends as much of buf as the connection takes now, without waiting: the
 * number of bytes taken (0 when none), or -1 when the connection failed.
 * Call it again with the rest (the same bytes) to go on.  For one thread
 * that drives many connections at once, e.g. tests holding partial frames. */
long client_send_nowait(struct client_conn *c, const void *buf, size_t len)
    __attribute__((warn_unused_result));

/* Receives one frame, waiting up to the profile's timeout.  NULL on timeout,
 * close or a malformed frame (reason in err).  Free with frame_arena_free(*arena). */
Frame *client_recv(struct client_conn *c, struct frame_arena **arena, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Send one request and wait for the answer with the same id. */
Frame *client_call(struct client_conn *c, Frame *req, struct frame_arena **arena,
                   char *err, size_t errlen) __attribute__((warn_unused_result));

/* Waits for the answer with this id (discarding frames with other ids),
 * for a caller that sent its request with client_send. */
Frame *client_await(struct client_conn *c, uint64_t id, struct frame_arena **arena, char *err,
                    size_t errlen) __attribute__((warn_unused_result));

/* Called about once a second while a call waits for its answer, with the
 * milliseconds waited so far: for a command line that shows it is still
 * waiting on a long query.  NULL (the default) for none. */
typedef void (*client_wait_fn)(void *arg, int64_t waited_ms);
void client_on_wait(struct client_conn *c, client_wait_fn fn, void *arg);

/* Underlying socket, e.g. for poll() in tests. */
int client_fd(const struct client_conn *c);

/* Names for codes and states, e.g. "INVALID_ARGUMENT", "RECEIVED". */
const char *client_error_code_name(int code);
const char *client_state_name(int state);

/* Builds a Report from a JSON object whose keys are the protocol's field
 * names (enums by name, e.g. "category": "SOCIETY"; attachments with "path"
 * or base64 "content_b64"; sha256 computed when absent).  Allocates with
 * malloc; free with protobuf_c_message_free_unpacked. */
Minyi__V1__Report *client_report_from_json(const char *json_text, const char *base_dir,
                                            char *err, size_t errlen) __attribute__((warn_unused_result));

#endif
