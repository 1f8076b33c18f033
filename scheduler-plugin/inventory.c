#include "inventory.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sg_json.h"
#include "sg_labels.h"
#include "sg_map.h"

#define NONE UINT32_MAX

/*
 * A pod's uid as 16 bytes: a canonical UUID (what the API server issues) is
 * stored exactly, anything else as a 128-bit hash of it.
 */
struct uidkey {
	uint64_t a, b;
};

/* --- interned names ------------------------------------------------------ */

struct intern {
	char **names; /* by id */
	uint32_t n, cap;
	uint32_t *slots; /* id + 1, or 0 */
	uint32_t nslots; /* power of two */
	size_t bytes;
};

static uint64_t hash_u64(uint64_t x);

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static struct uidkey uid_key(const char *s)
{
	struct uidkey k = {0, 0};
	int n = 0;

	for (const char *p = s; *p; p++) {
		int v;

		if ((p - s == 8 || p - s == 13 || p - s == 18 || p - s == 23) && *p == '-')
			continue;
		v = hexval(*p);
		if (v < 0 || n == 32)
			goto hash;
		if (n < 16)
			k.a = k.a << 4 | (uint64_t)v;
		else
			k.b = k.b << 4 | (uint64_t)v;
		n++;
	}
	if (n == 32 && strlen(s) == 36)
		return k;
hash:
	k.a = hash_u64(sg_hash_str(s));
	k.b = hash_u64(sg_hash_str(s) ^ 0x243f6a8885a308d3ull) ^ strlen(s);
	return k;
}

static uint32_t hash_uid(struct uidkey k)
{
	return (uint32_t)hash_u64(k.a ^ (k.b * 0x9e3779b97f4a7c15ull));
}

static bool uid_eq(struct uidkey x, struct uidkey y)
{
	return x.a == y.a && x.b == y.b;
}

static uint64_t hash_u64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static uint32_t intern_find(const struct intern *t, const char *s)
{
	uint32_t mask = t->nslots - 1, i;

	if (!t->nslots)
		return NONE;
	for (i = (uint32_t)sg_hash_str(s) & mask; t->slots[i]; i = (i + 1) & mask)
		if (strcmp(t->names[t->slots[i] - 1], s) == 0)
			return t->slots[i] - 1;
	return NONE;
}

/* Fills the (zeroed) slots, a power of two of them, with every name's id. */
static void intern_index(const struct intern *t, uint32_t *slots, uint32_t nslots)
{
	uint32_t mask = nslots - 1;

	for (uint32_t id = 0; id < t->n; id++) {
		uint32_t i = (uint32_t)sg_hash_str(t->names[id]) & mask;

		while (slots[i])
			i = (i + 1) & mask;
		slots[i] = id + 1;
	}
}

static int intern_grow(struct intern *t)
{
	uint32_t nslots = t->nslots ? t->nslots * 2 : 256;
	uint32_t *slots = calloc(nslots, sizeof(*slots));

	if (!slots)
		return -1;
	intern_index(t, slots, nslots);
	free(t->slots);
	t->slots = slots;
	t->nslots = nslots;
	return 0;
}

/* The id of s, interning it if new; NONE when out of memory. */
static uint32_t intern_get(struct intern *t, const char *s)
{
	uint32_t id = intern_find(t, s), i;
	char *copy;

	if (id != NONE)
		return id;
	if ((t->n + 1) * 2 > t->nslots && intern_grow(t) != 0)
		return NONE;
	if (t->n == t->cap) {
		uint32_t cap = t->cap ? t->cap * 2 : 256;
		char **names = realloc(t->names, cap * sizeof(*names));

		if (!names)
			return NONE;
		t->names = names;
		t->cap = cap;
	}
	copy = strdup(s);
	if (!copy)
		return NONE;
	id = t->n++;
	t->names[id] = copy;
	t->bytes += strlen(s) + 1;
	for (i = (uint32_t)sg_hash_str(s) & (t->nslots - 1); t->slots[i];
	     i = (i + 1) & (t->nslots - 1))
		;
	t->slots[i] = id + 1;
	return id;
}

