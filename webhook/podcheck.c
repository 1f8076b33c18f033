#include "podcheck.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "classify.h"
#include "sg_json.h"

/* Pod Security's safe sysctls (baseline), the only ones a sandbox may set. */
static const char *const safe_sysctls[] = {"kernel.shm_rmid_forced",
					   "net.ipv4.ip_local_port_range",
					   "net.ipv4.ip_unprivileged_port_start",
					   "net.ipv4.tcp_syncookies",
					   "net.ipv4.ping_group_range",
					   "net.ipv4.ip_local_reserved_ports",
					   "net.ipv4.tcp_keepalive_time",
					   "net.ipv4.tcp_fin_timeout",
					   "net.ipv4.tcp_keepalive_intvl",
					   "net.ipv4.tcp_keepalive_probes",
					   "net.ipv4.tcp_rmem",
					   "net.ipv4.tcp_wmem",
					   NULL};

/* SELinux types Pod Security allows (baseline). */
static const char *const selinux_types[] = {"container_t", "container_init_t", "container_kvm_t",
					    "container_engine_t", NULL};

static bool in(const char *const *list, const char *s)
{
	for (; *list; list++)
		if (strcmp(*list, s) == 0)
			return true;
	return false;
}

bool wh_cap_is_net_bind(const char *cap)
{
	return strcmp(cap, "NET_BIND_SERVICE") == 0 || strcmp(cap, "CAP_NET_BIND_SERVICE") == 0;
}

static bool seccomp_confined(const cJSON *sc)
{
	const char *t = sg_json_str(sg_json_get(sc, "seccompProfile"), "type");

	return t && (strcmp(t, "RuntimeDefault") == 0 || strcmp(t, "Localhost") == 0);
}

static bool seccomp_unconfined(const cJSON *sc)
{
	const char *t = sg_json_str(sg_json_get(sc, "seccompProfile"), "type");

	return t && strcmp(t, "Unconfined") == 0;
}

/* seLinuxOptions and appArmorProfile: shared by pod and container security contexts. */
static void check_lsm(const cJSON *sc, const char *where, struct wh_violations *out)
{
	const cJSON *se = sg_json_obj(sc, "seLinuxOptions");
	const char *t;

	if (se) {
		t = sg_json_str(se, "type");
		if (t && t[0] && !in(selinux_types, t))
			wh_violation(out,
				     "%s.securityContext.seLinuxOptions.type is '%.64s'; use "
				     "container_t, container_init_t, container_kvm_t or "
				     "container_engine_t, or leave it unset",
				     where, t);
		if ((t = sg_json_str(se, "user")) != NULL && t[0])
			wh_violation(out,
				     "%s.securityContext.seLinuxOptions.user is set; remove it",
				     where);
		if ((t = sg_json_str(se, "role")) != NULL && t[0])
			wh_violation(out,
				     "%s.securityContext.seLinuxOptions.role is set; remove it",
				     where);
	}
	t = sg_json_str(sg_json_get(sc, "appArmorProfile"), "type");
	if (t && strcmp(t, "Unconfined") == 0)
		wh_violation(out,
			     "%s.securityContext.appArmorProfile.type is Unconfined; use "
			     "RuntimeDefault or Localhost",
			     where);
	if (seccomp_unconfined(sc))
		wh_violation(out,
			     "%s.securityContext.seccompProfile.type is Unconfined; use "
			     "RuntimeDefault or Localhost",
			     where);
}

static void check_run_as(const struct wh_rules *r, const cJSON *sc, const char *where,
			 struct wh_violations *out)
{
	const cJSON *uid = sg_json_get(sc, "runAsUser");

	if (!r->run_as_non_root)
		return;
	if (sg_json_false(sc, "runAsNonRoot"))
		wh_violation(out, "%s.securityContext.runAsNonRoot is false; set it to true",
			     where);
	if (cJSON_IsNumber(uid) && uid->valuedouble == 0)
		wh_violation(out,
			     "%s.securityContext.runAsUser is 0 (root); use a non-zero user ID",
			     where);
}

