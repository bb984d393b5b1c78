/*
 * store.c - persistence: the journal (append-only, checksummed records),
 * the state directory, and the bounded key -> value store built on the
 * journal. See store.h for the contracts and the formats.
 *
 * Journal. Appends are one write()/writev() each on an O_APPEND descriptor;
 * a short or failed write is undone with ftruncate() to the last good
 * record, so a reader never finds good records after a torn one. Replay
 * reads the file in chunks (growing the buffer only up to the largest
 * record the user allows), stops at the first bad record and cuts the file
 * there: a crash leaves at most one torn record at the end, and the next
 * append must not follow it. A file with another magic is moved aside, not
 * overwritten: it may be another program's data or a newer format.
 *
 * Store. One malloc per entry (head, key and value together), a chained
 * hash table that doubles with the entry count, and a doubly linked LRU
 * list (head = most recently used). Byte accounting counts the whole
 * allocation, so max_bytes bounds what the store really holds. Each put or
 * delete is one journal record; when dead records outweigh live ones the
 * journal is rewritten from the live entries.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include "store.h"

#ifndef PX_JOURNAL_READ_CHUNK
#define PX_JOURNAL_READ_CHUNK (64u * 1024)   /* replay read size */
#endif

#define JIOV_MAX 8                           /* body pieces per record */

/* ------------------------------------------------------------ helpers */

/* see store.h */
uint32_t
px_crc32(uint32_t crc, const void *p, size_t n)
{
	static uint32_t tab[256];
	static int init;
	const unsigned char *b = p;
	uint32_t c;
	size_t i;

	if (!init) {
		for (i = 0; i < 256; i++) {
			int k;
			c = (uint32_t)i;
			for (k = 0; k < 8; k++)
				c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
			tab[i] = c;
		}
		init = 1;
	}
	c = crc ^ 0xFFFFFFFFu;
	for (i = 0; i < n; i++)
		c = tab[(c ^ b[i]) & 0xFF] ^ (c >> 8);
	return c ^ 0xFFFFFFFFu;
}

static void
put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