/* --- (node, name) counters ------------------------------------------------- */

/*
 * 24 bytes: at agent-sandbox's scale test (200,000 pods) there are as many
 * (node, template) and (node, pool) pairs as pods, so size matters. A node
 * never holds 65,535 pods of one template.
 */
struct pair {
	uint64_t key; /* node << 32 | id; 0 marks an empty slot, so ids are stored + 1 */
	uint16_t warm_ready;
	uint16_t warm_total;
	uint16_t claimed;
	uint16_t present; /* pods counted here */
	float last_seen;  /* monotonic seconds; a float keeps 0.1 s over years of uptime */
};

struct pairmap {
	struct pair *slots;
	uint32_t n, nslots;
};

static uint64_t pair_key(uint32_t node, uint32_t id)
{
	return ((uint64_t)(node + 1) << 32) | (uint64_t)(id + 1);
}

static struct pair *pair_find(const struct pairmap *m, uint64_t key)
{
	uint32_t mask = m->nslots - 1, i;

	if (!m->nslots)
		return NULL;
	for (i = (uint32_t)hash_u64(key) & mask; m->slots[i].key; i = (i + 1) & mask)
		if (m->slots[i].key == key)
			return &m->slots[i];
	return NULL;
}

/* Puts p into a table of mask + 1 slots that has room for it. */
static void pair_put(struct pair *slots, uint32_t mask, const struct pair *p)
{
	uint32_t i;

	for (i = (uint32_t)hash_u64(p->key) & mask; slots[i].key; i = (i + 1) & mask)
		;
	slots[i] = *p;
}

static int pair_rehash(struct pairmap *m, uint32_t nslots)
{
	struct pair *slots = calloc(nslots, sizeof(*slots));
	uint32_t mask = nslots - 1, n = 0;

	if (!slots)
		return -1;
	for (uint32_t j = 0; j < m->nslots; j++) {
		if (!m->slots[j].key)
			continue;
		pair_put(slots, mask, &m->slots[j]);
		n++;
	}
	free(m->slots);
	m->slots = slots;
	m->nslots = nslots;
	m->n = n;
	return 0;
}

static struct pair *pair_get(struct pairmap *m, uint64_t key)
{
	struct pair *p = pair_find(m, key);
	uint32_t i, mask;

	if (p)
		return p;
	if ((m->n + 1) * 2 > m->nslots && pair_rehash(m, m->nslots ? m->nslots * 2 : 1024) != 0)
		return NULL;
	mask = m->nslots - 1;
	for (i = (uint32_t)hash_u64(key) & mask; m->slots[i].key; i = (i + 1) & mask)
		;
	memset(&m->slots[i], 0, sizeof(m->slots[i]));
	m->slots[i].key = key;
	m->slots[i].last_seen = -1;
	m->n++;
	return &m->slots[i];
}

/* --- pods ------------------------------------------------------------------- */

struct pod {
	struct uidkey uid;
	uint32_t node; /* NONE when unbound */
	uint32_t tmpl;
	uint32_t pool; /* NONE unless warm */
	uint32_t gen;  /* resync generation last seen in */
	bool ready;
	bool live; /* not finished, not being deleted */
	bool used; /* slot in use */
};

struct ex_inventory {
	struct intern names;
	struct pod *pods;
	uint32_t npods, cap, nlive_slots;
	uint32_t free_head; /* free list through .node, NONE-terminated */
	uint32_t *index;    /* pod index + 1 by uid hash, or 0; TOMBSTONE after deletes */
	uint32_t nindex;
	uint32_t index_used;	  /* occupied + tombstones */
	struct pairmap templates; /* (node, template) */
	struct pairmap pools;	  /* (node, pool): warm_total only */
	uint32_t *node_pods;	  /* by node id */
	uint32_t node_cap;
	uint32_t gen;
	size_t tracked;
};

#define TOMBSTONE UINT32_MAX

struct ex_inventory *ex_inventory_new(void)
{
	struct ex_inventory *inv = calloc(1, sizeof(*inv));

	if (inv)
		inv->free_head = NONE;
	return inv;
}

