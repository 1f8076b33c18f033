/*
 * sg_yaml: the YAML that kubeconfig files are written in, as a cJSON tree.
 *
 * kubectl, kind, cloud CLIs and cluster installers write kubeconfigs in a
 * narrow style: block mappings and block sequences by indentation, plain or
 * quoted scalars, comments, and empty flow collections ("[]", "{}"). This
 * reader accepts exactly that, plus JSON (a kubeconfig may be JSON, which is
 * YAML too), and refuses anything else (anchors, tags, block scalars,
 * non-empty flow collections, multiple documents, a key repeated in one
 * mapping) with a message naming the line, rather than guessing. Every
 * YAML scalar becomes a JSON string (kubeconfig readers want strings; a
 * JSON document keeps its own types, so readers of a bool accept both true
 * and "true").
 */
#ifndef SG_YAML_H
#define SG_YAML_H

#include <stddef.h>

#include <cjson/cJSON.h>

/*
 * Parses text (len bytes). Returns a new tree (free with cJSON_Delete) or
 * NULL with *cause, a new string the caller frees.
 */
cJSON *sg_yaml_parse(const char *text, size_t len, char **cause);

#endif
