/*
 * policy: the security team's isolation policy, parsed and checked.
 *
 * The policy is one JSON document (docs/policy.md documents every field).
 * Parsing is strict: an unknown field, a wrong type or an inconsistent value
 * is an error that names the field, because a typo in a security policy
 * must not silently mean "use the default". The parsed tree stays alive
 * inside the policy and the rules point into it, so a policy is immutable
 * once loaded and a reload simply swaps whole policies.
 *
 * Rules are resolved per namespace: the top-level settings, with the
 * namespace's override (if any) replacing the fields it names.
 */
#ifndef WH_POLICY_H
#define WH_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "netpol.h"
#include "quantity.h"
#include "sg_labels.h"

/* The identity the upstream agent-sandbox manifests give the controller. */
#define WH_DEFAULT_CONTROLLER_USER                                                                 \
	"system:serviceaccount:agent-sandbox-system:agent-sandbox-controller"
/* Most entries in runtimeClass.default (a preference list). */
#define WH_RUNTIME_PREFS_MAX 16
/* Largest policy file accepted. */
#define WH_POLICY_MAX_SIZE (1u << 20)

enum wh_mode {
	WH_ENFORCE = 0, /* deny */
	WH_WARN,	/* allow, with a warning per violation */
	WH_AUDIT,	/* allow, with an audit annotation */
};

/* The container resources whose limits the policy can default or require. */
enum wh_resource { WH_RES_CPU, WH_RES_MEMORY, WH_RES_EPHEMERAL_STORAGE, WH_RES_COUNT };

/* Their names in a container's resources ("cpu", "memory", "ephemeral-storage"). */
extern const char *const wh_resource_names[WH_RES_COUNT];

/* One limit: a container's resource limit or an emptyDir's sizeLimit. */
struct wh_limit {
	const char *dflt;	  /* quantity written where unset; NULL: none */
	struct wh_quantity value; /* dflt, parsed (zero when dflt is NULL) */
	bool required;		  /* validation refuses it missing */
};

/* The rules that apply in one namespace. Pointers borrow from the policy. */
struct wh_rules {
	enum wh_mode mode;
	bool mutate;
	const char *runtime_default;   /* first preference; NULL: do not default */
	const cJSON *runtime_allowed;  /* array of strings, never empty */
	bool no_token;		       /* automountServiceAccountToken must be false */
	bool no_service_links;	       /* enableServiceLinks must be false */
	bool seccomp;		       /* seccomp RuntimeDefault or Localhost */
	bool no_privilege_escalation;  /* allowPrivilegeEscalation must be false */
	bool drop_all;		       /* capabilities drop ALL, add NET_BIND_SERVICE at most */
	bool run_as_non_root;	       /* runAsNonRoot true, runAsUser not 0 */
	bool read_only_root;	       /* readOnlyRootFilesystem true */
	const cJSON *volume_types;     /* array of allowed volume source names */
	const char *scheduler_name;    /* NULL: leave schedulerName alone */
	const char *default_profile;   /* network profile stamped on pods */
	const cJSON *allowed_profiles; /* profiles a pod in this namespace may carry */
	struct wh_netrules envelope;   /* the most rules for sandbox pods may allow */
	bool allow_unmanaged; /* SandboxTemplates may be networkPolicyManagement: Unmanaged */
	bool every_policy;    /* refuse NetworkPolicies beyond the envelope, never scope them */
	/*
	 * runtimeClass.default as an ordered preference list (a single string
	 * is a list of one); runtime_default above is its first entry.
	 */
	const char *runtime_prefs[WH_RUNTIME_PREFS_MAX];
	size_t nruntime_prefs;
	const cJSON *runtime_handlers; /* runtimeClass.allowedHandlers, never empty */
	bool user_namespaces; /* hostUsers must be false (pods get their own user namespace) */
	struct wh_limit limits[WH_RES_COUNT]; /* per container (init and regular) */
	struct wh_limit empty_dir;	      /* sizeLimit of every emptyDir volume */
};

/* A network profile: the rules sandbox-guard's own NetworkPolicy gives its pods. */
struct wh_profile {
	const char *name;
	struct wh_netrules rules;
};

struct wh_scheduling {
	const char *runtime;
	const cJSON *node_selector; /* object of strings, or NULL */
	const cJSON *tolerations;   /* array of objects, or NULL */
};

struct wh_policy;

/* The built-in default policy, as JSON text. */
extern const char wh_default_policy_json[];

/*
 * Parses and checks a policy. origin names it in messages ("policy.json",
 * "built-in default"). Returns the policy (free with wh_policy_free) or
 * NULL with *cause, a new string naming the problem, which the caller frees.
 */
struct wh_policy *wh_policy_parse(const char *text, size_t len, const char *origin, char **cause);

/* Reads and parses the file at path (at most WH_POLICY_MAX_SIZE bytes). */
struct wh_policy *wh_policy_load(const char *path, char **cause);

/* NULL is a no-op. */
void wh_policy_free(struct wh_policy *p);

/* The rules for namespace ns ("" or NULL for the top level). Never NULL. */
const struct wh_rules *wh_policy_rules(const struct wh_policy *p, const char *ns);

/* True if requests in ns, or by this user or any of these groups, are exempt. */
bool wh_policy_exempt(const struct wh_policy *p, const char *ns, const char *user,
		      const cJSON *groups);

/*
 * True if user is one of agentSandbox.controllerUsers: the identities of the
 * agent-sandbox controller, the only writer trusted with its reserved
 * agents.x-k8s.io/ labels and with its template NetworkPolicies.
 */
bool wh_policy_is_controller(const struct wh_policy *p, const char *user);

/* Node selector and tolerations for a runtime class, or NULL. */
const struct wh_scheduling *wh_policy_scheduling(const struct wh_policy *p, const char *runtime);

/* The profile named name, or NULL. */
const struct wh_profile *wh_policy_profile(const struct wh_policy *p, const char *name);

/* All profiles, for the reconciler. */
const struct wh_profile *wh_policy_profiles(const struct wh_policy *p, size_t *n);

/* The cluster resolver (network.clusterDNS). */
const struct wh_dns *wh_policy_dns(const struct wh_policy *p);

/* Where the policy came from, as given to wh_policy_parse. */
const char *wh_policy_origin(const struct wh_policy *p);

/* True if s is one of the strings in arr. */
bool wh_in_list(const cJSON *arr, const char *s);

/* Appends the strings of arr as "a, b, c" to a fixed buffer (truncating). */
void wh_list_text(const cJSON *arr, char *out, size_t outlen);

#endif