void ex_inventory_free(struct ex_inventory *inv)
{
	if (!inv)
		return;
	for (uint32_t i = 0; i < inv->names.n; i++)
		free(inv->names.names[i]);
	free(inv->names.names);
	free(inv->names.slots);
	free(inv->pods);
	free(inv->index);
	free(inv->templates.slots);
	free(inv->pools.slots);
	free(inv->node_pods);
	free(inv);
}

static int index_rehash(struct ex_inventory *inv, uint32_t nindex)
{
	uint32_t *index = calloc(nindex, sizeof(*index)), mask = nindex - 1;

	if (!index)
		return -1;
	for (uint32_t p = 0; p < inv->npods; p++) {
		uint32_t i;

		if (!inv->pods[p].used)
			continue;
		for (i = hash_uid(inv->pods[p].uid) & mask; index[i]; i = (i + 1) & mask)
			;
		index[i] = p + 1;
	}
	free(inv->index);
	inv->index = index;
	inv->nindex = nindex;
	inv->index_used = (uint32_t)inv->tracked;
	return 0;
}

/* The slot in the index holding uid, or the first free one; NULL if there is no index. */
static uint32_t *index_slot(struct ex_inventory *inv, struct uidkey uid, bool *found)
{
	uint32_t mask = inv->nindex - 1, i, *first_free = NULL;

	*found = false;
	if (!inv->nindex)
		return NULL;
	for (i = hash_uid(uid) & mask; inv->index[i]; i = (i + 1) & mask) {
		if (inv->index[i] == TOMBSTONE) {
			if (!first_free)
				first_free = &inv->index[i];
			continue;
		}
		if (uid_eq(inv->pods[inv->index[i] - 1].uid, uid)) {
			*found = true;
			return &inv->index[i];
		}
	}
	return first_free ? first_free : &inv->index[i];
}

static uint32_t *node_pods_slot(struct ex_inventory *inv, uint32_t node)
{
	if (node >= inv->node_cap) {
		uint32_t cap = inv->node_cap ? inv->node_cap : 256;
		uint32_t *np;

		while (cap <= node)
			cap *= 2;
		np = realloc(inv->node_pods, cap * sizeof(*np));
		if (!np)
			return NULL;
		memset(np + inv->node_cap, 0, (cap - inv->node_cap) * sizeof(*np));
		inv->node_pods = np;
		inv->node_cap = cap;
	}
	return &inv->node_pods[node];
}

/* Adds (sign +1) or takes away (-1) what pod p contributes to the counters. */
static void account(struct ex_inventory *inv, const struct pod *p, int sign, double now)
{
	struct pair *t, *pl;
	uint32_t *np;

	if (!p->live || p->node == NONE)
		return;
	t = pair_get(&inv->templates, pair_key(p->node, p->tmpl));
	np = node_pods_slot(inv, p->node);
	if (!t || !np)
		return; /* out of memory: counts stay conservative */
	t->present += (uint16_t)sign;
	*np += (uint32_t)sign;
	t->last_seen = (float)now;
	if (p->pool != NONE) {
		t->warm_total += (uint16_t)sign;
		if (p->ready)
			t->warm_ready += (uint16_t)sign;
		pl = pair_get(&inv->pools, pair_key(p->node, p->pool));
		if (pl)
			pl->warm_total += (uint16_t)sign;
	} else {
		t->claimed += (uint16_t)sign;
	}
}

static bool is_ready(const cJSON *status)
{
	const cJSON *c;

	cJSON_ArrayForEach(c, sg_json_arr(status, "conditions"))
	{
		const char *type = sg_json_str(c, "type"), *st = sg_json_str(c, "status");

		if (type && strcmp(type, "Ready") == 0)
			return st && strcmp(st, "True") == 0;
	}
	return false;
}

static void drop(struct ex_inventory *inv, uint32_t *slot, double now)
{
	uint32_t idx = *slot - 1;
	struct pod *p = &inv->pods[idx];

	account(inv, p, -1, now);
	p->used = false;
	p->node = inv->free_head;
	inv->free_head = idx;
	*slot = TOMBSTONE;
	inv->tracked--;
}

