/*
 * sg_watch: notice when files change, the way Kubernetes changes them.
 *
 * The kubelet updates a mounted Secret or ConfigMap by writing a new
 * timestamped directory and swapping the `..data` symlink; cert-manager
 * rotates the Secret underneath. An inotify watch on the file itself sees
 * none of that, so the watcher polls stat(2) of each path (which follows
 * the symlinks) and compares device, inode, size, mtime and ctime. That
 * catches the symlink swap (new inode), in-place rewrites (mtime, size) and
 * a file that appears or disappears, at the cost of one stat per path per
 * interval.
 *
 * The signature is taken before the callback runs, so a change that lands
 * while the caller is reading the files is seen again at the next poll:
 * a reload that read a half-written file is retried, never forgotten.
 */
#ifndef SG_WATCH_H
#define SG_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

struct event_base;

struct sg_filesig {
	int err; /* errno of stat(2), or 0 */
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	struct timespec ctime;
};

/* Reads the signature of path (following symlinks). Never fails; errors are part of it. */
void sg_filesig_read(const char *path, struct sg_filesig *sig);

bool sg_filesig_equal(const struct sg_filesig *a, const struct sg_filesig *b);

struct sg_watch;

/*
 * Starts polling the n paths (copied) every interval_ms on base. The
 * current signatures are the baseline: cb(arg) runs on the loop only after
 * one of them changes. Returns NULL on allocation failure.
 */
struct sg_watch *sg_watch_new(struct event_base *base, const char *const *paths, size_t n,
			      int interval_ms, void (*cb)(void *arg), void *arg);

/* Stops polling and frees the watcher. NULL is a no-op. */
void sg_watch_free(struct sg_watch *w);

#endif
