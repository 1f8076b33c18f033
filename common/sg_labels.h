/*
 * sg_labels: the label keys both daemons read and write, in one place.
 *
 * agent-sandbox's keys (agents.x-k8s.io/...) are facts about the
 * controller we sit beside (see docs/agent-sandbox.md); ours are under
 * sandbox-guard.io/. A key spelt twice can drift, and a drifted key is a
 * silent policy hole, so every file takes them from here.
 */
#ifndef SG_LABELS_H
#define SG_LABELS_H

/* Every label under this prefix is ours and protected. */
#define SG_LABEL_PREFIX "sandbox-guard.io/"
/* The label that carries a sandbox pod's network profile. */
#define SG_LABEL_PROFILE SG_LABEL_PREFIX "network-profile"
/* The well-known label on the NetworkPolicies we manage. */
#define SG_LABEL_MANAGED_BY "app.kubernetes.io/managed-by"
/*
 * The label of a namespace that holds sandboxes: the NetworkPolicy webhooks
 * apply only where it is "true". The webhook's reconciler sets it on every
 * namespace with profile pods (an admin may set it ahead of time).
 */
#define SG_LABEL_SANDBOX_NS SG_LABEL_PREFIX "sandboxes"
/* The label Kubernetes puts on every namespace, holding its name. */
#define SG_LABEL_NS_NAME "kubernetes.io/metadata.name"

/* Label prefixes agent-sandbox reserves for itself on the pods it manages. */
#define SG_AS_LABEL_PREFIX     "agents.x-k8s.io/"
#define SG_AS_EXT_LABEL_PREFIX "extensions.agents.x-k8s.io/"
#define SG_AS_LABEL_NAME_HASH  SG_AS_LABEL_PREFIX "sandbox-name-hash"
#define SG_AS_LABEL_TEMPLATE   SG_AS_LABEL_PREFIX "sandbox-template-ref-hash"
#define SG_AS_LABEL_WARM_POOL  SG_AS_LABEL_PREFIX "warm-pool-sandbox"
#define SG_AS_LABEL_ADOPTABLE  SG_AS_LABEL_PREFIX "adoptable"
/*
 * The UID of the SandboxClaim a sandbox belongs to. agent-sandbox writes
 * it on the Sandbox when a claim creates or adopts it (for discovery and
 * NetworkPolicy targeting) and never changes it: a Sandbox belongs to one
 * claim for life. 1.0 keeps it off pods (reserved keys of a pod template
 * are dropped) and scrubs it from pods that older releases labelled.
 */
#define SG_AS_LABEL_CLAIM_UID SG_AS_LABEL_PREFIX "claim-uid"

#endif