/*
 * Template and pool hashes are hashes of a name inside a namespace, so the
 * same template name in two namespaces gives the same hash: they are keyed
 * as "namespace/hash" (a node name never holds a '/'). False when the key
 * does not fit, which no valid namespace and label value can cause.
 */
static bool scoped_key(char *buf, size_t size, const char *ns, const char *hash)
{
	int n = snprintf(buf, size, "%s/%s", ns ? ns : "", hash);

	return n > 0 && (size_t)n < size;
}

void ex_inventory_upsert(struct ex_inventory *inv, const cJSON *pod, double now)
{
	const cJSON *meta = sg_json_get(pod, "metadata"), *labels = sg_json_obj(meta, "labels");
	const cJSON *status = sg_json_get(pod, "status");
	const char *uid = sg_json_str(meta, "uid"),
		   *tmpl = sg_json_str(labels, SG_AS_LABEL_TEMPLATE);
	const char *pool = sg_json_str(labels, SG_AS_LABEL_WARM_POOL);
	const char *node = sg_json_str(sg_json_get(pod, "spec"), "nodeName");
	const char *phase = sg_json_str(status, "phase");
	const char *ns = sg_json_str(meta, "namespace");
	char tkey[EX_SCOPED_MAX], pkey[EX_SCOPED_MAX];
	struct pod next = {0}, *p;
	uint32_t *slot;
	bool found;

	if (!uid || !uid[0])
		return;
	if (!tmpl || !scoped_key(tkey, sizeof(tkey), ns, tmpl) ||
	    (pool && !scoped_key(pkey, sizeof(pkey), ns, pool))) {
		/* Not (or no longer) a template pod: forget it. */
		ex_inventory_remove(inv, pod, now);
		return;
	}
	/* Keep the index at most half full; a rehash also clears tombstones. */
	if ((inv->index_used + 1) * 2 > inv->nindex) {
		uint32_t size = inv->nindex ? inv->nindex : 1024;

		if ((inv->tracked + 1) * 3 > size)
			size *= 2;
		if (index_rehash(inv, size) != 0)
			return;
	}
	next.uid = uid_key(uid);
	next.tmpl = intern_get(&inv->names, tkey);
	next.pool = pool ? intern_get(&inv->names, pkey) : NONE;
	next.node = node && node[0] ? intern_get(&inv->names, node) : NONE;
	next.ready = is_ready(status);
	next.live = !sg_json_get(meta, "deletionTimestamp") &&
		    !(phase && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0));
	next.gen = inv->gen;
	next.used = true;
	if (next.tmpl == NONE || (pool && next.pool == NONE))
		return; /* out of memory */
	/*
	 * A bound pod, even a finished or terminating one, shows the image was
	 * on the node just now: that is what template freshness measures.
	 */
	if (next.node != NONE) {
		struct pair *t = pair_get(&inv->templates, pair_key(next.node, next.tmpl));

		if (t)
			t->last_seen = (float)now;
	}
	slot = index_slot(inv, next.uid, &found);
	if (found) {
		p = &inv->pods[*slot - 1];
		account(inv, p, -1, now);
		*p = next;
		account(inv, p, +1, now);
		return;
	}
	if (*slot == 0)
		inv->index_used++;
	if (inv->free_head != NONE) {
		uint32_t idx = inv->free_head;

		inv->free_head = inv->pods[idx].node;
		inv->pods[idx] = next;
		*slot = idx + 1;
	} else {
		if (inv->npods == inv->cap) {
			uint32_t cap = inv->cap ? inv->cap * 2 : 1024;
			struct pod *pods = realloc(inv->pods, cap * sizeof(*pods));

			if (!pods)
				return;
			inv->pods = pods;
			inv->cap = cap;
		}
		inv->pods[inv->npods] = next;
		*slot = ++inv->npods;
	}
	inv->tracked++;
	account(inv, &inv->pods[*slot - 1], +1, now);
}