/* A probe or lifecycle handler with a host makes the kubelet connect there, from the node. */
static void check_handler(const cJSON *h, const char *where, const char *name,
			  struct wh_violations *out)
{
	static const char *const kinds[] = {"httpGet", "tcpSocket", NULL};

	for (const char *const *k = kinds; *k; k++) {
		const char *host = sg_json_str(sg_json_get(h, *k), "host");

		if (host && host[0])
			wh_violation(out,
				     "%s.%s.%s.host is '%.64s'; remove it: the kubelet would "
				     "connect to that address from the node",
				     where, name, *k, host);
	}
}

/*
 * True where a field left unset will still be defaulted: on a template,
 * when the policy mutates the pods made from it.
 */
static bool deferred(const struct wh_podcheck *c)
{
	return c->holder != WH_HOLDER_POD && c->rules->mutate;
}

static void check_container(const struct wh_podcheck *c, const cJSON *ctr, const char *where,
			    bool pod_non_root, struct wh_violations *out)
{
	static const char *const probes[] = {"livenessProbe", "readinessProbe", "startupProbe",
					     NULL};
	const struct wh_rules *r = c->rules;
	const cJSON *sc = sg_json_obj(ctr, "securityContext");
	const cJSON *caps = sg_json_obj(sc, "capabilities");
	const cJSON *add = sg_json_arr(caps, "add"), *drop = sg_json_get(caps, "drop");
	const cJSON *drops = sg_json_arr(caps, "drop");
	const cJSON *it, *lc;
	const char *pm;

	if (sg_json_true(sc, "privileged"))
		wh_violation(out, "%s.securityContext.privileged is true; remove it", where);
	if (r->no_privilege_escalation) {
		if (sg_json_true(sc, "allowPrivilegeEscalation"))
			wh_violation(out,
				     "%s.securityContext.allowPrivilegeEscalation is true; set it "
				     "to false",
				     where);
		else if (!deferred(c) && !sg_json_false(sc, "allowPrivilegeEscalation"))
			wh_violation(out,
				     "%s.securityContext.allowPrivilegeEscalation is not set; set "
				     "it to false",
				     where);
	}
	cJSON_ArrayForEach(it, add)
	{
		if (!cJSON_IsString(it) || !wh_cap_is_net_bind(it->valuestring))
			wh_violation(out,
				     "%s.securityContext.capabilities.add has '%.64s'; only "
				     "NET_BIND_SERVICE may be added",
				     where, cJSON_IsString(it) ? it->valuestring : "?");
	}
	if (r->drop_all) {
		bool all = false;

		cJSON_ArrayForEach(it, drops)
		{
			if (cJSON_IsString(it) && strcmp(it->valuestring, "ALL") == 0)
				all = true;
		}
		if (!all && (cJSON_IsArray(drop) || !deferred(c)))
			wh_violation(out,
				     "%s.securityContext.capabilities.drop does not include ALL; "
				     "set it to [\"ALL\"]",
				     where);
	}
	pm = sg_json_str(sc, "procMount");
	if (pm && strcmp(pm, "Default") != 0)
		wh_violation(
			out,
			"%s.securityContext.procMount is '%.32s'; use Default or leave it unset",
			where, pm);
	if (sg_json_true(sg_json_get(sc, "windowsOptions"), "hostProcess"))
		wh_violation(out,
			     "%s.securityContext.windowsOptions.hostProcess is true; remove it",
			     where);
	check_lsm(sc, where, out);
	check_run_as(r, sc, where, out);
	if (r->run_as_non_root && !pod_non_root && !sg_json_true(sc, "runAsNonRoot"))
		wh_violation(out,
			     "%s.securityContext.runAsNonRoot is not true (nor at pod level); set "
			     "it to true",
			     where);
	if (r->read_only_root && !sg_json_true(sc, "readOnlyRootFilesystem"))
		wh_violation(
			out,
			"%s.securityContext.readOnlyRootFilesystem is not true; set it to true "
			"and mount an emptyDir where the program writes",
			where);
	cJSON_ArrayForEach(it, sg_json_arr(ctr, "ports"))
	{
		const cJSON *hp = sg_json_get(it, "hostPort");

		if (cJSON_IsNumber(hp) && hp->valuedouble != 0)
			wh_violation(out, "%s.ports: hostPort %.0f is set; remove hostPort", where,
				     hp->valuedouble);
	}
	for (const char *const *p = probes; *p; p++)
		check_handler(sg_json_get(ctr, *p), where, *p, out);
	lc = sg_json_obj(ctr, "lifecycle");
	check_handler(sg_json_get(lc, "postStart"), where, "lifecycle.postStart", out);
	check_handler(sg_json_get(lc, "preStop"), where, "lifecycle.preStop", out);
}

