#include "policy.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ipset.h"
#include "sg_buf.h"
#include "sg_json.h"
#include "sg_schema.h"
#include "sg_yaml.h"

/* Ingress only from agent-sandbox's router. */
#define SANDBOX_ROUTER_RULE                                                                        \
	"{\"from\": [{\"namespaceSelector\": {\"matchLabels\": {\"kubernetes.io/metadata.name\": " \
	"\"agent-sandbox-system\"}}, \"podSelector\": {\"matchLabels\": {\"app\": "                \
	"\"sandbox-router\"}}}]}"

/*
 * Egress only to public addresses: never "this network", RFC 1918, carrier-
 * grade NAT, loopback or link-local (so never 169.254.169.254), and on IPv6
 * never the prefixes that embed IPv4 addresses and so lead back into IPv4
 * space (IPv4-compatible ::/96, which holds loopback ::1 too; IPv4-translated;
 * NAT64; Teredo; 6to4), unique-local or link-local. IPv4-mapped addresses (::ffff:0:0/96)
 * are not listed: the API server refuses them in a NetworkPolicy ("must not
 * have an IPv4-mapped IPv6 address"), and a socket that connects to one
 * sends IPv4, which the IPv4 list above already covers.
 */
#define PUBLIC_ONLY_RULE                                                                           \
	"{\"to\": [{\"ipBlock\": {\"cidr\": \"0.0.0.0/0\", \"except\": [\"0.0.0.0/8\", "           \
	"\"10.0.0.0/8\", \"100.64.0.0/10\", \"127.0.0.0/8\", \"169.254.0.0/16\", "                 \
	"\"172.16.0.0/12\", \"192.168.0.0/16\"]}}, {\"ipBlock\": {\"cidr\": \"::/0\", "            \
	"\"except\": [\"::/96\", \"::ffff:0:0:0/96\", \"64:ff9b::/96\", \"64:ff9b:1::/48\", "      \
	"\"2001::/32\", \"2002::/16\", \"fc00::/7\", \"fe80::/10\"]}}]}"

/*
 * RuntimeClass handlers that are sandboxes: gVisor's runsc (and "gvisor",
 * the handler of GKE Sandbox's class), "kata" (a plain containerd runtime
 * entry, and AKS pod sandboxing), and the kata-<hypervisor> handlers that
 * kata-deploy configures and names its RuntimeClasses after.
 */
#define WH_DEFAULT_HANDLERS                                                                        \
	"\"runsc\", \"gvisor\", \"kata\", \"kata-qemu\", \"kata-clh\",\n"                          \
	"                        \"kata-cloud-hypervisor\", \"kata-fc\", \"kata-dragonball\",\n"   \
	"                        \"kata-stratovirt\", \"kata-qemu-tdx\", \"kata-qemu-snp\",\n"     \
	"                        \"kata-qemu-sev\", \"kata-qemu-se\", \"kata-qemu-coco-dev\",\n"   \
	"                        \"kata-qemu-nvidia-gpu\", \"kata-remote\""

/*
 * The built-in default: gVisor by default, Kata variants allowed, every
 * hardening default on, enforce, network envelope and profile "default"
 * as above. A policy file starts from these values: a field it leaves out
 * keeps its default.
 */