void ex_inventory_remove(struct ex_inventory *inv, const cJSON *pod, double now)
{
	const char *uid = sg_json_str(sg_json_get(pod, "metadata"), "uid");
	uint32_t *slot;
	bool found;

	if (!uid)
		return;
	slot = index_slot(inv, uid_key(uid), &found);
	if (found)
		drop(inv, slot, now);
}

void ex_inventory_resync_begin(struct ex_inventory *inv)
{
	inv->gen++;
}

void ex_inventory_resync_end(struct ex_inventory *inv, double now)
{
	for (uint32_t i = 0; i < inv->nindex; i++) {
		uint32_t v = inv->index[i];

		if (v && v != TOMBSTONE && inv->pods[v - 1].gen != inv->gen)
			drop(inv, &inv->index[i], now);
	}
	/* Many deletes leave tombstones; rebuild the index when they pile up. */
	if (inv->index_used > 2 * inv->tracked + 1024)
		index_rehash(inv, inv->nindex);
}

uint32_t ex_inventory_id(const struct ex_inventory *inv, const char *name)
{
	return name ? intern_find(&inv->names, name) : NONE;
}

uint32_t ex_inventory_scoped_id(const struct ex_inventory *inv, const char *ns, const char *hash)
{
	char key[EX_SCOPED_MAX];

	return hash && scoped_key(key, sizeof(key), ns, hash) ? intern_find(&inv->names, key)
							      : NONE;
}

bool ex_inventory_template(const struct ex_inventory *inv, const char *node, const char *ns,
			   const char *tmpl, struct ex_template_stats *out)
{
	return ex_inventory_template_id(inv, intern_find(&inv->names, node),
					ex_inventory_scoped_id(inv, ns, tmpl), out);
}

bool ex_inventory_template_id(const struct ex_inventory *inv, uint32_t n, uint32_t t,
			      struct ex_template_stats *out)
{
	const struct pair *p =
		n == NONE || t == NONE ? NULL : pair_find(&inv->templates, pair_key(n, t));

	memset(out, 0, sizeof(*out));
	out->last_seen = -1;
	if (!p)
		return false;
	out->warm_ready = p->warm_ready;
	out->warm_total = p->warm_total;
	out->claimed = p->claimed;
	out->last_seen = p->last_seen;
	return true;
}

uint32_t ex_inventory_pool_warm(const struct ex_inventory *inv, const char *node, const char *ns,
				const char *pool)
{
	return ex_inventory_pool_warm_id(inv, intern_find(&inv->names, node),
					 ex_inventory_scoped_id(inv, ns, pool));
}

uint32_t ex_inventory_pool_warm_id(const struct ex_inventory *inv, uint32_t n, uint32_t pl)
{
	const struct pair *p =
		n == NONE || pl == NONE ? NULL : pair_find(&inv->pools, pair_key(n, pl));

	return p ? p->warm_total : 0;
}

uint32_t ex_inventory_node_pods(const struct ex_inventory *inv, const char *node)
{
	uint32_t n = intern_find(&inv->names, node);

	return n == NONE || n >= inv->node_cap ? 0 : inv->node_pods[n];
}

size_t ex_inventory_pods(const struct ex_inventory *inv)
{
	return inv->tracked;
}

size_t ex_inventory_bytes(const struct ex_inventory *inv)
{
	return sizeof(*inv) + inv->cap * sizeof(struct pod) + inv->nindex * sizeof(uint32_t) +
	       (inv->templates.nslots + inv->pools.nslots) * sizeof(struct pair) +
	       inv->node_cap * sizeof(uint32_t) + inv->names.cap * sizeof(char *) +
	       inv->names.nslots * sizeof(uint32_t) + inv->names.bytes;
}

static void mark(uint32_t *remap, uint32_t id)
{
	if (id != NONE)
		remap[id] = 0;
}

/*
 * Drops names that no pod and no pair refers to any more (nodes scaled
 * away, templates deleted) and renumbers the rest, so the table follows
 * the live cluster rather than its history. Runs only once at least half
 * the names are dead, which keeps its cost (a pass over everything)
 * amortised. Ids are not held across calls, so renumbering is safe here.
 */