/* True if the pod-level resources (spec.resources) limit resource i for the whole pod. */
static bool pod_limits(const cJSON *spec, int i)
{
	return !sg_json_unset(sg_json_obj(sg_json_obj(spec, "resources"), "limits"),
			      wh_resource_names[i]);
}

/*
 * The policy's required limits on an init or regular container (ephemeral
 * containers cannot have resources). A limit the webhook will default is
 * not required of a template.
 */
static void check_limits(const struct wh_podcheck *c, const cJSON *spec, const cJSON *ctr,
			 const char *where, struct wh_violations *out)
{
	const cJSON *limits = sg_json_obj(sg_json_obj(ctr, "resources"), "limits");

	for (int i = 0; i < WH_RES_COUNT; i++) {
		const struct wh_limit *l = &c->rules->limits[i];

		if (!l->required || !sg_json_unset(limits, wh_resource_names[i]) ||
		    pod_limits(spec, i) || (deferred(c) && l->dflt))
			continue;
		wh_violation(out,
			     "%s.resources.limits has no %s limit; set one: the policy requires "
			     "a %s limit on every container so that one sandbox cannot starve "
			     "the node",
			     where, wh_resource_names[i], wh_resource_names[i]);
	}
}

static void check_volumes(const struct wh_podcheck *c, const cJSON *spec, struct wh_violations *out)
{
	const cJSON *vol, *f, *src;
	char allowed[512];
	int i = 0;

	wh_list_text(c->rules->volume_types, allowed, sizeof(allowed));
	cJSON_ArrayForEach(vol, sg_json_arr(spec, "volumes"))
	{
		const char *name = sg_json_str(vol, "name");

		cJSON_ArrayForEach(f, vol)
		{
			if (strcmp(f->string, "name") == 0 || cJSON_IsNull(f))
				continue;
			if (strcmp(f->string, "hostPath") == 0)
				wh_violation(out,
					     "%s.volumes[%d] (%.64s): hostPath volumes expose the "
					     "node's filesystem; use an emptyDir or a "
					     "persistentVolumeClaim",
					     c->where, i, name ? name : "");
			else if (!wh_in_list(c->rules->volume_types, f->string))
				wh_violation(out,
					     "%s.volumes[%d] (%.64s): volume type %.64s is not "
					     "allowed; use one of: %s",
					     c->where, i, name ? name : "", f->string, allowed);
		}
		if (c->rules->empty_dir.required && sg_json_obj(vol, "emptyDir") &&
		    sg_json_unset(sg_json_obj(vol, "emptyDir"), "sizeLimit") &&
		    !(deferred(c) && c->rules->empty_dir.dflt))
			wh_violation(out,
				     "%s.volumes[%d] (%.64s): emptyDir has no sizeLimit; set one: "
				     "without it one sandbox can fill the node's disk (or memory, "
				     "with medium Memory)",
				     c->where, i, name ? name : "");
		if (c->rules->no_token) {
			cJSON_ArrayForEach(src,
					   sg_json_arr(sg_json_get(vol, "projected"), "sources"))
			{
				if (!sg_json_get(src, "serviceAccountToken"))
					continue;
				if (name && strncmp(name, "kube-api-access-", 16) == 0)
					wh_violation(
						out,
						"%s.volumes[%d] (%.64s): Kubernetes mounted an "
						"API token because automountServiceAccountToken "
						"was not false at creation; set it to false in "
						"the pod (or the Sandbox's podTemplate) or on its "
						"ServiceAccount",
						c->where, i, name);
				else
					wh_violation(out,
						     "%s.volumes[%d] (%.64s): a projected "
						     "serviceAccountToken mounts an API token; "
						     "remove it",
						     c->where, i, name ? name : "");
			}
		}
		i++;
	}
}