const char wh_default_policy_json[] =
	"{\n"
	"  \"mode\": \"enforce\",\n"
	"  \"mutate\": true,\n"
	"  \"runtimeClass\": {\n"
	"    \"default\": [\"gvisor\", \"kata\", \"kata-qemu\", \"kata-clh\", \"kata-fc\",\n"
	"                \"kata-vm-isolation\"],\n"
	"    \"allowed\": [\"gvisor\", \"kata\", \"kata-qemu\", \"kata-clh\", \"kata-fc\",\n"
	"                \"kata-vm-isolation\"],\n"
	"    \"scheduling\": {},\n"
	"    \"allowedHandlers\": [" WH_DEFAULT_HANDLERS "]\n"
	"  },\n"
	"  \"hardening\": {\n"
	"    \"disableServiceAccountToken\": true,\n"
	"    \"disableServiceLinks\": true,\n"
	"    \"seccompRuntimeDefault\": true,\n"
	"    \"disallowPrivilegeEscalation\": true,\n"
	"    \"dropAllCapabilities\": true,\n"
	"    \"runAsNonRoot\": false,\n"
	"    \"readOnlyRootFilesystem\": false,\n"
	"    \"userNamespaces\": false\n"
	"  },\n"
	"  \"allowedVolumeTypes\": [\"configMap\", \"csi\", \"downwardAPI\", \"emptyDir\", "
	"\"ephemeral\",\n"
	"                         \"persistentVolumeClaim\", \"projected\", \"secret\", "
	"\"image\"],\n"
	"  \"schedulerName\": \"\",\n"
	"  \"network\": {\n"
	"    \"defaultProfile\": \"default\",\n"
	"    \"allowedProfiles\": [\"default\"],\n"
	"    \"clusterDNS\": {\n"
	"      \"namespaceSelector\": {\"matchLabels\": {\"kubernetes.io/metadata.name\": "
	"\"kube-system\"}},\n"
	"      \"podSelector\": {\"matchLabels\": {\"k8s-app\": \"kube-dns\"}},\n"
	"      \"ports\": [{\"protocol\": \"UDP\", \"port\": 53}, {\"protocol\": \"TCP\", "
	"\"port\": 53}]\n"
	"    },\n"
	"    \"envelope\": {\n"
	"      \"ingress\": [" SANDBOX_ROUTER_RULE "],\n"
	"      \"egress\": [" PUBLIC_ONLY_RULE "],\n"
	"      \"dns\": true,\n"
	"      \"allowUnmanagedTemplates\": false\n"
	"    },\n"
	"    \"profiles\": {\n"
	"      \"default\": {\n"
	"        \"ingress\": [" SANDBOX_ROUTER_RULE "],\n"
	"        \"egress\": [" PUBLIC_ONLY_RULE "],\n"
	"        \"dns\": true\n"
	"      }\n"
	"    }\n"
	"  },\n"
	"  \"exemptions\": {\"namespaces\": [], \"users\": [], \"groups\": []},\n"
	"  \"resources\": {\n"
	"    \"limits\": {\n"
	"      \"cpu\": {\"default\": \"\", \"required\": false},\n"
	"      \"memory\": {\"default\": \"2Gi\", \"required\": true},\n"
	"      \"ephemeral-storage\": {\"default\": \"4Gi\", \"required\": true}\n"
	"    },\n"
	"    \"emptyDirSizeLimit\": {\"default\": \"2Gi\", \"required\": true}\n"
	"  },\n"
	"  \"agentSandbox\": {\n"
	"    \"controllerUsers\": [\"" WH_DEFAULT_CONTROLLER_USER "\"]\n"
	"  },\n"
	"  \"namespaces\": {}\n"
	"}\n";

const char *const wh_resource_names[WH_RES_COUNT] = {"cpu", "memory", "ephemeral-storage"};

struct ns_rules {
	const char *name;
	struct wh_rules rules;
};

struct wh_policy {
	cJSON *defaults; /* the built-in default's tree */
	cJSON *root;	 /* the file's tree */
	char *origin;
	struct wh_rules global;
	struct ns_rules *ns; /* sorted by name */
	size_t nns;
	const cJSON *exempt_ns;
	const cJSON *exempt_users;
	const cJSON *exempt_groups;
	const cJSON *controller_users;
	struct wh_scheduling *sched;
	size_t nsched;
	struct wh_profile *profiles;
	size_t nprofiles;
	struct wh_dns dns;
};

bool wh_in_list(const cJSON *arr, const char *s)
{
	return s && sg_json_arr_has_str(arr, s);
}

void wh_list_text(const cJSON *arr, char *out, size_t outlen)
{
	const cJSON *it;
	size_t n = 0;

	if (outlen == 0)
		return;
	out[0] = '\0';
	cJSON_ArrayForEach(it, arr)
	{
		int w;

		if (!cJSON_IsString(it))
			continue;
		w = snprintf(out + n, outlen - n, "%s%s", n ? ", " : "", it->valuestring);
		if (w < 0 || (size_t)w >= outlen - n)
			return;
		n += (size_t)w;
	}
}

/* Label values: at most 63 of [A-Za-z0-9-_.], alphanumeric at both ends. */
/*
 * The ipBlocks of a peer the reconciler will apply must pass the API
 * server's strict validation, or every apply of the profile fails and its
 * sandbox pods stay without their policy: each CIDR canonical
 * (wh_cidr_strict_problem) and each except a strict subset of its cidr.
 * Excepts wholly inside ::ffff:0:0/96 are exempt: the reconciler leaves
 * them out of what it applies.
 */
static int strict_ipblock(const cJSON *peer, const char *where, char **cause)
{
	const cJSON *ip = sg_json_obj(peer, "ipBlock"), *e;
	const char *cidr = sg_json_str(ip, "cidr"), *why;
	struct wh_iprange r, x;

	if (!ip || !cidr)
		return 0;
	if ((why = wh_cidr_strict_problem(cidr)))
		return sg_schema_fail(cause,
				      "%s.ipBlock.cidr '%.64s' %s, which the API server refuses "
				      "(write the network address, e.g. 10.0.0.0/8)",
				      where, cidr, why);
	cJSON_ArrayForEach(e, sg_json_arr(ip, "except"))
	{
		if (!cJSON_IsString(e) || wh_cidr_ipv4_mapped(e->valuestring))
			continue;
		if ((why = wh_cidr_strict_problem(e->valuestring)))
			return sg_schema_fail(cause,
					      "%s.ipBlock.except '%.64s' %s, which the API server "
					      "refuses",
					      where, e->valuestring, why);
		if (wh_cidr_parse(cidr, &r) == 0 && wh_cidr_parse(e->valuestring, &x) == 0 &&
		    x.lo == r.lo && x.hi == r.hi)
			return sg_schema_fail(
				cause,
				"%s.ipBlock.except '%.64s' is the whole cidr; the API "
				"server requires a strict subset",
				where, e->valuestring);
	}
	return 0;
}

