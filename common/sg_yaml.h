/*
 * sg_yaml: YAML (and JSON, which is YAML too) as cJSON trees, read with
 * libyaml.
 *
 * Three readers share one tree builder:
 * - sg_yaml_parse: the kubeconfig. One document; every scalar becomes a
 *   JSON string, as client-go's typed decoding turns them into the strings
 *   its struct fields are (readers of a bool accept "true" too).
 * - sg_yaml_parse_stream: Kubernetes manifests. Any number of documents,
 *   each with the line it starts on; plain scalars typed the way kubectl
 *   types them before it sends JSON to the API server (sigs.k8s.io/yaml,
 *   YAML 1.1 rules of go-yaml v2): true/false/yes/no/on/off/y/n in their
 *   three spellings are booleans, ~, null and the empty scalar are null,
 *   decimal, 0x, 0o, 0b and leading-zero octal integers (with _) and
 *   decimal floats are numbers, anything else (timestamps included) a
 *   string. A quoted scalar is always a string. Keys are strings: a plain
 *   key that reads as a boolean or number becomes its canonical text
 *   ("on:" is "true"), as sigs.k8s.io/yaml does.
 * - sg_config_parse: a configuration file (policies), JSON or YAML.
 *
 * Refused, with the line and column: a key repeated in one mapping
 * (kubectl keeps the last, cJSON lookups the first, and the API server's
 * strict field validation refuses it), complex (non-scalar) keys, merge
 * keys ("<<"), tags other than the YAML core ones (!!str, !!int, !!float,
 * !!bool, !!null, !!map, !!seq), .inf and .nan (JSON has no such numbers),
 * an alias to an unknown anchor. Aliases are expanded (copies), bounded:
 * at most SG_YAML_MAX_ALIAS_NODES nodes copied per stream, so an alias
 * bomb ("billion laughs") fails after a few kilobytes of work. Nesting
 * deeper than SG_YAML_MAX_DEPTH and more than SG_YAML_MAX_NODES nodes in
 * one document are refused too.
 */
#ifndef SG_YAML_H
#define SG_YAML_H

#include <stddef.h>

#include <cjson/cJSON.h>

#define SG_YAML_MAX_DEPTH	64
#define SG_YAML_MAX_NODES	(1u << 20)
#define SG_YAML_MAX_ALIAS_NODES 100000u
/* The kubeconfig's size limit; a stream's is the caller's (check reads whole files). */
#define SG_YAML_KUBECONFIG_MAX (4u << 20)

/*
 * Parses text (len bytes) as one YAML document, every scalar a string.
 * Returns a new tree (free with cJSON_Delete) or NULL with *cause, a new
 * string the caller frees.
 */
cJSON *sg_yaml_parse(const char *text, size_t len, char **cause);

/* One document of a stream. */
struct sg_yaml_doc {
	cJSON *tree; /* NULL for an empty document ("---" with nothing after it) */
	int line;    /* 1-based line where the document's content starts */
};

/*
 * Parses a stream of documents with typed scalars (see above). On success
 * returns 0 with *docs (free with sg_yaml_docs_free) and *ndocs. On error
 * returns -1 with *cause ("line L, column C: what", a new string) and,
 * when err_line is not NULL, the 1-based line and column in err_line[0]
 * and err_line[1] (0 when unknown); nothing to free then.
 */
int sg_yaml_parse_stream(const char *text, size_t len, struct sg_yaml_doc **docs, size_t *ndocs,
			 int err_line[2], char **cause);

void sg_yaml_docs_free(struct sg_yaml_doc *docs, size_t ndocs);

/* Receives one document of a stream: tree (NULL when empty) is the callee's to free. */
typedef void (*sg_yaml_doc_fn)(void *arg, cJSON *tree, int line);

/*
 * sg_yaml_parse_stream without holding the whole stream: each document
 * goes to fn as soon as it is read, so memory is that of the largest
 * document. The documents before an error are delivered; then -1 with
 * *cause and err_line as above.
 */
int sg_yaml_each_document(const char *text, size_t len, sg_yaml_doc_fn fn, void *arg,
			  int err_line[2], char **cause);

/*
 * A configuration file's text as a tree: JSON when its first non-blank
 * character is '{' (parsed by sg_json_parse, exactly as before YAML was
 * accepted), else one YAML document with typed scalars. NULL with *cause
 * on error.
 */
cJSON *sg_config_parse(const char *text, size_t len, char **cause);

#endif