/*
 * What the cluster's RuntimeClasses say about the class a pod or template
 * names (rc), or about the default a template's pods would get (rc NULL):
 * on a pod a problem is a violation, on a template only a note, since the
 * cluster may change before the template makes a pod. A template is not
 * warned about while the classes are still being listed.
 */
static void check_runtime_in_cluster(const struct wh_podcheck *c, const char *rc,
				     struct wh_violations *out)
{
	char why[WH_RUNTIME_WHY_MAX];
	bool pod = c->holder == WH_HOLDER_POD;

	if (!c->runtimes)
		return;
	if (rc) {
		if (wh_runtime_check(c->rules, c->runtimes, rc, why, sizeof(why)))
			return;
	} else if (wh_runtime_choose(c->rules, c->runtimes, why, sizeof(why)) || !why[0]) {
		return;
	}
	if (pod)
		wh_violation(out, "%s.runtimeClassName: %s", c->where, why);
	else if (c->notes && wh_runtimes_synced(c->runtimes))
		wh_violation(c->notes,
			     "%s.runtimeClassName%s: %s; pods made from it will be refused "
			     "until this is fixed",
			     c->where, rc ? "" : " (left to the default)", why);
}

static void check_pod_level(const struct wh_podcheck *c, const cJSON *spec,
			    struct wh_violations *out)
{
	static const char *const host_ns[] = {"hostNetwork", "hostPID", "hostIPC", NULL};
	const struct wh_rules *r = c->rules;
	const cJSON *sc = sg_json_obj(spec, "securityContext"), *it;
	const char *rc = sg_json_str(spec, "runtimeClassName");
	const char *os = sg_json_str(sg_json_get(spec, "os"), "name");
	char allowed[512];

	wh_list_text(r->runtime_allowed, allowed, sizeof(allowed));
	if (rc && rc[0]) {
		if (!wh_in_list(r->runtime_allowed, rc))
			wh_violation(out,
				     "%s.runtimeClassName is '%.64s'; use a sandboxed runtime: %s",
				     c->where, rc, allowed);
		else
			check_runtime_in_cluster(c, rc, out);
	} else if (!deferred(c) || !r->runtime_default) {
		char why[WH_RUNTIME_WHY_MAX];

		/*
		 * On a pod this usually means the mutating webhook found no class
		 * to default to: then say what the cluster lacks.
		 */
		if (c->holder == WH_HOLDER_POD && r->runtime_default && c->runtimes &&
		    !wh_runtime_choose(r, c->runtimes, why, sizeof(why)) && why[0])
			wh_violation(out, "%s.runtimeClassName is not set: %s", c->where, why);
		else
			wh_violation(out, "%s.runtimeClassName is not set; set it to one of: %s",
				     c->where, allowed);
	} else {
		check_runtime_in_cluster(c, NULL, out);
	}
	for (const char *const *h = host_ns; *h; h++)
		if (sg_json_true(spec, *h))
			wh_violation(out,
				     "%s.%s is true; remove it: sandboxes may not share the "
				     "node's namespaces",
				     c->where, *h);
	if (os && strcmp(os, "linux") != 0)
		wh_violation(out, "%s.os.name is '%.32s'; sandboxed runtimes run Linux pods only",
			     c->where, os);
	if (r->no_token) {
		if (sg_json_true(spec, "automountServiceAccountToken"))
			wh_violation(out,
				     "%s.automountServiceAccountToken is true; set it to false: "
				     "untrusted code must not get an API token",
				     c->where);
		else if (c->holder != WH_HOLDER_TEMPLATE &&
			 !sg_json_false(spec, "automountServiceAccountToken"))
			wh_violation(out,
				     "%s.automountServiceAccountToken is not set; set it to false "
				     "(unless it is false when the pod is created, Kubernetes "
				     "mounts an API token before this webhook runs)",
				     c->where);
	}
	if (r->user_namespaces) {
		if (sg_json_true(spec, "hostUsers"))
			wh_violation(out,
				     "%s.hostUsers is true; set it to false: the policy gives "
				     "every sandbox pod its own user namespace",
				     c->where);
		else if (!deferred(c) && !sg_json_false(spec, "hostUsers"))
			wh_violation(out,
				     "%s.hostUsers is not set; set it to false: the policy gives "
				     "every sandbox pod its own user namespace",
				     c->where);
	}
	if (r->no_service_links && sg_json_true(spec, "enableServiceLinks"))
		wh_violation(out,
			     "%s.enableServiceLinks is true; set it to false: service links "
			     "list the namespace's Services to untrusted code",
			     c->where);
	if (sc) {
		char where[128];

		snprintf(where, sizeof(where), "%s", c->where);
		/*
		 * Pod level too: there it makes every container a HostProcess
		 * container (processes on the Windows node itself) unless the
		 * container says otherwise.
		 */
		if (sg_json_true(sg_json_get(sc, "windowsOptions"), "hostProcess"))
			wh_violation(
				out,
				"%s.securityContext.windowsOptions.hostProcess is true; remove "
				"it",
				c->where);
		check_lsm(sc, where, out);
		check_run_as(r, sc, where, out);
		cJSON_ArrayForEach(it, sg_json_arr(sc, "sysctls"))
		{
			const char *name = sg_json_str(it, "name");
			char norm[128];

			if (!name)
				continue;
			snprintf(norm, sizeof(norm), "%s", name);
			for (char *p = norm; *p; p++)
				if (*p == '/')
					*p = '.';
			if (!in(safe_sysctls, norm))
				wh_violation(out,
					     "%s.securityContext.sysctls: '%.64s' is not a safe "
					     "sysctl; remove it",
					     c->where, name);
		}
	}
	check_volumes(c, spec, out);
}

