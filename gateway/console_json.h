/*
 * console_json: JSON <-> protobuf-c messages, for every message at once,
 * driven by protobuf-c's descriptors (one mapper, not one per message).
 *
 * Field names are the .proto's.  Enums are written as their value names
 * ("URGENT") and read as names or numbers; 64-bit integers as JSON
 * integers; repeated fields as arrays; sub-messages as objects; a oneof
 * member as its own key.  A bytes field is text in this protocol
 * (PROTOCOL.md: free text is declared bytes), so it is written as a JSON
 * string when it is UTF-8 without control characters other than tab and
 * newline, else as {"base64": "..."}; either form is read.  Reading
 * refuses what it does not know — an unknown key, a value of the wrong
 * type, a number out of range — naming the field, and repairs nothing:
 * the strict validation of the operation itself follows on the decoded
 * frame.
 */
#ifndef MINYI_CONSOLE_JSON_H
#define MINYI_CONSOLE_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

/* Longest dotted path of a field named in an error. */
#define CONSOLE_JSON_PATH_MAX 128

/* Builds a message of type d from the JSON object o, malloc'd (free it
 * with protobuf_c_message_free_unpacked(m, NULL)).  NULL when o does not
 * fit d, with the dotted path of the field at fault in path. */
ProtobufCMessage *console_json_to_message(const ProtobufCMessageDescriptor *d, const json_t *o,
                                          char path[CONSOLE_JSON_PATH_MAX])
    __attribute__((warn_unused_result));

/* The JSON object of m (new reference), or NULL when out of memory. */
json_t *console_json_from_message(const ProtobufCMessage *m) __attribute__((warn_unused_result));

#endif