static void names_compact(struct ex_inventory *inv)
{
	struct intern *t = &inv->names;
	struct pairmap *maps[] = {&inv->templates, &inv->pools};
	uint32_t n = t->n, live = 0, *remap;
	struct pair *fresh[2] = {NULL, NULL};

	if (n < 256)
		return;
	remap = malloc(n * sizeof(*remap));
	if (!remap)
		return;
	for (uint32_t i = 0; i < n; i++)
		remap[i] = NONE;
	for (uint32_t i = 0; i < inv->npods; i++) {
		const struct pod *p = &inv->pods[i];

		if (!p->used)
			continue;
		mark(remap, p->node);
		mark(remap, p->tmpl);
		mark(remap, p->pool);
	}
	for (int m = 0; m < 2; m++)
		for (uint32_t i = 0; i < maps[m]->nslots; i++) {
			uint64_t k = maps[m]->slots[i].key;

			if (k) {
				mark(remap, (uint32_t)(k >> 32) - 1);
				mark(remap, (uint32_t)k - 1);
			}
		}
	for (uint32_t i = 0; i < n; i++)
		live += remap[i] == 0;
	if (live * 2 > n) {
		free(remap);
		return;
	}
	/* Pair keys change, so their slots do: allocate before changing anything. */
	for (int m = 0; m < 2; m++) {
		fresh[m] = calloc(maps[m]->nslots ? maps[m]->nslots : 1, sizeof(struct pair));
		if (!fresh[m]) {
			free(fresh[0]);
			free(remap);
			return;
		}
	}
	/* New ids keep the old order, so every move below goes downwards. */
	live = 0;
	for (uint32_t i = 0; i < n; i++) {
		if (remap[i] == NONE) {
			t->bytes -= strlen(t->names[i]) + 1;
			free(t->names[i]);
			continue;
		}
		remap[i] = live;
		t->names[live++] = t->names[i];
	}
	t->n = live;
	for (uint32_t i = 0; i < inv->npods; i++) {
		struct pod *p = &inv->pods[i];

		if (!p->used)
			continue;
		p->node = p->node == NONE ? NONE : remap[p->node];
		p->tmpl = remap[p->tmpl];
		p->pool = p->pool == NONE ? NONE : remap[p->pool];
	}
	for (int m = 0; m < 2; m++) {
		struct pairmap *pm = maps[m];
		uint32_t mask = pm->nslots - 1;

		for (uint32_t j = 0; j < pm->nslots; j++) {
			struct pair p = pm->slots[j];

			if (!p.key)
				continue;
			p.key = pair_key(remap[(uint32_t)(p.key >> 32) - 1],
					 remap[(uint32_t)p.key - 1]);
			pair_put(fresh[m], mask, &p);
		}
		free(pm->slots);
		pm->slots = fresh[m];
		if (!pm->nslots) {
			/* Nothing was there: keep the map empty, as before. */
			free(pm->slots);
			pm->slots = NULL;
		}
	}
	for (uint32_t i = 0; i < inv->node_cap && i < n; i++) {
		uint32_t c = inv->node_pods[i];

		inv->node_pods[i] = 0;
		if (remap[i] != NONE)
			inv->node_pods[remap[i]] = c;
	}
	memset(t->slots, 0, t->nslots * sizeof(*t->slots));
	intern_index(t, t->slots, t->nslots);
	free(remap);
}

void ex_inventory_prune(struct ex_inventory *inv, double cutoff)
{
	struct pairmap *maps[] = {&inv->templates, &inv->pools};

	for (int m = 0; m < 2; m++) {
		struct pairmap *pm = maps[m];
		bool changed = false;

		for (uint32_t i = 0; i < pm->nslots; i++) {
			struct pair *p = &pm->slots[i];

			if (p->key && p->present == 0 && p->warm_total == 0 &&
			    p->last_seen < cutoff) {
				p->key = 0;
				changed = true;
			}
		}
		/* Removing from linear probing needs a rehash to keep chains intact. */
		if (changed)
			pair_rehash(pm, pm->nslots);
	}
	names_compact(inv);
}