/*
 * Pod annotations that reach the sandbox runtime and change its own
 * configuration: Kata honours io.katacontainers.* keys that its node
 * configuration enables (hypervisor, kernel parameters, shared file
 * system), and runsc takes dev.gvisor.flag.<flag> as a command-line flag
 * when started with --allow-flag-override (network=host among them);
 * dev.gvisor.internal.* is for the shim alone. Whether a node honours
 * them is the node's configuration, so refuse them here, whatever it is.
 * gVisor's dev.gvisor.spec.mount.* hints only describe how volumes are
 * shared inside the sandbox, and stay allowed.
 */
static const char *const runtime_override_prefixes[] = {"io.katacontainers.", "dev.gvisor.flag.",
							"dev.gvisor.internal.", NULL};

void wh_check_annotations(const cJSON *annotations, const char *where, struct wh_violations *out)
{
	static const char prefix[] = "container.apparmor.security.beta.kubernetes.io/";
	const cJSON *it;

	cJSON_ArrayForEach(it, annotations)
	{
		if (strncmp(it->string, prefix, sizeof(prefix) - 1) == 0 && cJSON_IsString(it) &&
		    strcasecmp(it->valuestring, "unconfined") == 0)
			wh_violation(out, "%s%sannotation %.128s is unconfined; remove it",
				     where ? where : "", where ? ": " : "", it->string);
		for (const char *const *p = runtime_override_prefixes; *p; p++)
			if (strncmp(it->string, *p, strlen(*p)) == 0)
				wh_violation(out,
					     "%s%sannotation %.128s would override the sandbox "
					     "runtime's own configuration; remove it (runtime "
					     "settings belong in the node's runtime configuration)",
					     where ? where : "", where ? ": " : "", it->string);
	}
}

/* Pod-level AppArmor annotations (the pre-1.30 way) can also say "unconfined". */
static void check_annotations(const struct wh_podcheck *c, struct wh_violations *out)
{
	wh_check_annotations(sg_json_obj(c->meta, "annotations"), NULL, out);
}

