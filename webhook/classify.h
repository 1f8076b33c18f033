/*
 * classify: what an admission request is about.
 *
 * A Sandbox pod is recognised as AGENT-SANDBOX pods are created: the
 * agent-sandbox controller labels every pod it makes with
 * agents.x-k8s.io/sandbox-name-hash and gives it a controller
 * ownerReference to its Sandbox (group agents.x-k8s.io; the version varies,
 * so only group and kind are compared). A pod that carries our own profile
 * label is treated as a Sandbox pod too: once stamped, a pod cannot shed
 * its protection by losing the other two marks first. So is a pod labelled
 * agents.x-k8s.io/adoptable=true: the controller adopts such an unowned pod
 * into a Sandbox of the same name (an ownerReference and the name-hash
 * label, in one patch), so it must be hardened from its creation.
 */
#ifndef WH_CLASSIFY_H
#define WH_CLASSIFY_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "sg_labels.h"

#define AS_GROUP     "agents.x-k8s.io"
#define AS_EXT_GROUP "extensions.agents.x-k8s.io"

enum wh_kind {
	WH_KIND_OTHER = 0,
	WH_KIND_POD,
	WH_KIND_SANDBOX,
	WH_KIND_TEMPLATE,
	WH_KIND_CLAIM,
	WH_KIND_NETPOL,
};

/* Maps request.kind's group and kind to what we handle. */
enum wh_kind wh_kind_of(const char *group, const char *kind);

/* A bounded name for metrics ("Pod", ..., "other"). */
const char *wh_kind_name(enum wh_kind k);

/* True if obj (a Pod) is a Sandbox pod. NULL is false. */
bool wh_is_sandbox_pod(const cJSON *pod);

/* metadata.labels of obj, or NULL. */
const cJSON *wh_labels(const cJSON *obj);

#endif
