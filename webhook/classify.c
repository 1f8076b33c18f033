#include "classify.h"

#include <string.h>

#include "policy.h"
#include "sg_json.h"

enum wh_kind wh_kind_of(const char *group, const char *kind)
{
	if (strcmp(group, "") == 0 && strcmp(kind, "Pod") == 0)
		return WH_KIND_POD;
	if (strcmp(group, AS_GROUP) == 0 && strcmp(kind, "Sandbox") == 0)
		return WH_KIND_SANDBOX;
	if (strcmp(group, AS_EXT_GROUP) == 0 && strcmp(kind, "SandboxTemplate") == 0)
		return WH_KIND_TEMPLATE;
	if (strcmp(group, AS_EXT_GROUP) == 0 && strcmp(kind, "SandboxClaim") == 0)
		return WH_KIND_CLAIM;
	if (strcmp(group, "networking.k8s.io") == 0 && strcmp(kind, "NetworkPolicy") == 0)
		return WH_KIND_NETPOL;
	return WH_KIND_OTHER;
}

const char *wh_kind_name(enum wh_kind k)
{
	static const char *const names[] = {"other",	       "Pod",	       "Sandbox",
					    "SandboxTemplate", "SandboxClaim", "NetworkPolicy"};

	return names[k];
}

const cJSON *wh_labels(const cJSON *obj)
{
	return sg_json_obj(sg_json_get(obj, "metadata"), "labels");
}

/* "agents.x-k8s.io/v1beta1" has group "agents.x-k8s.io". */
static bool group_is(const char *api_version, const char *group)
{
	size_t n = strlen(group);

	return strncmp(api_version, group, n) == 0 && api_version[n] == '/';
}

bool wh_is_sandbox_pod(const cJSON *pod)
{
	const cJSON *labels, *refs, *ref;

	if (!cJSON_IsObject(pod))
		return false;
	labels = wh_labels(pod);
	if (sg_json_get(labels, SG_AS_LABEL_NAME_HASH) || sg_json_get(labels, SG_LABEL_PROFILE))
		return true;
	if (sg_json_str(labels, SG_AS_LABEL_ADOPTABLE) &&
	    strcmp(sg_json_str(labels, SG_AS_LABEL_ADOPTABLE), "true") == 0)
		return true;
	refs = sg_json_arr(sg_json_get(pod, "metadata"), "ownerReferences");
	cJSON_ArrayForEach(ref, refs)
	{
		const char *av = sg_json_str(ref, "apiVersion");
		const char *kind = sg_json_str(ref, "kind");

		if (sg_json_true(ref, "controller") && av && kind && group_is(av, AS_GROUP) &&
		    strcmp(kind, "Sandbox") == 0)
			return true;
	}
	return false;
}