void wh_check_podspec(const struct wh_podcheck *c, const cJSON *spec, struct wh_violations *out)
{
	static const char *const lists[] = {"initContainers", "containers", "ephemeralContainers",
					    NULL};
	const cJSON *sc, *ctr;
	bool pod_seccomp, pod_non_root;

	if (!cJSON_IsObject(spec)) {
		wh_violation(out, "%s is missing or not an object", c->where);
		return;
	}
	check_pod_level(c, spec, out);
	check_annotations(c, out);
	sc = sg_json_obj(spec, "securityContext");
	pod_seccomp = seccomp_confined(sc);
	pod_non_root = sg_json_true(sc, "runAsNonRoot");
	for (const char *const *l = lists; *l; l++) {
		int i = 0;

		cJSON_ArrayForEach(ctr, sg_json_arr(spec, *l))
		{
			const char *name = sg_json_str(ctr, "name");
			char where[256];

			snprintf(where, sizeof(where), "%s.%s[%d] (%.64s)", c->where, *l, i++,
				 name ? name : "");
			check_container(c, ctr, where, pod_non_root, out);
			if (strcmp(*l, "ephemeralContainers") != 0)
				check_limits(c, spec, ctr, where, out);
			/* Without a pod-level profile every container needs its own. */
			if (c->rules->seccomp && !deferred(c) && !pod_seccomp &&
			    !seccomp_confined(sg_json_obj(ctr, "securityContext")))
				wh_violation(out,
					     "%s has no seccomp profile and the pod sets none; set "
					     "%s.securityContext.seccompProfile.type to "
					     "RuntimeDefault",
					     where, c->where);
		}
	}
}

void wh_check_profile_label(const struct wh_rules *r, const cJSON *labels, bool required,
			    const char *where, struct wh_violations *out)
{
	const cJSON *v = sg_json_get(labels, SG_LABEL_PROFILE);
	char allowed[512];

	wh_list_text(r->allowed_profiles, allowed, sizeof(allowed));
	if (!v) {
		if (required)
			wh_violation(out,
				     "%s: label %s is missing; it binds the pod to its network "
				     "isolation (is the mutating webhook registered?)",
				     where, SG_LABEL_PROFILE);
		return;
	}
	if (!cJSON_IsString(v) || !wh_in_list(r->allowed_profiles, v->valuestring))
		wh_violation(out, "%s: label %s is '%.63s'; this namespace allows: %s", where,
			     SG_LABEL_PROFILE, cJSON_IsString(v) ? v->valuestring : "?", allowed);
}

void wh_check_labels_kept(const cJSON *old_labels, const cJSON *new_labels,
			  struct wh_violations *out)
{
	const cJSON *o;

	cJSON_ArrayForEach(o, old_labels)
	{
		const cJSON *n;

		/*
		 * Ours, and agent-sandbox's identity labels: the pod's Sandbox and
		 * template never change (adoption removes only warm-pool-sandbox),
		 * and without them the pod would leave its template's
		 * NetworkPolicy and become selectable as a non-sandbox pod. The
		 * claim UID names the one claim a sandbox serves (agent-sandbox
		 * writes it for discovery and NetworkPolicy targeting): rewriting
		 * it would put the pod behind another claim. It may go, though:
		 * agent-sandbox 1.0 keeps it off pods and removes it from pods an
		 * older release labelled, and losing it widens nothing (policies
		 * only add what a pod may reach; our profile label stays).
		 */
		if ((strncmp(o->string, SG_LABEL_PREFIX, strlen(SG_LABEL_PREFIX)) != 0 &&
		     strcmp(o->string, SG_AS_LABEL_NAME_HASH) != 0 &&
		     strcmp(o->string, SG_AS_LABEL_TEMPLATE) != 0 &&
		     strcmp(o->string, SG_AS_LABEL_CLAIM_UID) != 0) ||
		    !cJSON_IsString(o))
			continue;
		n = sg_json_get(new_labels, o->string);
		if (!n && strcmp(o->string, SG_AS_LABEL_CLAIM_UID) == 0)
			continue;
		if (!n)
			wh_violation(out,
				     "metadata.labels: %.128s=%.63s was removed; isolation labels "
				     "may not be removed or changed",
				     o->string, o->valuestring);
		else if (!cJSON_IsString(n) || strcmp(n->valuestring, o->valuestring) != 0)
			wh_violation(out,
				     "metadata.labels: %.128s was changed from '%.63s'; isolation "
				     "labels may not be removed or changed",
				     o->string, o->valuestring);
	}
}