/* strict_ipblock for every peer of a profile's ingress and egress rules. */
static int strict_profile_cidrs(const cJSON *profile, const char *where, char **cause)
{
	static const char *const dirs[][2] = {{"ingress", "from"}, {"egress", "to"}};
	const cJSON *rule, *peer;
	char w[512];
	int i, j;

	for (i = 0; i < 2; i++) {
		j = 0;
		cJSON_ArrayForEach(rule, sg_json_arr(profile, dirs[i][0]))
		{
			int k = 0;

			cJSON_ArrayForEach(peer, sg_json_arr(rule, dirs[i][1]))
			{
				snprintf(w, sizeof(w), "%.300s.%s[%d].%s[%d]", where, dirs[i][0], j,
					 dirs[i][1], k++);
				if (strict_ipblock(peer, w, cause))
					return -EINVAL;
			}
			j++;
		}
	}
	return 0;
}

static bool valid_label_value(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 63 || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("-_.", s[i]))
			return false;
	return true;
}

/* DNS-1123 subdomain (RuntimeClass, scheduler names): lowercase, digits, '-', '.'. */
static bool valid_dns_subdomain(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 253 || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '-' ||
		      s[i] == '.'))
			return false;
	return true;
}

/*
 * runtimeClass.default: one name (as before the list existed), or an
 * ordered list of names, the first that exists in the cluster winning.
 * "" and [] both switch defaulting off.
 */
static int get_runtime_prefs(const cJSON *rc, const char *where, struct wh_rules *r, char **cause)
{
	const cJSON *it = sg_json_get(rc, "default"), *e;

	if (!it)
		return 0;
	r->nruntime_prefs = 0;
	r->runtime_default = NULL;
	if (cJSON_IsString(it)) {
		if (it->valuestring[0])
			r->runtime_prefs[r->nruntime_prefs++] = it->valuestring;
	} else if (cJSON_IsArray(it)) {
		cJSON_ArrayForEach(e, it)
		{
			if (!cJSON_IsString(e) || e->valuestring[0] == '\0')
				return sg_schema_fail(cause,
						      "%s.default must hold only non-empty strings",
						      where);
			if (r->nruntime_prefs == WH_RUNTIME_PREFS_MAX)
				return sg_schema_fail(cause,
						      "%s.default names more than %d classes",
						      where, WH_RUNTIME_PREFS_MAX);
			for (size_t i = 0; i < r->nruntime_prefs; i++)
				if (strcmp(r->runtime_prefs[i], e->valuestring) == 0)
					return sg_schema_fail(cause, "%s.default names '%s' twice",
							      where, e->valuestring);
			r->runtime_prefs[r->nruntime_prefs++] = e->valuestring;
		}
	} else {
		return sg_schema_fail(cause,
				      "%s.default must be a RuntimeClass name or a list of them, "
				      "in order of preference",
				      where);
	}
	if (r->nruntime_prefs)
		r->runtime_default = r->runtime_prefs[0];
	return 0;
}

