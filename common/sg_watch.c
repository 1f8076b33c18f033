#include "sg_watch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

struct sg_watch {
	struct event *timer;
	size_t n;
	char **paths;
	struct sg_filesig *sigs;
	void (*cb)(void *arg);
	void *arg;
};

void sg_filesig_read(const char *path, struct sg_filesig *sig)
{
	struct stat st;

	memset(sig, 0, sizeof(*sig));
	if (stat(path, &st) != 0) {
		sig->err = errno;
		return;
	}
	sig->dev = st.st_dev;
	sig->ino = st.st_ino;
	sig->size = st.st_size;
	sig->mtime = st.st_mtim;
	sig->ctime = st.st_ctim;
}

bool sg_filesig_equal(const struct sg_filesig *a, const struct sg_filesig *b)
{
	return a->err == b->err && a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec &&
	       a->ctime.tv_sec == b->ctime.tv_sec && a->ctime.tv_nsec == b->ctime.tv_nsec;
}

static void poll_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sg_watch *w = arg;
	bool changed = false;

	(void)fd;
	(void)what;
	for (size_t i = 0; i < w->n; i++) {
		struct sg_filesig now;

		sg_filesig_read(w->paths[i], &now);
		if (!sg_filesig_equal(&now, &w->sigs[i])) {
			w->sigs[i] = now;
			changed = true;
		}
	}
	if (changed)
		w->cb(w->arg);
}

struct sg_watch *sg_watch_new(struct event_base *base, const char *const *paths, size_t n,
			      int interval_ms, void (*cb)(void *arg), void *arg)
{
	struct timeval tv = {interval_ms / 1000, (interval_ms % 1000) * 1000};
	struct sg_watch *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->cb = cb;
	w->arg = arg;
	w->paths = calloc(n, sizeof(*w->paths));
	w->sigs = calloc(n, sizeof(*w->sigs));
	if (!w->paths || !w->sigs)
		goto fail;
	for (w->n = 0; w->n < n; w->n++) {
		w->paths[w->n] = strdup(paths[w->n]);
		if (!w->paths[w->n])
			goto fail;
		sg_filesig_read(paths[w->n], &w->sigs[w->n]);
	}
	w->timer = event_new(base, -1, EV_PERSIST, poll_cb, w);
	if (!w->timer || event_add(w->timer, &tv) != 0)
		goto fail;
	return w;
fail:
	sg_watch_free(w);
	return NULL;
}

void sg_watch_free(struct sg_watch *w)
{
	if (!w)
		return;
	if (w->timer)
		event_free(w->timer);
	for (size_t i = 0; i < w->n; i++)
		free(w->paths[i]);
	free(w->paths);
	free(w->sigs);
	free(w);
}