static uint32_t
get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static void
put64(unsigned char *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

static uint64_t
get64(const unsigned char *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static int
write_all(int fd, const void *p, size_t n)
{
	const char *b = p;

	while (n > 0) {
		ssize_t w = write(fd, b, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = EIO;
			return -1;
		}
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

/* malloc'd a + b */
static char *
str_cat(const char *a, const char *b)
{
	size_t an = strlen(a), bn = strlen(b);
	char *p = malloc(an + bn + 1);

	if (p) {
		memcpy(p, a, an);
		memcpy(p + an, b, bn + 1);
	}
	return p;
}

/* ============================================================ journal */

static void
jset_err(struct px_journal *lg, const char *what, int e)
{
	snprintf(lg->errbuf, sizeof lg->errbuf, "%s: %s: %s",
	    lg->path ? lg->path : "journal", what, strerror(e));
	lg->has_err = 1;
}

/* see store.h */
long
px_journal_parse(const char *p, size_t n, size_t rec_max, int *type,
                 const char **body, size_t *bn)
{
	const unsigned char *u = (const unsigned char *)p;
	uint32_t len;

	if (n < PX_JOURNAL_HEAD)
		return PX_JOURNAL_PARTIAL;
	len = get32(u);
	if (len < 1 || (size_t)len > rec_max)
		return PX_JOURNAL_ERROR;
	if (n - PX_JOURNAL_HEAD < len)
		return PX_JOURNAL_PARTIAL;
	if (px_crc32(0, u + PX_JOURNAL_HEAD, len) != get32(u + 4))
		return PX_JOURNAL_ERROR;
	*type = u[PX_JOURNAL_HEAD];
	*body = p + PX_JOURNAL_HEAD + 1;
	*bn = len - 1;
	return (long)(PX_JOURNAL_HEAD + len);
}

/* see store.h */
size_t
px_journal_head(unsigned char out[PX_JOURNAL_HEAD + 1], int type,
                const struct iovec *body, int nbody)
{
	size_t len = 1;
	uint32_t crc;
	int i;

	out[PX_JOURNAL_HEAD] = (unsigned char)type;
	crc = px_crc32(0, out + PX_JOURNAL_HEAD, 1);
	for (i = 0; i < nbody; i++) {
		if (body[i].iov_len)
			crc = px_crc32(crc, body[i].iov_base, body[i].iov_len);
		len += body[i].iov_len;
	}
	put32(out, (uint32_t)len);
	put32(out + 4, crc);
	return PX_JOURNAL_HEAD + len;
}

/* see store.h */
size_t
px_journal_frame(void *out, size_t cap, int type, const void *body,
                 size_t bn)
{
	struct iovec v;
	unsigned char *o = out;

	if (cap < PX_JOURNAL_HEAD + 1 || bn > cap - PX_JOURNAL_HEAD - 1)
		return 0;
	if (bn)
		memmove(o + PX_JOURNAL_HEAD + 1, body, bn);
	v.iov_base = o + PX_JOURNAL_HEAD + 1;
	v.iov_len = bn;
	return px_journal_head(o, type, &v, 1);
}

/* see store.h */
size_t
px_journal_replay(const char *p, size_t n,
                  const char magic[PX_JOURNAL_MAGIC_LEN], size_t rec_max,
                  px_journal_fn fn, void *ctx, unsigned long *records)
{
	size_t off = PX_JOURNAL_MAGIC_LEN;
	unsigned long nrec = 0;

	if (records)
		*records = 0;
	if (n < PX_JOURNAL_MAGIC_LEN ||
	    memcmp(p, magic, PX_JOURNAL_MAGIC_LEN) != 0)
		return 0;
	for (;;) {
		const char *body;
		size_t bn;
		int type;
		long k = px_journal_parse(p + off, n - off, rec_max, &type,
		    &body, &bn);
		if (k <= 0 || (fn && fn(ctx, type, body, bn, (size_t)k) < 0))
			break;
		off += (size_t)k;
		nrec++;
	}
	if (records)
		*records = nrec;
	return off;
}

/*
 * Replay fd from its current offset (the start). Sets *good (bytes of magic
 * and good records), *total (bytes in the file), *foreign (the file starts
 * with other bytes than the magic). Returns 0, or -1 on a read error or no
 * memory (errno set).
 */
static int
replay_fd(int fd, const char magic[PX_JOURNAL_MAGIC_LEN], size_t rec_max,
          size_t limit, px_journal_fn fn, void *ctx, size_t *good,
          size_t *total, unsigned long *records, int *foreign)
{
	size_t cap = PX_JOURNAL_READ_CHUNK, len = 0;
	size_t want = rec_max + PX_JOURNAL_HEAD + PX_JOURNAL_MAGIC_LEN;
	char *buf = malloc(cap);
	int have_magic = 0, stop = 0, eof = 0;

	*good = *total = 0;
	*records = 0;
	*foreign = 0;
	if (!buf)
		return -1;
	while (!stop && !eof) {
		ssize_t r;
		size_t off = 0;
		if (len == cap) {
			/* a record larger than the buffer: grow, never past the
			 * largest record the user accepts (then the parser has
			 * answered before the buffer fills) */
			size_t nc = cap * 2 < want ? cap * 2 : want;
			char *nb = nc > cap ? realloc(buf, nc) : NULL;
			if (!nb) {
				free(buf);
				errno = ENOMEM;
				return -1;
			}
			buf = nb;
			cap = nc;
		}
		r = read(fd, buf + len, limit && limit - *total < cap - len ?
		    limit - *total : cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			free(buf);
			errno = e;
			return -1;
		}
		eof = r == 0 || (limit && *total + (size_t)r == limit);
		len += (size_t)r;
		*total += (size_t)r;
		if (!have_magic) {
			size_t m = len < PX_JOURNAL_MAGIC_LEN ? len :
			    PX_JOURNAL_MAGIC_LEN;
			if (memcmp(buf, magic, m) != 0) {
				*foreign = 1;
				stop = 1;
				break;
			}
			if (len < PX_JOURNAL_MAGIC_LEN)
				continue;       /* more, or a torn magic at eof */
			have_magic = 1;
			off = PX_JOURNAL_MAGIC_LEN;
			*good = PX_JOURNAL_MAGIC_LEN;
		}
		for (;;) {
			const char *body;
			size_t bn;
			int type;
			long k = px_journal_parse(buf + off, len - off, rec_max,
			    &type, &body, &bn);
			if (k == PX_JOURNAL_PARTIAL)
				break;
			if (k < 0 || (fn && fn(ctx, type, body, bn,
			    (size_t)k) < 0)) {
				stop = 1;
				break;
			}
			off += (size_t)k;
			*good += (size_t)k;
			(*records)++;
		}
		memmove(buf, buf + off, len - off);
		len -= off;
	}
	/* the rest is only counted */
	while (stop && (!limit || *total < limit)) {
		ssize_t r = read(fd, buf, limit && limit - *total < cap ?
		    limit - *total : cap);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		*total += (size_t)r;
	}
	free(buf);
	return 0;
}

/* see store.h */
int
px_journal_open(struct px_journal *lg, const char *path,
                const char magic[PX_JOURNAL_MAGIC_LEN], size_t rec_max,
                unsigned flags, px_journal_fn fn, void *ctx, char *err,
                size_t errcap)
{
	size_t good, total;
	unsigned long nrec;
	int fd = -1, foreign, e;
	char *bad = NULL;
	const char *what = "open";

	memset(lg, 0, sizeof *lg);
	lg->fd = lg->wfd = -1;
	memcpy(lg->magic, magic, PX_JOURNAL_MAGIC_LEN);
	lg->rec_max = rec_max;
	lg->flags = flags;
	lg->path = str_cat(path, "");
	lg->tmp = str_cat(path, ".tmp");
	if (!lg->path || !lg->tmp) {
		errno = ENOMEM;
		goto fail;
	}
	fd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		goto fail;
	what = "read";
	if (replay_fd(fd, magic, rec_max, 0, fn, ctx, &good, &total, &nrec,
	    &foreign) < 0)
		goto fail;
	close(fd);
	fd = -1;
	if (foreign) {
		/* not ours (or a newer format): keep it, start a new file */
		what = "move aside";
		if (!(bad = str_cat(path, ".bad")) || rename(path, bad) < 0)
			goto fail;
		lg->st.moved_aside = 1;
		good = total = 0;
		nrec = 0;
	}
	what = "open";
	lg->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (lg->fd < 0)
		goto fail;
	what = "truncate";
	if (good < PX_JOURNAL_MAGIC_LEN) {
		/* empty, or a torn magic: start the file */
		if (ftruncate(lg->fd, 0) < 0)
			goto fail;
		what = "write";
		if (write_all(lg->fd, magic, PX_JOURNAL_MAGIC_LEN) < 0)
			goto fail;
		lg->size = PX_JOURNAL_MAGIC_LEN;
	} else {
		/* cut a torn or corrupt tail: appends follow good records */
		if (total > good && ftruncate(lg->fd, (off_t)good) < 0)
			goto fail;
		lg->size = good;
	}
	lg->st.size = lg->size;
	lg->st.dropped = total - good;
	lg->st.records = nrec;
	free(bad);
	return 0;
fail:
	e = errno ? errno : EIO;
	snprintf(err, errcap, "%s: cannot %s: %s", path, what, strerror(e));
	if (fd >= 0)
		close(fd);
	free(bad);
	px_journal_close(lg);
	return -1;
}

/* see store.h */
int
px_journal_read(const char *path, const char magic[PX_JOURNAL_MAGIC_LEN],
                size_t rec_max, size_t limit, px_journal_fn fn, void *ctx,
                struct px_journal_stats *st, char *err, size_t errcap)
{
	size_t good, total;
	unsigned long nrec;
	int fd, foreign, rc;

	memset(st, 0, sizeof *st);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return 1;
	if (fd < 0) {
		snprintf(err, errcap, "%s: cannot open: %s", path,
		    strerror(errno));
		return -1;
	}
	rc = replay_fd(fd, magic, rec_max, limit, fn, ctx, &good, &total,
	    &nrec, &foreign);
	if (rc < 0)
		snprintf(err, errcap, "%s: cannot read: %s", path,
		    strerror(errno));
	else if (foreign) {
		snprintf(err, errcap, "%s: not a file of this kind (it does "
		    "not start with \"%.*s\")", path, PX_JOURNAL_MAGIC_LEN,
		    magic);
		rc = -1;
	}
	close(fd);
	st->size = good;
	st->dropped = total - good;
	st->records = nrec;
	return rc;
}

/* Write iov (total bytes, whole records) at the end; see
 * px_journal_append() for the returns. */
static long
journal_writev(struct px_journal *lg, const struct iovec *iov, int n,
               size_t total)
{
	size_t done = 0;
	int i;

	if (lg->fd < 0)
		return 0;
	while (done < total) {
		/* skip what is written (short writes are rare: regular file) */
		struct iovec v[JIOV_MAX + 1];
		size_t skip = done;
		ssize_t w;
		int m = 0;
		for (i = 0; i < n; i++) {
			if (skip >= iov[i].iov_len) {
				skip -= iov[i].iov_len;
				continue;
			}
			v[m].iov_base = (char *)iov[i].iov_base + skip;
			v[m++].iov_len = iov[i].iov_len - skip;
			skip = 0;
		}
		w = writev(lg->fd, v, m);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			jset_err(lg, "write", w < 0 ? errno : EIO);
			if (ftruncate(lg->fd, (off_t)lg->size) < 0) {
				jset_err(lg, "truncate (persistence off)",
				    errno);
				close(lg->fd);
				lg->fd = -1;
			}
			return -1;
		}
		done += (size_t)w;
	}
	lg->size += total;
	return (long)total;
}

/* see store.h */
long
px_journal_append(struct px_journal *lg, int type, const struct iovec *body,
                  int nbody)
{
	unsigned char h[PX_JOURNAL_HEAD + 1];
	struct iovec iov[JIOV_MAX + 1];
	size_t total;
	int i;

	if (lg->fd < 0)
		return 0;
	if (nbody < 0 || nbody > JIOV_MAX)
		return -1;
	total = px_journal_head(h, type, body, nbody);
	iov[0].iov_base = h;
	iov[0].iov_len = sizeof h;
	for (i = 0; i < nbody; i++)
		iov[i + 1] = body[i];
	return journal_writev(lg, iov, nbody + 1, total);
}

/* see store.h */
long
px_journal_write(struct px_journal *lg, const void *p, size_t n)
{
	struct iovec v;

	if (n == 0)
		return 0;
	v.iov_base = (void *)p;
	v.iov_len = n;
	return journal_writev(lg, &v, 1, n);
}

static void
wflush(struct px_journal *lg)
{
	if (lg->wlen && !lg->wfail && write_all(lg->wfd, lg->wbuf,
	    lg->wlen) < 0) {
		jset_err(lg, "rewrite", errno);
		lg->wfail = 1;
	}
	lg->wlen = 0;
}

/* see store.h */
int
px_journal_rewrite_begin(struct px_journal *lg)
{
	if (!lg->path || lg->wfd >= 0)
		return -1;
	lg->wbuf = malloc(PX_JOURNAL_WBUF);
	if (!lg->wbuf) {
		jset_err(lg, "rewrite", ENOMEM);
		return -1;
	}
	lg->wfd = open(lg->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND |
	    O_CLOEXEC, 0600);
	if (lg->wfd < 0) {
		jset_err(lg, "rewrite: open", errno);
		free(lg->wbuf);
		lg->wbuf = NULL;
		return -1;
	}
	memcpy(lg->wbuf, lg->magic, PX_JOURNAL_MAGIC_LEN);
	lg->wlen = lg->wsize = PX_JOURNAL_MAGIC_LEN;
	lg->wfail = 0;
	return 0;
}

/* see store.h */
long
px_journal_rewrite_add(struct px_journal *lg, int type,
                       const struct iovec *body, int nbody)
{
	unsigned char h[PX_JOURNAL_HEAD + 1];
	size_t total;
	int i;

	if (lg->wfd < 0 || lg->wfail)
		return -1;
	total = px_journal_head(h, type, body, nbody);
	if (lg->wlen + total > PX_JOURNAL_WBUF)
		wflush(lg);
	if (total > PX_JOURNAL_WBUF) {
		if (!lg->wfail && write_all(lg->wfd, h, sizeof h) < 0)
			lg->wfail = 1;
		for (i = 0; i < nbody && !lg->wfail; i++)
			if (write_all(lg->wfd, body[i].iov_base,
			    body[i].iov_len) < 0)
				lg->wfail = 1;
		if (lg->wfail)
			jset_err(lg, "rewrite", errno);
	} else {
		memcpy(lg->wbuf + lg->wlen, h, sizeof h);
		lg->wlen += sizeof h;
		for (i = 0; i < nbody; i++) {
			if (body[i].iov_len)
				memcpy(lg->wbuf + lg->wlen, body[i].iov_base,
				    body[i].iov_len);
			lg->wlen += body[i].iov_len;
		}
	}
	if (lg->wfail)
		return -1;
	lg->wsize += total;
	return (long)total;
}

/* fsync the directory holding path: makes a rename durable */
static int
sync_dir(const char *path)
{
	const char *sl = strrchr(path, '/');
	char *d;
	int fd, rc;

	if (!sl)
		d = str_cat(".", "");
	else if (sl == path)
		d = str_cat("/", "");
	else {
		d = malloc((size_t)(sl - path) + 1);
		if (d) {
			memcpy(d, path, (size_t)(sl - path));
			d[sl - path] = 0;
		}
	}
	if (!d)
		return -1;
	fd = open(d, O_RDONLY | O_CLOEXEC);
	free(d);
	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

/* see store.h */
int
px_journal_rewrite_commit(struct px_journal *lg)
{
	if (lg->wfd < 0)
		return -1;
	wflush(lg);
	if (lg->wfail)
		goto fail;
	if ((lg->flags & PX_JOURNAL_SYNC) && fsync(lg->wfd) < 0) {
		jset_err(lg, "rewrite: fsync", errno);
		goto fail;
	}
	if (rename(lg->tmp, lg->path) < 0) {
		jset_err(lg, "rewrite: rename", errno);
		goto fail;
	}
	if ((lg->flags & PX_JOURNAL_SYNC) && sync_dir(lg->path) < 0)
		jset_err(lg, "rewrite: fsync of the directory", errno);
	if (lg->fd >= 0)
		close(lg->fd);
	lg->fd = lg->wfd;
	lg->wfd = -1;
	lg->size = lg->wsize;
	lg->st.size = lg->size;
	lg->st.rewrites++;
	free(lg->wbuf);
	lg->wbuf = NULL;
	return 0;
fail:
	px_journal_rewrite_abort(lg);
	return -1;
}

/* see store.h */
void
px_journal_rewrite_abort(struct px_journal *lg)
{
	if (lg->wfd >= 0) {
		close(lg->wfd);
		unlink(lg->tmp);
	}
	lg->wfd = -1;
	free(lg->wbuf);
	lg->wbuf = NULL;
	lg->wlen = 0;
}

/* see store.h */
int
px_journal_rewrite_finish(struct px_journal *lg, size_t *size)
{
	int rc = 0;

	if (lg->wfd < 0)
		return -1;
	wflush(lg);
	if (lg->wfail)
		rc = -1;
	else if ((lg->flags & PX_JOURNAL_SYNC) && fsync(lg->wfd) < 0) {
		jset_err(lg, "rewrite: fsync", errno);
		rc = -1;
	}
	*size = lg->wsize;
	close(lg->wfd);
	lg->wfd = -1;
	free(lg->wbuf);
	lg->wbuf = NULL;
	if (rc < 0)
		unlink(lg->tmp);
	return rc;
}

/* see store.h */
int
px_journal_swap(struct px_journal *lg, size_t upto, size_t tmp_size)
{
	char buf[PX_JOURNAL_READ_CHUNK];
	struct stat sb;
	size_t off = upto;
	int tfd = -1, rfd = -1;
	const char *what = "swap: open";

	if (lg->fd < 0 || lg->wfd >= 0 || upto > lg->size) {
		errno = EINVAL;
		goto fail;
	}
	tfd = open(lg->tmp, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (tfd < 0)
		goto fail;
	what = "swap: the rewritten file";
	if (fstat(tfd, &sb) < 0)
		goto fail;
	if ((size_t)sb.st_size != tmp_size) {
		errno = EIO;
		goto fail;
	}
	/* the records appended while the rewrite ran */
	what = "swap: copy";
	if (off < lg->size && (rfd = open(lg->path, O_RDONLY | O_CLOEXEC)) < 0)
		goto fail;
	while (off < lg->size) {
		size_t want = lg->size - off < sizeof buf ? lg->size - off :
		    sizeof buf;
		ssize_t r = pread(rfd, buf, want, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			errno = r < 0 ? errno : EIO;
			goto fail;
		}
		if (write_all(tfd, buf, (size_t)r) < 0)
			goto fail;
		off += (size_t)r;
	}
	what = "swap: fsync";
	if ((lg->flags & PX_JOURNAL_SYNC) && fsync(tfd) < 0)
		goto fail;
	what = "swap: rename";
	if (rename(lg->tmp, lg->path) < 0)
		goto fail;
	if ((lg->flags & PX_JOURNAL_SYNC) && sync_dir(lg->path) < 0)
		jset_err(lg, "swap: fsync of the directory", errno);
	if (rfd >= 0)
		close(rfd);
	close(lg->fd);
	lg->fd = tfd;
	lg->size = tmp_size + (lg->size - upto);
	lg->st.size = lg->size;
	lg->st.rewrites++;
	return 0;
fail:
	jset_err(lg, what, errno ? errno : EIO);
	if (tfd >= 0)
		close(tfd);
	if (rfd >= 0)
		close(rfd);
	unlink(lg->tmp);
	return -1;
}

/* see store.h */
void
px_journal_close(struct px_journal *lg)
{
	px_journal_rewrite_abort(lg);
	if (lg->fd >= 0)
		close(lg->fd);
	lg->fd = -1;
	free(lg->path);
	free(lg->tmp);
	lg->path = lg->tmp = NULL;
}

/* see store.h */
const char *
px_journal_error(struct px_journal *lg)
{
	if (!lg->has_err)
		return NULL;
	lg->has_err = 0;
	return lg->errbuf;
}

/* ==================================================== state directory */

/* mkdir -p with mode 0700; *created = 1 when the last component was made */
static int
mkdirs(char *p, int *created)
{
	char *s;

	*created = 0;
	for (s = p + 1; *s; s++) {
		struct stat sb;
		if (*s != '/')
			continue;
		*s = 0;
		if (mkdir(p, 0700) < 0 && errno != EEXIST &&
		    !(stat(p, &sb) == 0 && S_ISDIR(sb.st_mode))) {
			*s = '/';
			return -1;
		}
		*s = '/';
	}
	if (mkdir(p, 0700) == 0) {
		*created = 1;
		return 0;
	}
	return errno == EEXIST ? 0 : -1;
}

/* see store.h */
int
px_file_replace(const char *dir, const char *path, const char *tmp,
    const void *buf, size_t n, void (*before_rename)(int), char *err,
    size_t errcap)
{
	const char *p = buf;
	ssize_t w;
	int fd, dfd;

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (fd < 0 || fchmod(fd, 0600) < 0)
		goto fail;
	while (n > 0) {
		w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			goto fail;
		p += w;
		n -= (size_t)w;
	}
	if (fsync(fd) < 0)
		goto fail;
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (before_rename)
		before_rename(1);
	if (rename(tmp, path) < 0) {
		snprintf(err, errcap, "%s: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	/* the rename itself is durable once the directory is synced */
	if ((dfd = open(dir, O_RDONLY | O_CLOEXEC)) >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
fail:
	snprintf(err, errcap, "%s: %s", tmp, strerror(errno));
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return -1;
}

/* see store.h */
int
px_state_dir(const char *configured, char *out, size_t outcap,
             const char **source, char *err, size_t errcap)
{
	char path[PX_STATE_DIR_MAX];
	const char *v, *src = NULL;
	struct stat sb;
	size_t n;
	int created, k = -1;

	if (configured && configured[0]) {
		k = snprintf(path, sizeof path, "%s", configured);
		src = "state_dir";
	} else if ((v = getenv("LLMPROXY_STATE_DIR")) && v[0]) {
		k = snprintf(path, sizeof path, "%s", v);
		src = "$LLMPROXY_STATE_DIR";
	} else if ((v = getenv("STATE_DIRECTORY")) && v[0] && v[0] != ':') {
		/* systemd passes a colon-separated list: the first is ours */
		k = snprintf(path, sizeof path, "%.*s", (int)strcspn(v, ":"), v);
		src = "$STATE_DIRECTORY";
	} else if ((v = getenv("XDG_STATE_HOME")) && v[0] == '/') {
		/* XDG: a relative value is invalid and ignored */
		k = snprintf(path, sizeof path, "%s/llmproxy", v);
		src = "$XDG_STATE_HOME";
	} else if ((v = getenv("HOME")) && v[0]) {
		k = snprintf(path, sizeof path, "%s/.local/state/llmproxy", v);
		src = "$HOME";
	} else {
		snprintf(err, errcap, "no state directory: set \"state_dir\" "
		    "in the config or $LLMPROXY_STATE_DIR (HOME is not set)");
		return -1;
	}
	if (k < 0 || (size_t)k >= sizeof path) {
		snprintf(err, errcap, "state directory (from %s): path too "
		    "long", src);
		return -1;
	}
	n = (size_t)k;
	while (n > 1 && path[n - 1] == '/')
		path[--n] = 0;
	if (n + 1 > outcap) {
		snprintf(err, errcap, "state directory %s: path too long",
		    path);
		return -1;
	}
	if (mkdirs(path, &created) < 0) {
		snprintf(err, errcap, "state directory %s (from %s): cannot "
		    "create: %s", path, src, strerror(errno));
		return -1;
	}
	/* mkdir's mode went through the umask: make it exactly 0700 */
	if (created && chmod(path, 0700) < 0) {
		snprintf(err, errcap, "state directory %s: chmod: %s", path,
		    strerror(errno));
		return -1;
	}
	if (stat(path, &sb) < 0) {
		snprintf(err, errcap, "state directory %s: %s", path,
		    strerror(errno));
		return -1;
	}
	if (!S_ISDIR(sb.st_mode)) {
		snprintf(err, errcap, "state directory %s (from %s) is not a "
		    "directory", path, src);
		return -1;
	}
	if (sb.st_uid != geteuid()) {
		snprintf(err, errcap, "state directory %s (from %s) is owned "
		    "by uid %u, not by the user llmproxy runs as (uid %u); "
		    "refusing to keep keys and usage records there", path,
		    src, (unsigned)sb.st_uid, (unsigned)geteuid());
		return -1;
	}
	if (sb.st_mode & 022) {
		snprintf(err, errcap, "state directory %s (from %s) is "
		    "writable by group or others (mode %04o); run "
		    "\"chmod go-w %s\" or choose another directory", path, src,
		    (unsigned)(sb.st_mode & 07777), path);
		return -1;
	}
	memcpy(out, path, n + 1);
	if (source)
		*source = src;
	return 0;
}

/* ============================================================ key/value */

/* longest store record body the journal accepts (type included) */
#define STORE_REC_MAX (PX_STORE_FIXED + PX_STORE_KEY_MAX + \
	(size_t)PX_STORE_VAL_MAX)

struct ent {
	struct ent *hnext;           /* hash chain */
	struct ent *prev, *next;     /* LRU list, head = most recent */
	long long expires;           /* unix ms, 0 = never */
	uint32_t hash;
	size_t kn, vn;
	size_t disk;                 /* bytes of its put record in the log */
	char data[];                 /* key, NUL, value, NUL */
};

struct px_store {
	struct px_store_opts o;
	struct px_journal lg;
	int has_log;                 /* opened with a path */
	struct ent **tab;
	size_t nb;                   /* buckets, a power of two */
	struct ent *head, *tail;
	size_t count, bytes;
	size_t log_live;
	struct px_store_stats st;    /* counters; sizes filled on demand */
};

static uint32_t
hash_key(const char *k, size_t n)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= (unsigned char)k[i];
		h *= 16777619u;
	}
	return h;
}

static size_t
ent_cost(size_t kn, size_t vn)
{
	return sizeof(struct ent) + kn + vn + 2;
}

/* ------------------------------------------------------------ records */

/* Fields of a store record body (after the type byte); -1 when they
 * cannot be a record. */
static int
rec_fields(int type, const char *body, size_t n, struct px_store_rec *r)
{
	const unsigned char *u = (const unsigned char *)body;
	uint32_t kn, vn;

	if (n < PX_STORE_FIXED - 1)
		return -1;
	kn = get32(u + 8);
	vn = get32(u + 12);
	if ((type != 'P' && type != 'D') || kn == 0 || kn > PX_STORE_KEY_MAX ||
	    vn > PX_STORE_VAL_MAX ||
	    (uint64_t)kn + vn != n - (PX_STORE_FIXED - 1) ||
	    (type == 'D' && vn != 0))
		return -1;
	r->type = type;
	r->expires = (long long)get64(u);
	r->key = body + PX_STORE_FIXED - 1;
	r->kn = kn;
	r->val = r->key + kn;
	r->vn = vn;
	return r->expires < 0 ? -1 : 0;
}

/* see store.h */
void
px_store_rec_head(unsigned char out[PX_STORE_HEAD + PX_STORE_FIXED],
                  int type, long long expires, const char *key, size_t kn,
                  const void *val, size_t vn)
{
	unsigned char *f = out + PX_STORE_HEAD + 1;
	struct iovec v[3];

	put64(f, (uint64_t)expires);
	put32(f + 8, (uint32_t)kn);
	put32(f + 12, (uint32_t)vn);
	v[0].iov_base = f;
	v[0].iov_len = PX_STORE_FIXED - 1;
	v[1].iov_base = (void *)key;
	v[1].iov_len = kn;
	v[2].iov_base = (void *)val;
	v[2].iov_len = vn;
	px_journal_head(out, type, v, 3);
}

/* see store.h */
long
px_store_rec_parse(const char *p, size_t n, struct px_store_rec *r)
{
	const char *body;
	size_t bn;
	uint32_t len;
	int type;
	long k;

	if (n < PX_STORE_HEAD)
		return PX_STORE_PARTIAL;
	len = get32((const unsigned char *)p);
	if (len < PX_STORE_FIXED + 1 || len > STORE_REC_MAX)
		return PX_STORE_ERROR;
	k = px_journal_parse(p, n, STORE_REC_MAX, &type, &body, &bn);
	if (k <= 0)
		return k;
	return rec_fields(type, body, bn, r) < 0 ? PX_STORE_ERROR : k;
}

/* ------------------------------------------------------------ table */

static struct ent **
slot(struct px_store *s, const char *key, size_t kn, uint32_t h)
{
	struct ent **pp = &s->tab[h & (s->nb - 1)];

	while (*pp && ((*pp)->hash != h || (*pp)->kn != kn ||
	    memcmp((*pp)->data, key, kn) != 0))
		pp = &(*pp)->hnext;
	return pp;
}

static int
grow(struct px_store *s)
{
	size_t nb = s->nb * 2, i;
	struct ent **t = calloc(nb, sizeof *t);

	if (!t)
		return -1;
	for (i = 0; i < s->nb; i++) {
		struct ent *e = s->tab[i], *nx;
		for (; e; e = nx) {
			nx = e->hnext;
			e->hnext = t[e->hash & (nb - 1)];
			t[e->hash & (nb - 1)] = e;
		}
	}
	free(s->tab);
	s->tab = t;
	s->nb = nb;
	return 0;
}

static void
lru_unlink(struct px_store *s, struct ent *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		s->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		s->tail = e->prev;
	e->prev = e->next = NULL;
}

static void
lru_front(struct px_store *s, struct ent *e)
{
	e->prev = NULL;
	e->next = s->head;
	if (s->head)
		s->head->prev = e;
	s->head = e;
	if (!s->tail)
		s->tail = e;
}

/* Remove e (found at *pp in its chain) and free it. */
static void
drop(struct px_store *s, struct ent **pp, struct ent *e)
{
	*pp = e->hnext;
	lru_unlink(s, e);
	s->count--;
	s->bytes -= ent_cost(e->kn, e->vn);
	s->log_live -= e->disk;
	free(e);
}

static void
drop_ent(struct px_store *s, struct ent *e)
{
	drop(s, slot(s, e->data, e->kn, e->hash), e);
}

static int
expired(const struct ent *e, long long now)
{
	return e->expires && e->expires <= now;
}

/* ------------------------------------------------------------ log */

/* Append one record; returns its size, or 0 when the log is off or the
 * write failed (then the log is cut back to its last good record). */
static size_t
log_append(struct px_store *s, int type, long long expires, const char *key,
           size_t kn, const void *val, size_t vn)
{
	unsigned char f[PX_STORE_FIXED - 1];
	struct iovec v[3];
	long k;

	if (!s->has_log || s->lg.fd < 0)
		return 0;
	put64(f, (uint64_t)expires);
	put32(f + 8, (uint32_t)kn);
	put32(f + 12, (uint32_t)vn);
	v[0].iov_base = f;
	v[0].iov_len = sizeof f;
	v[1].iov_base = (void *)key;
	v[1].iov_len = kn;
	v[2].iov_base = (void *)val;
	v[2].iov_len = vn;
	k = px_journal_append(&s->lg, type, v, vn ? 3 : 2);
	return k > 0 ? (size_t)k : 0;
}

/* see store.h */
int
px_store_compact(struct px_store *s)
{
	struct ent *e;
	size_t live = 0;

	if (!s->has_log)
		return 0;
	if (px_journal_rewrite_begin(&s->lg) < 0)
		return -1;
	/* oldest first: a replay rebuilds the same LRU order */
	for (e = s->tail; e; e = e->prev) {
		unsigned char f[PX_STORE_FIXED - 1];
		struct iovec v[3];
		put64(f, (uint64_t)e->expires);
		put32(f + 8, (uint32_t)e->kn);
		put32(f + 12, (uint32_t)e->vn);
		v[0].iov_base = f;
		v[0].iov_len = sizeof f;
		v[1].iov_base = e->data;
		v[1].iov_len = e->kn;
		v[2].iov_base = e->data + e->kn + 1;
		v[2].iov_len = e->vn;
		if (px_journal_rewrite_add(&s->lg, 'P', v, 3) < 0) {
			px_journal_rewrite_abort(&s->lg);
			return -1;
		}
	}
	if (px_journal_rewrite_commit(&s->lg) < 0)
		return -1;
	for (e = s->tail; e; e = e->prev) {
		e->disk = PX_STORE_HEAD + PX_STORE_FIXED + e->kn + e->vn;
		live += e->disk;
	}
	s->log_live = live;
	s->st.compactions++;
	return 0;
}

static void
maybe_compact(struct px_store *s)
{
	size_t dead;

	if (!s->has_log || s->lg.fd < 0)
		return;
	dead = s->lg.size - PX_STORE_MAGIC_LEN - s->log_live;
	if (dead > s->log_live && dead >= PX_STORE_COMPACT_MIN)
		px_store_compact(s);
}

/* ------------------------------------------------------------ core */

/* Insert key -> val (replacing), then evict to the bounds. disk: bytes of
 * the record that holds it in the log (0 when none). */
static int
put_ent(struct px_store *s, const char *key, size_t kn, const void *val,
        size_t vn, long long expires, size_t disk)
{
	uint32_t h = hash_key(key, kn);
	struct ent **pp = slot(s, key, kn, h), *e;
	size_t cost = ent_cost(kn, vn);

	if (*pp)
		drop(s, pp, *pp);
	if (kn == 0 || kn > PX_STORE_KEY_MAX || vn > PX_STORE_VAL_MAX ||
	    cost > s->o.max_bytes)
		return -1;
	if (s->count + 1 > s->nb && grow(s) == 0)
		pp = slot(s, key, kn, h);
	e = malloc(cost - sizeof(struct ent) + sizeof *e);
	if (!e)
		return -1;
	memset(e, 0, sizeof *e);
	e->hash = h;
	e->kn = kn;
	e->vn = vn;
	e->expires = expires;
	memcpy(e->data, key, kn);
	e->data[kn] = 0;
	if (vn)
		memcpy(e->data + kn + 1, val, vn);
	e->data[kn + 1 + vn] = 0;
	e->disk = disk;
	*pp = e;
	lru_front(s, e);
	s->count++;
	s->bytes += cost;
	s->log_live += disk;
	while (s->tail != e && (s->bytes > s->o.max_bytes ||
	    (s->o.max_entries && s->count > s->o.max_entries))) {
		drop_ent(s, s->tail);
		s->st.evicted++;
	}
	return 0;
}

/* see store.h */
int
px_store_put(struct px_store *s, const char *key, size_t kn, const void *val,
             size_t vn, long long now)
{
	long long exp = s->o.ttl_ms > 0 ? now + s->o.ttl_ms : 0;
	size_t disk = 0;
	int rc;

	if (kn == 0 || kn > PX_STORE_KEY_MAX || vn > PX_STORE_VAL_MAX ||
	    ent_cost(kn, vn) > s->o.max_bytes) {
		px_store_del(s, key, kn, now);
		return -1;
	}
	disk = log_append(s, 'P', exp, key, kn, val, vn);
	rc = put_ent(s, key, kn, val, vn, exp, disk);
	if (rc < 0 && disk)
		log_append(s, 'D', 0, key, kn, NULL, 0);
	maybe_compact(s);
	return rc;
}

/* see store.h */
int
px_store_get(struct px_store *s, const char *key, size_t kn, long long now,
             const char **val, size_t *vn)
{
	struct ent **pp, *e;

	if (kn == 0 || kn > PX_STORE_KEY_MAX)
		return 0;
	pp = slot(s, key, kn, hash_key(key, kn));
	if (!(e = *pp))
		return 0;
	if (expired(e, now)) {
		drop(s, pp, e);
		s->st.expired++;
		return 0;
	}
	lru_unlink(s, e);
	lru_front(s, e);
	*val = e->data + e->kn + 1;
	*vn = e->vn;
	return 1;
}

/* see store.h */
int
px_store_del(struct px_store *s, const char *key, size_t kn, long long now)
{
	struct ent **pp, *e;
	int had;

	(void)now;
	if (kn == 0 || kn > PX_STORE_KEY_MAX)
		return 0;
	pp = slot(s, key, kn, hash_key(key, kn));
	e = *pp;
	had = e != NULL && !expired(e, now);
	if (e)
		drop(s, pp, e);
	/* logged even when absent: an evicted entry's put may still be in
	 * the log and must not come back at the next start */
	log_append(s, 'D', 0, key, kn, NULL, 0);
	maybe_compact(s);
	return had;
}

/* see store.h */
size_t
px_store_sweep(struct px_store *s, long long now)
{
	struct ent *e, *nx;
	size_t n = 0;

	for (e = s->head; e; e = nx) {
		nx = e->next;
		if (expired(e, now)) {
			drop_ent(s, e);
			n++;
		}
	}
	s->st.expired += n;
	maybe_compact(s);
	return n;
}

struct replay_ctx {
	struct px_store *s;
	long long now;
	int disk;                    /* count record sizes as log bytes */
};

/* Journal callback: apply one record; -1 stops the replay (not a store
 * record: the rest of the log is dropped). */
static int
replay_rec(void *ctx, int type, const char *body, size_t n, size_t rec_bytes)
{
	struct replay_ctx *rc = ctx;
	struct px_store *s = rc->s;
	struct px_store_rec r;

	if (rec_fields(type, body, n, &r) < 0)
		return -1;
	if (r.type == 'D' || (r.expires && r.expires <= rc->now)) {
		struct ent **pp = slot(s, r.key, r.kn, hash_key(r.key, r.kn));
		if (*pp)
			drop(s, pp, *pp);
		if (r.type == 'P')
			s->st.skipped++;
		else
			s->st.replayed++;
		return 0;
	}
	put_ent(s, r.key, r.kn, r.val, r.vn, r.expires,
	    rc->disk ? rec_bytes : 0);
	s->st.replayed++;
	return 0;
}

/* see store.h */
size_t
px_store_replay(struct px_store *s, const char *p, size_t n, long long now)
{
	struct replay_ctx rc;
	size_t good;

	rc.s = s;
	rc.now = now;
	rc.disk = s->has_log;
	good = px_journal_replay(p, n, PX_STORE_MAGIC, STORE_REC_MAX,
	    replay_rec, &rc, NULL);
	s->st.dropped_tail += n - good;
	return good;
}

/* see store.h */
struct px_store *
px_store_open(const struct px_store_opts *opts, long long now, char *err,
              size_t errcap)
{
	struct px_store *s = calloc(1, sizeof *s);
	struct replay_ctx rc;

	if (!s || !(s->tab = calloc(64, sizeof *s->tab))) {
		free(s);
		snprintf(err, errcap, "store: out of memory");
		return NULL;
	}
	s->nb = 64;
	s->o = *opts;
	s->o.path = NULL;
	s->lg.fd = s->lg.wfd = -1;
	if (!opts->path || !opts->path[0])
		return s;
	rc.s = s;
	rc.now = now;
	rc.disk = 1;
	if (px_journal_open(&s->lg, opts->path, PX_STORE_MAGIC, STORE_REC_MAX,
	    0, replay_rec, &rc, err, errcap) < 0) {
		px_store_close(s);
		return NULL;
	}
	s->has_log = 1;
	s->st.dropped_tail = s->lg.st.dropped;
	if (s->lg.size - PX_STORE_MAGIC_LEN - s->log_live > s->log_live &&
	    px_store_compact(s) < 0) {
		/* rewrite: drops the dead records */
		snprintf(err, errcap, "store: cannot rewrite %s: %s",
		    opts->path, px_journal_error(&s->lg));
		px_store_close(s);
		return NULL;
	}
	return s;
}

/* see store.h */
void
px_store_close(struct px_store *s)
{
	struct ent *e, *nx;

	if (!s)
		return;
	for (e = s->head; e; e = nx) {
		nx = e->next;
		free(e);
	}
	if (s->has_log)
		px_journal_close(&s->lg);
	free(s->tab);
	free(s);
}

/* see store.h */
void
px_store_stats(const struct px_store *s, struct px_store_stats *st)
{
	int on = s->has_log && s->lg.fd >= 0;

	*st = s->st;
	st->entries = s->count;
	st->bytes = s->bytes;
	st->log_bytes = on ? s->lg.size : 0;
	st->log_live = on ? s->log_live : 0;
}

/* see store.h */
const char *
px_store_error(struct px_store *s)
{
	return s->has_log ? px_journal_error(&s->lg) : NULL;
}