/* RuntimeClass handlers are DNS-1123 labels: at most 63 of [a-z0-9-], alphanumeric ends. */
static bool valid_dns_label(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= 63 && isalnum((unsigned char)s[0]) &&
	       isalnum((unsigned char)s[n - 1]) &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

static int parse_mode(const cJSON *obj, const char *where, enum wh_mode *mode, char **cause)
{
	const char *s = NULL;

	if (sg_schema_str(obj, "mode", where, &s, cause))
		return -EINVAL;
	if (!s)
		return 0;
	if (strcmp(s, "enforce") == 0)
		*mode = WH_ENFORCE;
	else if (strcmp(s, "warn") == 0)
		*mode = WH_WARN;
	else if (strcmp(s, "audit") == 0)
		*mode = WH_AUDIT;
	else
		return sg_schema_fail(cause, "%s.mode is '%s'; use enforce, warn or audit", where,
				      s);
	return 0;
}

static int parse_scheduling(struct wh_policy *p, const cJSON *sched, const char *where,
			    char **cause)
{
	static const char *const keys[] = {"nodeSelector", "tolerations", NULL};
	static const char *const tkeys[] = {"key",    "operator",	   "value",
					    "effect", "tolerationSeconds", NULL};
	const cJSON *rt, *it, *t;
	char w[512];

	if (!cJSON_IsObject(sched))
		return sg_schema_fail(cause, "%s must be an object", where);
	p->nsched = (size_t)sg_json_count(sched);
	p->sched = calloc(p->nsched ? p->nsched : 1, sizeof(*p->sched));
	if (!p->sched)
		return sg_schema_oom(cause);
	p->nsched = 0;
	cJSON_ArrayForEach(rt, sched)
	{
		struct wh_scheduling *s = &p->sched[p->nsched++];

		snprintf(w, sizeof(w), "%.200s.%.200s", where, rt->string);
		if (sg_schema_only_keys(rt, w, keys, cause))
			return -EINVAL;
		s->runtime = rt->string;
		it = sg_json_get(rt, "nodeSelector");
		if (it) {
			if (!cJSON_IsObject(it))
				return sg_schema_fail(
					cause, "%s.nodeSelector must be an object of strings", w);
			cJSON_ArrayForEach(t, it)
			{
				if (!cJSON_IsString(t))
					return sg_schema_fail(cause,
							      "%s.nodeSelector.%s must be a string",
							      w, t->string);
			}
			s->node_selector = it;
		}
		it = sg_json_get(rt, "tolerations");
		if (it) {
			if (!cJSON_IsArray(it))
				return sg_schema_fail(cause, "%s.tolerations must be an array", w);
			cJSON_ArrayForEach(t, it)
			{
				const cJSON *f;

				if (sg_schema_only_keys(t, "a toleration", tkeys, cause))
					return -EINVAL;
				cJSON_ArrayForEach(f, t)
				{
					bool num = strcmp(f->string, "tolerationSeconds") == 0;

					if (num ? !cJSON_IsNumber(f) : !cJSON_IsString(f))
						return sg_schema_fail(
							cause, "%s.tolerations: %s must be a %s", w,
							f->string, num ? "number" : "string");
				}
			}
			s->tolerations = it;
		}
	}
	return 0;
}

/* network.profiles and network.clusterDNS (top level only); each replaces the default whole. */
static int parse_network_top(struct wh_policy *p, const cJSON *net, const char *where, char **cause)
{
	static const char *const dns_keys[] = {"namespaceSelector", "podSelector", "ports", NULL};
	const cJSON *profiles = sg_json_get(net, "profiles"), *dns = sg_json_get(net, "clusterDNS");
	const cJSON *it;
	char w[512];

	if (profiles) {
		if (!cJSON_IsObject(profiles) || sg_json_count(profiles) == 0)
			return sg_schema_fail(
				cause, "%s.network.profiles must name at least one profile", where);
		free(p->profiles);
		p->nprofiles = 0;
		p->profiles = calloc((size_t)sg_json_count(profiles), sizeof(*p->profiles));
		if (!p->profiles)
			return sg_schema_oom(cause);
		cJSON_ArrayForEach(it, profiles)
		{
			struct wh_profile *pr = &p->profiles[p->nprofiles];

			snprintf(w, sizeof(w), "%.200s.network.profiles.%.200s", where, it->string);
			if (!valid_label_value(it->string))
				return sg_schema_fail(
					cause, "%s: a profile name must be a valid label value", w);
			pr->name = it->string;
			if (sg_json_get(it, "allowUnmanagedTemplates"))
				return sg_schema_fail(
					cause, "unknown field 'allowUnmanagedTemplates' in %s", w);
			if (wh_netrules_parse(it, w, &pr->rules, cause) ||
			    strict_profile_cidrs(it, w, cause))
				return -EINVAL;
			p->nprofiles++;
		}
	}
	if (dns) {
		snprintf(w, sizeof(w), "%s.network.clusterDNS", where);
		if (sg_schema_only_keys(dns, w, dns_keys, cause) ||
		    wh_netpeer_check(dns, w, cause) || strict_ipblock(dns, w, cause) ||
		    wh_netports_check(sg_json_get(dns, "ports"), w, cause))
			return -EINVAL;
		cJSON_Delete(p->dns.peer);
		cJSON_Delete(p->dns.ports);
		p->dns.peer = cJSON_Duplicate(dns, true);
		cJSON_DeleteItemFromObjectCaseSensitive(p->dns.peer, "ports");
		p->dns.ports = cJSON_Duplicate(sg_json_get(dns, "ports"), true);
		if (!p->dns.peer)
			return sg_schema_oom(cause);
		if (!p->dns.ports)
			p->dns.ports = cJSON_CreateArray();
	}
	return 0;
}

/* One limit ({"default": "2Gi", "required": true}); the fields present replace those in l. */
static int parse_limit(const cJSON *obj, const char *where, struct wh_limit *l, char **cause)
{
	static const char *const keys[] = {"default", "required", NULL};
	const char *d = NULL;
	struct wh_quantity q = {0};
	int rc;

	if (sg_schema_only_keys(obj, where, keys, cause) ||
	    sg_schema_str(obj, "default", where, &d, cause) ||
	    sg_schema_bool(obj, "required", where, &l->required, cause))
		return -EINVAL;
	if (!d)
		return 0;
	if (d[0]) {
		/* A bad quantity would make every defaulted pod invalid: refuse it here. */
		rc = wh_quantity_parse(d, &q);
		if (rc == -ERANGE)
			return sg_schema_fail(cause, "%s.default '%.64s' is too large", where, d);
		if (rc)
			return sg_schema_fail(
				cause,
				"%s.default '%.64s' is not a Kubernetes quantity (such as "
				"512Mi, 2Gi or 500m)",
				where, d);
		if (q.negative || q.nano == 0)
			return sg_schema_fail(
				cause,
				"%s.default '%s' must be more than zero (use \"\" for no "
				"default)",
				where, d);
	}
	l->dflt = d[0] ? d : NULL;
	l->value = q;
	return 0;
}

/* resources: per-container limits and the emptyDir sizeLimit. */
static int parse_resources(const cJSON *res, const char *where, struct wh_rules *r, char **cause)
{
	static const char *const keys[] = {"limits", "emptyDirSizeLimit", NULL};
	const cJSON *limits = sg_json_get(res, "limits"),
		    *ed = sg_json_get(res, "emptyDirSizeLimit");
	char w[512];

	if (sg_schema_only_keys(res, where, keys, cause))
		return -EINVAL;
	if (limits) {
		const char *names[WH_RES_COUNT + 1];

		for (int i = 0; i < WH_RES_COUNT; i++)
			names[i] = wh_resource_names[i];
		names[WH_RES_COUNT] = NULL;
		snprintf(w, sizeof(w), "%.400s.limits", where);
		if (sg_schema_only_keys(limits, w, names, cause))
			return -EINVAL;
		for (int i = 0; i < WH_RES_COUNT; i++) {
			const cJSON *l = sg_json_get(limits, wh_resource_names[i]);

			snprintf(w, sizeof(w), "%.400s.limits.%s", where, wh_resource_names[i]);
			if (l && parse_limit(l, w, &r->limits[i], cause))
				return -EINVAL;
		}
	}
	snprintf(w, sizeof(w), "%.400s.emptyDirSizeLimit", where);
	if (ed && parse_limit(ed, w, &r->empty_dir, cause))
		return -EINVAL;
	return 0;
}

/*
 * Applies the fields present in obj onto r. top allows the fields that
 * exist only at the top level.
 */
static int parse_rules(struct wh_policy *p, const cJSON *obj, const char *where, struct wh_rules *r,
		       bool top, char **cause)
{
	static const char *const top_keys[] = {
		"mode",		 "mutate",  "runtimeClass", "hardening",  "allowedVolumeTypes",
		"schedulerName", "network", "exemptions",   "namespaces", "agentSandbox",
		"resources",	 NULL};
	static const char *const ns_keys[] = {
		"mode",		 "mutate",  "runtimeClass", "hardening", "allowedVolumeTypes",
		"schedulerName", "network", "resources",    NULL};
	static const char *const rc_top[] = {"default", "allowed", "scheduling", "allowedHandlers",
					     NULL};
	static const char *const rc_ns[] = {"default", "allowed", "allowedHandlers", NULL};
	static const char *const hard_keys[] = {
		"disableServiceAccountToken",  "disableServiceLinks", "seccompRuntimeDefault",
		"disallowPrivilegeEscalation", "dropAllCapabilities", "runAsNonRoot",
		"readOnlyRootFilesystem",      "userNamespaces",      NULL};
	static const char *const net_top[] = {
		"defaultProfile", "allowedProfiles", "policyScope", "envelope",
		"profiles",	  "clusterDNS",	     NULL};
	static const char *const net_ns[] = {"defaultProfile", "allowedProfiles", "policyScope",
					     "envelope", NULL};
	const cJSON *rc, *h, *net;
	char w[512];

	if (sg_schema_only_keys(obj, where, top ? top_keys : ns_keys, cause) ||
	    parse_mode(obj, where, &r->mode, cause) ||
	    sg_schema_bool(obj, "mutate", where, &r->mutate, cause) ||
	    sg_schema_str_list(obj, "allowedVolumeTypes", where, &r->volume_types, cause) ||
	    sg_schema_str(obj, "schedulerName", where, &r->scheduler_name, cause))
		return -EINVAL;

	rc = sg_json_get(obj, "runtimeClass");
	if (rc) {
		snprintf(w, sizeof(w), "%s.runtimeClass", where);
		if (sg_schema_only_keys(rc, w, top ? rc_top : rc_ns, cause) ||
		    get_runtime_prefs(rc, w, r, cause) ||
		    sg_schema_str_list(rc, "allowed", w, &r->runtime_allowed, cause) ||
		    sg_schema_str_list(rc, "allowedHandlers", w, &r->runtime_handlers, cause))
			return -EINVAL;
		if (top && sg_json_get(rc, "scheduling")) {
			snprintf(w, sizeof(w), "%s.runtimeClass.scheduling", where);
			free(p->sched);
			p->sched = NULL;
			if (parse_scheduling(p, sg_json_get(rc, "scheduling"), w, cause))
				return -EINVAL;
		}
	}
	h = sg_json_get(obj, "hardening");
	if (h) {
		snprintf(w, sizeof(w), "%s.hardening", where);
		if (sg_schema_only_keys(h, w, hard_keys, cause) ||
		    sg_schema_bool(h, "disableServiceAccountToken", w, &r->no_token, cause) ||
		    sg_schema_bool(h, "disableServiceLinks", w, &r->no_service_links, cause) ||
		    sg_schema_bool(h, "seccompRuntimeDefault", w, &r->seccomp, cause) ||
		    sg_schema_bool(h, "disallowPrivilegeEscalation", w, &r->no_privilege_escalation,
				   cause) ||
		    sg_schema_bool(h, "dropAllCapabilities", w, &r->drop_all, cause) ||
		    sg_schema_bool(h, "runAsNonRoot", w, &r->run_as_non_root, cause) ||
		    sg_schema_bool(h, "readOnlyRootFilesystem", w, &r->read_only_root, cause) ||
		    sg_schema_bool(h, "userNamespaces", w, &r->user_namespaces, cause))
			return -EINVAL;
	}
	if (sg_json_get(obj, "resources")) {
		snprintf(w, sizeof(w), "%s.resources", where);
		if (parse_resources(sg_json_get(obj, "resources"), w, r, cause))
			return -EINVAL;
	}
	net = sg_json_get(obj, "network");
	if (net) {
		snprintf(w, sizeof(w), "%s.network", where);
		if (sg_schema_only_keys(net, w, top ? net_top : net_ns, cause) ||
		    sg_schema_str(net, "defaultProfile", w, &r->default_profile, cause) ||
		    sg_schema_str_list(net, "allowedProfiles", w, &r->allowed_profiles, cause))
			return -EINVAL;
		if (sg_json_get(net, "envelope")) {
			const cJSON *env = sg_json_get(net, "envelope"), *au;

			snprintf(w, sizeof(w), "%s.network.envelope", where);
			if (wh_netrules_parse(env, w, &r->envelope, cause))
				return -EINVAL;
			au = sg_json_get(env, "allowUnmanagedTemplates");
			if (au && !cJSON_IsBool(au))
				return sg_schema_fail(
					cause, "%s.allowUnmanagedTemplates must be true or false",
					w);
			r->allow_unmanaged = cJSON_IsTrue(au);
		}
		if (sg_json_get(net, "policyScope")) {
			const cJSON *ps = sg_json_get(net, "policyScope");

			if (!cJSON_IsString(ps) ||
			    (strcmp(ps->valuestring, "sandbox-selectors") != 0 &&
			     strcmp(ps->valuestring, "every-policy") != 0))
				return sg_schema_fail(
					cause,
					"%s.policyScope must be \"sandbox-selectors\" or "
					"\"every-policy\"",
					w);
			r->every_policy = strcmp(ps->valuestring, "every-policy") == 0;
		}
		if (top && parse_network_top(p, net, where, cause))
			return -EINVAL;
	}
	return 0;
}

static const struct wh_profile *find_profile(const struct wh_policy *p, const char *name)
{
	for (size_t i = 0; i < p->nprofiles; i++)
		if (strcmp(p->profiles[i].name, name) == 0)
			return &p->profiles[i];
	return NULL;
}

/* Checks that merged rules make sense together. */
static int check_rules(const struct wh_policy *p, const struct wh_rules *r, const char *where,
		       char **cause)
{
	const cJSON *it;
	char list[512];

	if (sg_json_count(r->runtime_allowed) == 0)
		return sg_schema_fail(
			cause, "%s: runtimeClass.allowed must name at least one RuntimeClass",
			where);
	cJSON_ArrayForEach(it, r->runtime_allowed)
	{
		if (!valid_dns_subdomain(it->valuestring))
			return sg_schema_fail(
				cause,
				"%s: runtimeClass.allowed: '%s' is not a valid RuntimeClass name",
				where, it->valuestring);
	}
	for (size_t i = 0; i < r->nruntime_prefs; i++) {
		if (wh_in_list(r->runtime_allowed, r->runtime_prefs[i]))
			continue;
		wh_list_text(r->runtime_allowed, list, sizeof(list));
		return sg_schema_fail(
			cause, "%s: runtimeClass.default '%s' is not in runtimeClass.allowed (%s)",
			where, r->runtime_prefs[i], list);
	}
	if (sg_json_count(r->runtime_handlers) == 0)
		return sg_schema_fail(
			cause, "%s: runtimeClass.allowedHandlers must name at least one handler",
			where);
	cJSON_ArrayForEach(it, r->runtime_handlers)
	{
		if (!valid_dns_label(it->valuestring))
			return sg_schema_fail(
				cause,
				"%s: runtimeClass.allowedHandlers: '%s' is not a valid "
				"RuntimeClass handler (a DNS label)",
				where, it->valuestring);
	}
	if (r->scheduler_name && r->scheduler_name[0] && !valid_dns_subdomain(r->scheduler_name))
		return sg_schema_fail(cause, "%s: schedulerName '%s' is not a valid scheduler name",
				      where, r->scheduler_name);
	if (!r->default_profile || !valid_label_value(r->default_profile))
		return sg_schema_fail(
			cause, "%s: network.defaultProfile must be a valid label value", where);
	cJSON_ArrayForEach(it, r->allowed_profiles)
	{
		if (!valid_label_value(it->valuestring))
			return sg_schema_fail(
				cause,
				"%s: network.allowedProfiles: '%s' is not a valid label value",
				where, it->valuestring);
	}
	if (!wh_in_list(r->allowed_profiles, r->default_profile)) {
		wh_list_text(r->allowed_profiles, list, sizeof(list));
		return sg_schema_fail(
			cause,
			"%s: network.defaultProfile '%s' is not in network.allowedProfiles (%s)",
			where, r->default_profile, list);
	}
	/* Every profile a pod here may carry exists and stays inside this envelope. */
	cJSON_ArrayForEach(it, r->allowed_profiles)
	{
		const struct wh_profile *pr = find_profile(p, it->valuestring);
		char *why = NULL;

		if (!pr)
			return sg_schema_fail(
				cause,
				"%s: network profile '%s' is not defined in network.profiles",
				where, it->valuestring);
		if (!wh_netrules_within(&pr->rules, &r->envelope, &p->dns, &why)) {
			sg_failf(cause, "%s: network profile '%s' goes beyond the envelope: %s",
				 where, it->valuestring, why);
			free(why);
			return -EINVAL;
		}
	}
	return 0;
}

/* Empty strings switch a default off; store them as NULL so users of the rules test one thing. */
static void normalise(struct wh_rules *r)
{
	if (r->runtime_default && !r->runtime_default[0])
		r->runtime_default = NULL;
	if (r->scheduler_name && !r->scheduler_name[0])
		r->scheduler_name = NULL;
}

static int cmp_ns(const void *a, const void *b)
{
	return strcmp(((const struct ns_rules *)a)->name, ((const struct ns_rules *)b)->name);
}

static int parse_top(struct wh_policy *p, const cJSON *root, const char *where, char **cause)
{
	static const char *const ex_keys[] = {"namespaces", "users", "groups", NULL};
	static const char *const as_keys[] = {"controllerUsers", NULL};
	const cJSON *ex, *as, *nss, *it;
	char w[512];

	if (parse_rules(p, root, where, &p->global, true, cause))
		return -EINVAL;
	ex = sg_json_get(root, "exemptions");
	if (ex) {
		snprintf(w, sizeof(w), "%s.exemptions", where);
		if (sg_schema_only_keys(ex, w, ex_keys, cause) ||
		    sg_schema_str_list(ex, "namespaces", w, &p->exempt_ns, cause) ||
		    sg_schema_str_list(ex, "users", w, &p->exempt_users, cause) ||
		    sg_schema_str_list(ex, "groups", w, &p->exempt_groups, cause))
			return -EINVAL;
	}
	as = sg_json_get(root, "agentSandbox");
	if (as) {
		snprintf(w, sizeof(w), "%s.agentSandbox", where);
		if (sg_schema_only_keys(as, w, as_keys, cause) ||
		    sg_schema_str_list(as, "controllerUsers", w, &p->controller_users, cause))
			return -EINVAL;
	}
	nss = sg_json_get(root, "namespaces");
	if (nss && !cJSON_IsObject(nss))
		return sg_schema_fail(
			cause, "%s.namespaces must be an object keyed by namespace name", where);
	if (!nss || sg_json_count(nss) == 0 || root == p->defaults)
		return 0;
	free(p->ns);
	p->ns = calloc((size_t)sg_json_count(nss), sizeof(*p->ns));
	if (!p->ns)
		return sg_schema_oom(cause);
	p->nns = 0;
	cJSON_ArrayForEach(it, nss)
	{
		struct ns_rules *n = &p->ns[p->nns];

		if (!valid_dns_subdomain(it->string) || strlen(it->string) > 63 ||
		    strchr(it->string, '.'))
			return sg_schema_fail(cause,
					      "%s.namespaces: '%s' is not a valid namespace name",
					      where, it->string);
		for (size_t i = 0; i < p->nns; i++)
			if (strcmp(p->ns[i].name, it->string) == 0)
				return sg_schema_fail(cause, "%s.namespaces: '%s' appears twice",
						      where, it->string);
		snprintf(w, sizeof(w), "%s.namespaces.%s", where, it->string);
		n->name = it->string;
		n->rules = p->global; /* inherit, then override */
		if (parse_rules(p, it, w, &n->rules, false, cause))
			return -EINVAL;
		p->nns++;
	}
	return 0;
}

struct wh_policy *wh_policy_parse(const char *text, size_t len, const char *origin, char **cause)
{
	struct wh_policy *p = calloc(1, sizeof(*p));
	char *err = NULL;

	if (!p || !(p->origin = strdup(origin))) {
		free(p);
		*cause = strdup("out of memory");
		return NULL;
	}
	p->defaults = sg_json_parse(wh_default_policy_json, strlen(wh_default_policy_json), &err);
	if (!p->defaults) {
		sg_failf(cause, "built-in default policy: %s", err);
		goto out;
	}
	/* The built-in default sets every field, so every pointer below is filled. */
	if (parse_top(p, p->defaults, "built-in default", cause))
		goto out;
	p->root = sg_config_parse(text, len, &err); /* JSON or YAML */
	if (!p->root) {
		sg_failf(cause, "%s: %s", origin, err);
		goto out;
	}
	if (!cJSON_IsObject(p->root)) {
		sg_failf(cause, "%s: the policy must be a JSON object", origin);
		goto out;
	}
	if (parse_top(p, p->root, "policy", cause))
		goto prefix;
	normalise(&p->global);
	if (check_rules(p, &p->global, "policy", cause))
		goto prefix;
	for (size_t i = 0; i < p->nns; i++) {
		char w[512];

		normalise(&p->ns[i].rules);
		snprintf(w, sizeof(w), "policy.namespaces.%s", p->ns[i].name);
		if (check_rules(p, &p->ns[i].rules, w, cause))
			goto prefix;
	}
	if (p->nns)
		qsort(p->ns, p->nns, sizeof(*p->ns), cmp_ns);
	free(err);
	return p;
prefix:
	/* Say which file the problem is in. */
	{
		char *inner = *cause;

		sg_failf(cause, "%s: %s", origin, inner);
		free(inner);
	}
out:
	free(err);
	wh_policy_free(p);
	return NULL;
}

struct wh_policy *wh_policy_load(const char *path, char **cause)
{
	struct wh_policy *p;
	struct sg_buf b;
	int rc;

	sg_buf_init(&b, WH_POLICY_MAX_SIZE);
	if ((rc = sg_buf_read_file(&b, path)) != 0) {
		if (rc == -E2BIG)
			sg_failf(cause, "policy '%s' is larger than %u bytes", path,
				 WH_POLICY_MAX_SIZE);
		else
			sg_failf(cause, "cannot read policy '%s': %s", path, strerror(-rc));
		sg_buf_release(&b);
		return NULL;
	}
	p = wh_policy_parse(b.data ? b.data : "", b.len, path, cause);
	sg_buf_release(&b);
	return p;
}

void wh_policy_free(struct wh_policy *p)
{
	if (!p)
		return;
	cJSON_Delete(p->defaults);
	cJSON_Delete(p->root);
	free(p->ns);
	free(p->sched);
	free(p->profiles);
	cJSON_Delete(p->dns.peer);
	cJSON_Delete(p->dns.ports);
	free(p->origin);
	free(p);
}

const struct wh_profile *wh_policy_profile(const struct wh_policy *p, const char *name)
{
	return name ? find_profile(p, name) : NULL;
}

const struct wh_profile *wh_policy_profiles(const struct wh_policy *p, size_t *n)
{
	*n = p->nprofiles;
	return p->profiles;
}

const struct wh_dns *wh_policy_dns(const struct wh_policy *p)
{
	return &p->dns;
}

const struct wh_rules *wh_policy_rules(const struct wh_policy *p, const char *ns)
{
	struct ns_rules key = {.name = ns}, *hit;

	if (!ns || !ns[0] || p->nns == 0)
		return &p->global;
	hit = bsearch(&key, p->ns, p->nns, sizeof(*p->ns), cmp_ns);
	return hit ? &hit->rules : &p->global;
}

bool wh_policy_exempt(const struct wh_policy *p, const char *ns, const char *user,
		      const cJSON *groups)
{
	const cJSON *g;

	if (wh_in_list(p->exempt_ns, ns) || wh_in_list(p->exempt_users, user))
		return true;
	cJSON_ArrayForEach(g, groups)
	{
		if (cJSON_IsString(g) && wh_in_list(p->exempt_groups, g->valuestring))
			return true;
	}
	return false;
}

bool wh_policy_is_controller(const struct wh_policy *p, const char *user)
{
	return wh_in_list(p->controller_users, user);
}

const struct wh_scheduling *wh_policy_scheduling(const struct wh_policy *p, const char *runtime)
{
	if (!runtime)
		return NULL;
	for (size_t i = 0; i < p->nsched; i++)
		if (strcmp(p->sched[i].runtime, runtime) == 0)
			return &p->sched[i];
	return NULL;
}

const char *wh_policy_origin(const struct wh_policy *p)
{
	return p->origin;
}
