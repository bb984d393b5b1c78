/*
 * test_store.c - persistence (store.c): the journal (records of several
 * types, a torn tail cut at every offset, every byte of the last record
 * corrupted, a foreign file moved aside, rewrite and abort, read-only
 * and prefix replay, the two-step rewrite and swap, a failing write
 * undone), the state directory (each source, the
 * modes and owners it refuses), and the bounded key -> value store on top:
 * put/get/delete, TTL on a fake clock, LRU eviction by entries and by
 * bytes, the log (round trip, torn tail, corrupt checksum, compaction), the
 * record parser at every split, and the Responses chain helpers built on it.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "convert.h"
#include "store.h"
#include "testutil.h"

static char dir[256];
static char logpath[300];

static void
mkdir_tmp(void)
{
	snprintf(dir, sizeof dir, "%s/pxstore.XXXXXX",
	    getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(logpath, sizeof logpath, "%s/s.log", dir);
}

static void
rm_tmp(void)
{
	char p[320];

	unlink(logpath);
	snprintf(p, sizeof p, "%s.tmp", logpath);
	unlink(p);
	snprintf(p, sizeof p, "%s.bad", logpath);
	unlink(p);
	ck_assert_int_eq(rmdir(dir), 0);
}

static struct px_store *
open_store(size_t max_bytes, size_t max_entries, long long ttl,
           const char *path, long long now)
{
	struct px_store_opts o;
	char err[256];
	struct px_store *s;

	memset(&o, 0, sizeof o);
	o.max_bytes = max_bytes;
	o.max_entries = max_entries;
	o.ttl_ms = ttl;
	o.path = path;
	err[0] = 0;
	s = px_store_open(&o, now, err, sizeof err);
	ck_assert_msg(s != NULL, "open: %s", err);
	return s;
}

static void
put(struct px_store *s, const char *k, const char *v, long long now)
{
	ck_assert_int_eq(px_store_put(s, k, strlen(k), v, strlen(v), now), 0);
}

/* value of k, or NULL */
static const char *
get(struct px_store *s, const char *k, long long now)
{
	const char *v;
	size_t n;

	if (!px_store_get(s, k, strlen(k), now, &v, &n))
		return NULL;
	ck_assert_uint_eq(strlen(v), n);     /* NUL-terminated */
	return v;
}

static size_t
nentries(const struct px_store *s)
{
	struct px_store_stats st;

	px_store_stats(s, &st);
	return st.entries;
}

static char *
slurp(const char *path, size_t *n)
{
	char *p = read_file(path, n);
	ck_assert_ptr_nonnull(p);
	return p;
}

static void
spit(const char *path, const char *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, p, n), (ssize_t)n);
	close(fd);
}


/* ------------------------------------------------------------ journal */

#define JMAGIC "PXTEST01"

/* what a replay saw: "T:body|" per record */
struct seen { char buf[8192]; size_t n; int reject_type; };

static int
seen_rec(void *ctx, int type, const char *body, size_t n, size_t rec_bytes)
{
	struct seen *sn = ctx;

	ck_assert_uint_eq(rec_bytes, PX_JOURNAL_HEAD + 1 + n);
	if (type == sn->reject_type)
		return -1;
	ck_assert_uint_lt(sn->n + n + 3, sizeof sn->buf);
	sn->buf[sn->n++] = (char)type;
	sn->buf[sn->n++] = ':';
	memcpy(sn->buf + sn->n, body, n);
	sn->n += n;
	sn->buf[sn->n++] = '|';
	sn->buf[sn->n] = 0;
	return 0;
}

static void
jopen(struct px_journal *lg, struct seen *sn, unsigned flags)
{
	char err[256];

	memset(sn, 0, sizeof *sn);
	err[0] = 0;
	ck_assert_msg(px_journal_open(lg, logpath, JMAGIC, 64, flags, seen_rec,
	    sn, err, sizeof err) == 0, "open: %s", err);
}

static void
jappend(struct px_journal *lg, int type, const char *a, const char *b)
{
	struct iovec v[2];
	long k;

	v[0].iov_base = (void *)a;
	v[0].iov_len = strlen(a);
	v[1].iov_base = (void *)b;
	v[1].iov_len = b ? strlen(b) : 0;
	k = px_journal_append(lg, type, v, b ? 2 : 1);
	ck_assert_int_eq(k, (long)(PX_JOURNAL_HEAD + 1 + v[0].iov_len +
	    v[1].iov_len));
}

static off_t
fsize(const char *path)
{
	struct stat sb;

	ck_assert_int_eq(stat(path, &sb), 0);
	return sb.st_size;
}

START_TEST(t_journal_roundtrip)
{
	struct px_journal lg;
	struct seen sn;
	char batch[256];
	size_t bn = 0, k;
	struct stat sb;

	mkdir_tmp();
	jopen(&lg, &sn, 0);
	ck_assert_uint_eq(lg.st.records, 0);
	ck_assert_int_eq(fsize(logpath), PX_JOURNAL_MAGIC_LEN);
	ck_assert_int_eq(stat(logpath, &sb), 0);
	ck_assert_int_eq(sb.st_mode & 0777, 0600);
	jappend(&lg, 'A', "alpha", NULL);
	jappend(&lg, 'B', "be", "ta");                 /* pieces join */
	jappend(&lg, 'C', "", NULL);                   /* empty body */
	/* a batch of framed records in one write */
	k = px_journal_frame(batch + bn, sizeof batch - bn, 'D', "one", 3);
	ck_assert_uint_eq(k, PX_JOURNAL_HEAD + 4);
	bn += k;
	bn += px_journal_frame(batch + bn, sizeof batch - bn, 'E', "two", 3);
	ck_assert_uint_eq(px_journal_frame(batch, 11, 'X', "abc", 3), 0);
	ck_assert_int_eq(px_journal_write(&lg, batch, bn), (long)bn);
	ck_assert_uint_eq(lg.size, (size_t)fsize(logpath));
	px_journal_close(&lg);

	jopen(&lg, &sn, 0);
	ck_assert_str_eq(sn.buf, "A:alpha|B:beta|C:|D:one|E:two|");
	ck_assert_uint_eq(lg.st.records, 5);
	ck_assert_uint_eq(lg.st.dropped, 0);
	px_journal_close(&lg);

	/* the same image from memory, and a callback that rejects 'C' */
	{
		size_t n, good;
		unsigned long nrec;
		char *img = slurp(logpath, &n);
		memset(&sn, 0, sizeof sn);
		good = px_journal_replay(img, n, JMAGIC, 64, seen_rec, &sn, &nrec);
		ck_assert_uint_eq(good, n);
		ck_assert_uint_eq(nrec, 5);
		memset(&sn, 0, sizeof sn);
		sn.reject_type = 'C';
		good = px_journal_replay(img, n, JMAGIC, 64, seen_rec, &sn, &nrec);
		ck_assert_str_eq(sn.buf, "A:alpha|B:beta|");
		ck_assert_uint_eq(nrec, 2);
		ck_assert_uint_eq(good, PX_JOURNAL_MAGIC_LEN + 2 * PX_JOURNAL_HEAD +
		    2 + 5 + 4);
		/* another magic: nothing */
		ck_assert_uint_eq(px_journal_replay(img, n, "PXTEST02", 64, NULL,
		    NULL, &nrec), 0);
		/* a longer record than the user allows is corrupt */
		ck_assert_uint_eq(px_journal_replay(img, n, JMAGIC, 5, NULL, NULL,
		    &nrec), PX_JOURNAL_MAGIC_LEN);
		free(img);
	}
	rm_tmp();
}
END_TEST

/* Journal with records r1..r3 ("R:rec-1" ...); off[i] = start of record i,
 * off[3] = end. */
static char *
jthree(size_t *n, size_t off[4])
{
	struct px_journal lg;
	struct seen sn;
	int i;

	unlink(logpath);
	jopen(&lg, &sn, 0);
	for (i = 0; i < 3; i++) {
		char b[16];
		off[i] = lg.size;
		snprintf(b, sizeof b, "rec-%d", i + 1);
		jappend(&lg, 'R', b, NULL);
	}
	off[3] = lg.size;
	px_journal_close(&lg);
	return slurp(logpath, n);
}

START_TEST(t_journal_tail_every_offset)
{
	size_t n, off[4], cut, want;
	char *img;

	mkdir_tmp();
	img = jthree(&n, off);
	for (cut = 0; cut <= n; cut++) {
		struct px_journal lg;
		struct seen sn;
		const char *exp;
		spit(logpath, img, cut);
		jopen(&lg, &sn, 0);
		want = cut < PX_JOURNAL_MAGIC_LEN ? PX_JOURNAL_MAGIC_LEN :
		    cut < off[1] ? off[0] : cut < off[2] ? off[1] :
		    cut < off[3] ? off[2] : off[3];
		exp = want == off[3] ? "R:rec-1|R:rec-2|R:rec-3|" :
		    want == off[2] ? "R:rec-1|R:rec-2|" :
		    want == off[1] ? "R:rec-1|" : "";
		ck_assert_str_eq(sn.buf, exp);
		ck_assert_uint_eq(lg.st.dropped, cut > want ? cut - want :
		    cut < PX_JOURNAL_MAGIC_LEN ? cut : 0);
		ck_assert_uint_eq(lg.size, want);
		/* the tail is cut: the file is the good prefix, and a new
		 * record follows it */
		ck_assert_int_eq(fsize(logpath), (off_t)want);
		jappend(&lg, 'N', "new", NULL);
		px_journal_close(&lg);
		jopen(&lg, &sn, 0);
		ck_assert_uint_eq(lg.st.dropped, 0);
		ck_assert_uint_eq(strlen(sn.buf), strlen(exp) + 6);
		ck_assert_str_eq(sn.buf + strlen(exp), "N:new|");
		px_journal_close(&lg);
	}
	free(img);
	rm_tmp();
}
END_TEST

START_TEST(t_journal_corrupt_every_byte)
{
	size_t n, off[4], i;
	char *img;

	mkdir_tmp();
	img = jthree(&n, off);
	for (i = off[2]; i < n; i++) {
		struct px_journal lg;
		struct seen sn;
		img[i] ^= 0x5a;
		spit(logpath, img, n);
		jopen(&lg, &sn, 0);
		/* a damaged length can make the record look longer: then it
		 * is torn, not corrupt; either way it is dropped */
		ck_assert_str_eq(sn.buf, "R:rec-1|R:rec-2|");
		ck_assert_uint_eq(lg.st.dropped, n - off[2]);
		ck_assert_int_eq(fsize(logpath), (off_t)off[2]);
		px_journal_close(&lg);
		img[i] ^= 0x5a;
	}
	/* damage in the middle: everything after it goes too */
	img[off[1] + PX_JOURNAL_HEAD + 2] ^= 1;
	spit(logpath, img, n);
	{
		struct px_journal lg;
		struct seen sn;
		jopen(&lg, &sn, 0);
		ck_assert_str_eq(sn.buf, "R:rec-1|");
		ck_assert_uint_eq(lg.st.dropped, n - off[1]);
		px_journal_close(&lg);
	}
	free(img);
	rm_tmp();
}
END_TEST

START_TEST(t_journal_foreign)
{
	struct px_journal lg;
	struct seen sn;
	char bad[320], *b;
	size_t bn;

	mkdir_tmp();
	snprintf(bad, sizeof bad, "%s.bad", logpath);
	/* another format's file: moved aside, byte for byte */
	spit(logpath, "PXTEST02 newer format", 21);
	jopen(&lg, &sn, 0);
	ck_assert_int_eq(lg.st.moved_aside, 1);
	ck_assert_uint_eq(lg.st.dropped, 0);
	jappend(&lg, 'A', "a", NULL);
	px_journal_close(&lg);
	b = slurp(bad, &bn);
	ck_assert_uint_eq(bn, 21);
	ck_assert_int_eq(memcmp(b, "PXTEST02 newer format", 21), 0);
	free(b);
	jopen(&lg, &sn, 0);
	ck_assert_str_eq(sn.buf, "A:a|");
	ck_assert_int_eq(lg.st.moved_aside, 0);
	px_journal_close(&lg);
	/* shorter than a magic and not its prefix: foreign too */
	spit(logpath, "abc", 3);
	jopen(&lg, &sn, 0);
	ck_assert_int_eq(lg.st.moved_aside, 1);
	px_journal_close(&lg);
	/* a torn magic (crash while creating): ours, restarted */
	unlink(bad);
	spit(logpath, "PXTE", 4);
	jopen(&lg, &sn, 0);
	ck_assert_int_eq(lg.st.moved_aside, 0);
	ck_assert_uint_eq(lg.st.dropped, 4);
	ck_assert_int_eq(fsize(logpath), PX_JOURNAL_MAGIC_LEN);
	px_journal_close(&lg);
	ck_assert_int_eq(access(bad, F_OK), -1);
	/* a directory that does not exist: an error, not a crash */
	{
		char err[256];
		char p[320];
		snprintf(p, sizeof p, "%s/nodir/x.log", dir);
		ck_assert_int_eq(px_journal_open(&lg, p, JMAGIC, 64, 0, NULL, NULL,
		    err, sizeof err), -1);
		ck_assert_ptr_nonnull(strstr(err, "cannot open"));
	}
	rm_tmp();
}
END_TEST

START_TEST(t_journal_rewrite)
{
	struct px_journal lg;
	struct seen sn;
	struct iovec v;
	char tmp[320];
	unsigned flags;

	mkdir_tmp();
	snprintf(tmp, sizeof tmp, "%s.tmp", logpath);
	for (flags = 0; flags <= PX_JOURNAL_SYNC; flags += PX_JOURNAL_SYNC) {
		unlink(logpath);
		jopen(&lg, &sn, flags);
		jappend(&lg, 'A', "old-1", NULL);
		jappend(&lg, 'A', "old-2", NULL);
		/* abort: the old journal stays and goes on */
		ck_assert_int_eq(px_journal_rewrite_begin(&lg), 0);
		v.iov_base = "x";
		v.iov_len = 1;
		ck_assert_int_eq(px_journal_rewrite_add(&lg, 'K', &v, 1),
		    PX_JOURNAL_HEAD + 2);
		px_journal_rewrite_abort(&lg);
		ck_assert_int_eq(access(tmp, F_OK), -1);
		jappend(&lg, 'A', "old-3", NULL);
		/* commit: the new content, appends go on after it */
		ck_assert_int_eq(px_journal_rewrite_begin(&lg), 0);
		v.iov_base = "kept";
		v.iov_len = 4;
		ck_assert_int_eq(px_journal_rewrite_add(&lg, 'K', &v, 1),
		    PX_JOURNAL_HEAD + 5);
		{
			/* a record larger than the rewrite buffer */
			static char big[PX_JOURNAL_WBUF + 10];
			struct px_journal_stats st;
			char err[128];
			memset(big, 'b', sizeof big);
			v.iov_base = big;
			v.iov_len = sizeof big;
			ck_assert_int_eq(px_journal_rewrite_add(&lg, 'G', &v, 1),
			    (long)(PX_JOURNAL_HEAD + 1 + sizeof big));
			ck_assert_int_eq(px_journal_rewrite_commit(&lg), 0);
			ck_assert_uint_eq(lg.st.rewrites, 1);
			ck_assert_int_eq(access(tmp, F_OK), -1);
			jappend(&lg, 'A', "after", NULL);
			ck_assert_uint_eq(lg.size, (size_t)fsize(logpath));
			px_journal_close(&lg);
			/* read-only replay with a bound that admits big */
			memset(&sn, 0, sizeof sn);
			ck_assert_int_eq(px_journal_read(logpath, JMAGIC,
			    2 * sizeof big, 0, NULL, NULL, &st, err, sizeof err), 0);
			ck_assert_uint_eq(st.records, 3);
			ck_assert_uint_eq(st.dropped, 0);
		}
	}
	rm_tmp();
}
END_TEST

START_TEST(t_journal_read_only)
{
	size_t n, off[4];
	char *img, err[256];
	struct px_journal_stats st;
	struct seen sn;

	mkdir_tmp();
	ck_assert_int_eq(px_journal_read(logpath, JMAGIC, 64, 0, NULL, NULL, &st,
	    err, sizeof err), 1);                       /* missing */
	img = jthree(&n, off);
	spit(logpath, img, n - 2);                      /* torn */
	memset(&sn, 0, sizeof sn);
	ck_assert_int_eq(px_journal_read(logpath, JMAGIC, 64, 0, seen_rec, &sn,
	    &st, err, sizeof err), 0);
	ck_assert_str_eq(sn.buf, "R:rec-1|R:rec-2|");
	ck_assert_uint_eq(st.size, off[2]);
	ck_assert_uint_eq(st.dropped, n - 2 - off[2]);
	ck_assert_int_eq(fsize(logpath), (off_t)(n - 2)); /* left alone */
	spit(logpath, "something else", 14);
	ck_assert_int_eq(px_journal_read(logpath, JMAGIC, 64, 0, NULL, NULL, &st,
	    err, sizeof err), -1);
	ck_assert_ptr_nonnull(strstr(err, "not a file of this kind"));
	free(img);
	rm_tmp();
}
END_TEST

/* The rewrite in two steps: a rewrite of the first `upto` bytes finished
 * without a rename, appends meanwhile, then the swap copies them over. */
START_TEST(t_journal_swap)
{
	struct px_journal lg;
	struct px_journal_stats st;
	struct seen sn;
	struct iovec v;
	size_t upto, size;
	char tmp[320], err[128];

	mkdir_tmp();
	snprintf(tmp, sizeof tmp, "%s.tmp", logpath);
	jopen(&lg, &sn, PX_JOURNAL_SYNC);
	jappend(&lg, 'A', "one", NULL);
	jappend(&lg, 'A', "two", NULL);
	upto = lg.size;
	/* a prefix read sees only the first records */
	memset(&sn, 0, sizeof sn);
	jappend(&lg, 'A', "three", NULL);
	ck_assert_int_eq(px_journal_read(logpath, JMAGIC, 64, upto, seen_rec,
	    &sn, &st, err, sizeof err), 0);
	ck_assert_str_eq(sn.buf, "A:one|A:two|");
	ck_assert_uint_eq(st.size, upto);
	ck_assert_uint_eq(st.dropped, 0);
	/* the rewrite of that prefix (as a child process would) */
	ck_assert_int_eq(px_journal_rewrite_begin(&lg), 0);
	v.iov_base = "onetwo";
	v.iov_len = 6;
	ck_assert_int_gt(px_journal_rewrite_add(&lg, 'S', &v, 1), 0);
	ck_assert_int_eq(px_journal_rewrite_finish(&lg, &size), 0);
	ck_assert_uint_eq(size, PX_JOURNAL_MAGIC_LEN + PX_JOURNAL_HEAD + 7);
	ck_assert_int_eq(access(tmp, F_OK), 0);
	jappend(&lg, 'A', "four", NULL);             /* appends go on */
	ck_assert_int_eq(px_journal_swap(&lg, upto, size), 0);
	ck_assert_int_eq(access(tmp, F_OK), -1);
	ck_assert_uint_eq(lg.size, (size_t)fsize(logpath));
	jappend(&lg, 'A', "five", NULL);
	px_journal_close(&lg);
	jopen(&lg, &sn, 0);
	ck_assert_str_eq(sn.buf, "S:onetwo|A:three|A:four|A:five|");
	/* a rewritten file of the wrong size is not put in place */
	ck_assert_int_eq(px_journal_rewrite_begin(&lg), 0);
	ck_assert_int_eq(px_journal_rewrite_finish(&lg, &size), 0);
	ck_assert_int_eq(px_journal_swap(&lg, lg.size, size + 1), -1);
	ck_assert_ptr_nonnull(strstr(px_journal_error(&lg), "swap"));
	ck_assert_int_eq(access(tmp, F_OK), -1);
	ck_assert_int_eq(px_journal_swap(&lg, lg.size + 1, size), -1);
	px_journal_close(&lg);
	jopen(&lg, &sn, 0);
	ck_assert_str_eq(sn.buf, "S:onetwo|A:three|A:four|A:five|");
	px_journal_close(&lg);
	rm_tmp();
}
END_TEST

/* Fault injection: RLIMIT_FSIZE makes the kernel refuse the write (first a
 * short write up to the limit, then EFBIG); the journal must cut the file
 * back to its last good record, and go on once writes work again. */
START_TEST(t_journal_write_fails)
{
	struct px_journal lg;
	struct seen sn;
	struct rlimit rl;
	struct iovec v;
	char big[200];
	size_t before;
	const char *e;

	mkdir_tmp();
	signal(SIGXFSZ, SIG_IGN);
	jopen(&lg, &sn, 0);
	jappend(&lg, 'A', "good", NULL);
	before = lg.size;
	ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &rl), 0);
	rl.rlim_cur = before + 50;                      /* room for a part */
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
	memset(big, 'x', sizeof big);
	v.iov_base = big;
	v.iov_len = 60;
	ck_assert_int_eq(px_journal_append(&lg, 'B', &v, 1), -1);
	ck_assert_int_eq(fsize(logpath), (off_t)before);
	ck_assert_uint_eq(lg.size, before);
	ck_assert_ptr_nonnull(e = px_journal_error(&lg));
	ck_assert_ptr_nonnull(strstr(e, "write"));
	ck_assert_ptr_null(px_journal_error(&lg));      /* cleared */
	ck_assert_int_ge(lg.fd, 0);                     /* still on */
	/* a batch fails as a whole */
	{
		char b[256];
		size_t bn = px_journal_frame(b, sizeof b, 'C', big, 30);
		bn += px_journal_frame(b + bn, sizeof b - bn, 'C', big, 30);
		ck_assert_int_eq(px_journal_write(&lg, b, bn), -1);
		ck_assert_int_eq(fsize(logpath), (off_t)before);
	}
	rl.rlim_cur = rl.rlim_max;
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
	jappend(&lg, 'A', "later", NULL);
	px_journal_close(&lg);
	jopen(&lg, &sn, 0);
	ck_assert_str_eq(sn.buf, "A:good|A:later|");
	ck_assert_uint_eq(lg.st.dropped, 0);
	px_journal_close(&lg);
	rm_tmp();
}
END_TEST

/* ------------------------------------------------------------ state dir */

static void
clear_state_env(void)
{
	unsetenv("LLMPROXY_STATE_DIR");
	unsetenv("STATE_DIRECTORY");
	unsetenv("XDG_STATE_HOME");
	unsetenv("HOME");
}

/* resolve; returns the path (static) or NULL with err filled */
static const char *
state(const char *cfg, const char **src, char *err, size_t errcap)
{
	static char out[PX_STATE_DIR_MAX];

	err[0] = 0;
	return px_state_dir(cfg, out, sizeof out, src, err, errcap) == 0 ?
	    out : NULL;
}

static void
rm_rf(const char *p)
{
	char cmd[600];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", p);
	ck_assert_int_eq(system(cmd), 0);
}

START_TEST(t_state_dir)
{
	char base[300], want[700], err[1200];
	const char *src;
	struct stat sb;
	mode_t old;

	mkdir_tmp();
	snprintf(base, sizeof base, "%s", dir);
	clear_state_env();
	/* nothing set at all */
	ck_assert_ptr_null(state(NULL, &src, err, sizeof err));
	ck_assert_ptr_nonnull(strstr(err, "HOME is not set"));

	/* $HOME/.local/state/llmproxy, parents created 0700 despite umask */
	old = umask(0);
	setenv("HOME", base, 1);
	snprintf(want, sizeof want, "%s/.local/state/llmproxy", base);
	ck_assert_str_eq(state(NULL, &src, err, sizeof err), want);
	ck_assert_str_eq(src, "$HOME");
	ck_assert_int_eq(stat(want, &sb), 0);
	ck_assert_int_eq(sb.st_mode & 0777, 0700);
	snprintf(want, sizeof want, "%s/.local", base);
	ck_assert_int_eq(stat(want, &sb), 0);
	ck_assert_int_eq(sb.st_mode & 0777, 0700);
	umask(077);
	/* a second call finds it */
	snprintf(want, sizeof want, "%s/.local/state/llmproxy", base);
	ck_assert_str_eq(state(NULL, &src, err, sizeof err), want);

	/* XDG_STATE_HOME: absolute only */
	setenv("XDG_STATE_HOME", "relative/dir", 1);
	ck_assert_str_eq(state(NULL, &src, err, sizeof err), want);
	ck_assert_str_eq(src, "$HOME");
	snprintf(want, sizeof want, "%s/xdg", base);
	setenv("XDG_STATE_HOME", want, 1);
	snprintf(want, sizeof want, "%s/xdg/llmproxy", base);
	ck_assert_str_eq(state(NULL, &src, err, sizeof err), want);
	ck_assert_str_eq(src, "$XDG_STATE_HOME");

	/* systemd: the first of a list */
	snprintf(want, sizeof want, "%s/sd1:%s/sd2", base, base);
	setenv("STATE_DIRECTORY", want, 1);
	snprintf(want, sizeof want, "%s/sd1", base);
	ck_assert_str_eq(state(NULL, &src, err, sizeof err), want);
	ck_assert_str_eq(src, "$STATE_DIRECTORY");

	/* $LLMPROXY_STATE_DIR, trailing slashes dropped */
	snprintf(want, sizeof want, "%s/env//", base);
	setenv("LLMPROXY_STATE_DIR", want, 1);
	snprintf(want, sizeof want, "%s/env", base);
	ck_assert_str_eq(state(NULL, &src, err, sizeof err), want);
	ck_assert_str_eq(src, "$LLMPROXY_STATE_DIR");
	/* an empty value counts as unset */
	setenv("LLMPROXY_STATE_DIR", "", 1);
	snprintf(want, sizeof want, "%s/sd1", base);
	ck_assert_str_eq(state(NULL, &src, err, sizeof err), want);

	/* the config wins */
	snprintf(want, sizeof want, "%s/cfg/a/b", base);
	ck_assert_str_eq(state(want, &src, err, sizeof err), want);
	ck_assert_str_eq(src, "state_dir");
	/* an empty state_dir counts as unset too */
	snprintf(want, sizeof want, "%s/sd1", base);
	ck_assert_str_eq(state("", &src, err, sizeof err), want);
	ck_assert_str_eq(src, "$STATE_DIRECTORY");

	/* refused: group/world writable, a file, another owner */
	snprintf(want, sizeof want, "%s/open", base);
	ck_assert_int_eq(mkdir(want, 0700), 0);
	ck_assert_int_eq(chmod(want, 0777), 0);
	ck_assert_ptr_null(state(want, &src, err, sizeof err));
	ck_assert_ptr_nonnull(strstr(err, "writable by group or others "
	    "(mode 0777)"));
	ck_assert_int_eq(chmod(want, 0720), 0);
	ck_assert_ptr_null(state(want, &src, err, sizeof err));
	ck_assert_int_eq(chmod(want, 0755), 0);        /* readable is fine */
	ck_assert_str_eq(state(want, &src, err, sizeof err), want);
	snprintf(want, sizeof want, "%s/file", base);
	spit(want, "x", 1);
	ck_assert_ptr_null(state(want, &src, err, sizeof err));
	ck_assert_ptr_nonnull(strstr(err, "not a directory"));
	snprintf(want, sizeof want, "%s/file/below", base);
	ck_assert_ptr_null(state(want, &src, err, sizeof err));
	ck_assert_ptr_nonnull(strstr(err, "cannot create"));
	if (geteuid() == 0) {
		snprintf(want, sizeof want, "%s/other", base);
		ck_assert_int_eq(mkdir(want, 0700), 0);
		ck_assert_int_eq(chown(want, 65534, 65534), 0);
		ck_assert_ptr_null(state(want, &src, err, sizeof err));
		ck_assert_ptr_nonnull(strstr(err, "owned by uid 65534"));
	}
	umask(old);
	clear_state_env();
	rm_rf(base);
}
END_TEST

/* ------------------------------------------------------------ memory */

START_TEST(t_put_get_del)
{
	struct px_store *s = open_store(1 << 20, 100, 0, NULL, 1000);

	ck_assert_ptr_null(get(s, "a", 1000));
	put(s, "a", "one", 1000);
	put(s, "b", "two", 1000);
	ck_assert_str_eq(get(s, "a", 1000), "one");
	ck_assert_str_eq(get(s, "b", 1000), "two");
	put(s, "a", "uno", 1001);                     /* overwrite */
	ck_assert_str_eq(get(s, "a", 1001), "uno");
	ck_assert_uint_eq(nentries(s), 2);
	ck_assert_int_eq(px_store_del(s, "a", 1, 1002), 1);
	ck_assert_int_eq(px_store_del(s, "a", 1, 1002), 0);
	ck_assert_ptr_null(get(s, "a", 1002));
	ck_assert_str_eq(get(s, "b", 1002), "two");
	ck_assert_uint_eq(nentries(s), 1);
	/* keys are bytes: a prefix is another key */
	ck_assert_int_eq(px_store_get(s, "bb", 2, 1002, &(const char *){0},
	    &(size_t){0}), 0);
	/* empty and too long keys are refused */
	ck_assert_int_eq(px_store_put(s, "", 0, "x", 1, 1002), -1);
	{
		char k[PX_STORE_KEY_MAX + 1];
		memset(k, 'k', sizeof k);
		ck_assert_int_eq(px_store_put(s, k, sizeof k, "x", 1, 1), -1);
		ck_assert_int_eq(px_store_put(s, k, sizeof k - 1, "x", 1, 1), 0);
	}
	/* binary values keep their length */
	ck_assert_int_eq(px_store_put(s, "bin", 3, "a\0b", 3, 1003), 0);
	{
		const char *v;
		size_t n;
		ck_assert_int_eq(px_store_get(s, "bin", 3, 1003, &v, &n), 1);
		ck_assert_uint_eq(n, 3);
		ck_assert_int_eq(memcmp(v, "a\0b", 3), 0);
	}
	px_store_close(s);
}
END_TEST

START_TEST(t_disabled)
{
	struct px_store *s = open_store(0, 0, 0, NULL, 0);

	ck_assert_int_eq(px_store_put(s, "a", 1, "v", 1, 0), -1);
	ck_assert_ptr_null(get(s, "a", 0));
	px_store_close(s);
}
END_TEST

START_TEST(t_ttl)
{
	struct px_store *s = open_store(1 << 20, 100, 500, NULL, 1000);
	struct px_store_stats st;

	put(s, "a", "1", 1000);
	put(s, "b", "2", 1200);
	ck_assert_str_eq(get(s, "a", 1499), "1");     /* a get does not extend */
	ck_assert_ptr_null(get(s, "a", 1500));        /* lazily on access */
	ck_assert_uint_eq(nentries(s), 1);
	put(s, "c", "3", 1600);
	ck_assert_uint_eq(px_store_sweep(s, 1699), 0); /* b expires at 1700 */
	ck_assert_uint_eq(px_store_sweep(s, 1700), 1);
	ck_assert_uint_eq(nentries(s), 1);
	ck_assert_ptr_null(get(s, "b", 1700));
	ck_assert_str_eq(get(s, "c", 1700), "3");
	ck_assert_uint_eq(px_store_sweep(s, 2100), 1);
	ck_assert_uint_eq(nentries(s), 0);
	px_store_stats(s, &st);
	ck_assert_uint_eq(st.expired, 3);
	ck_assert_uint_eq(st.bytes, 0);
	/* a put renews the expiry */
	put(s, "d", "4", 3000);
	put(s, "d", "4", 3400);
	ck_assert_str_eq(get(s, "d", 3800), "4");
	px_store_close(s);
}
END_TEST

START_TEST(t_evict_entries_lru)
{
	struct px_store *s = open_store(1 << 20, 3, 0, NULL, 0);
	struct px_store_stats st;

	put(s, "a", "1", 0);
	put(s, "b", "2", 0);
	put(s, "c", "3", 0);
	ck_assert_str_eq(get(s, "a", 0), "1");        /* a is now recent */
	put(s, "d", "4", 0);                          /* evicts b */
	ck_assert_ptr_null(get(s, "b", 0));
	ck_assert_str_eq(get(s, "a", 0), "1");
	ck_assert_str_eq(get(s, "c", 0), "3");
	ck_assert_str_eq(get(s, "d", 0), "4");
	put(s, "e", "5", 0);                          /* evicts a (c, d used later) */
	ck_assert_ptr_null(get(s, "a", 0));
	ck_assert_uint_eq(nentries(s), 3);
	px_store_stats(s, &st);
	ck_assert_uint_eq(st.evicted, 2);
	px_store_close(s);
}
END_TEST

START_TEST(t_evict_bytes)
{
	char v[1000];
	struct px_store *s;
	struct px_store_stats st;
	size_t one;

	memset(v, 'v', sizeof v - 1);
	v[sizeof v - 1] = 0;
	/* learn the cost of one entry, then allow three */
	s = open_store(1 << 20, 0, 0, NULL, 0);
	put(s, "k1", v, 0);
	px_store_stats(s, &st);
	one = st.bytes;
	ck_assert_uint_gt(one, sizeof v);
	px_store_close(s);

	s = open_store(3 * one, 0, 0, NULL, 0);
	put(s, "k1", v, 0);
	put(s, "k2", v, 0);
	put(s, "k3", v, 0);
	ck_assert_uint_eq(nentries(s), 3);
	ck_assert_ptr_nonnull(get(s, "k1", 0));
	put(s, "k4", v, 0);                           /* evicts k2 (LRU) */
	ck_assert_ptr_null(get(s, "k2", 0));
	ck_assert_ptr_nonnull(get(s, "k1", 0));
	px_store_stats(s, &st);
	ck_assert_uint_le(st.bytes, 3 * one);
	/* a value bigger than the whole budget is refused and replaces
	 * nothing: the old value under that key is gone too */
	{
		size_t bn = 3 * one;
		char *big = malloc(bn);
		memset(big, 'x', bn);
		ck_assert_int_eq(px_store_put(s, "k1", 2, big, bn, 0), -1);
		free(big);
	}
	ck_assert_ptr_null(get(s, "k1", 0));
	ck_assert_ptr_nonnull(get(s, "k3", 0));
	ck_assert_ptr_nonnull(get(s, "k4", 0));
	px_store_close(s);
}
END_TEST

/* ------------------------------------------------------------ log */

START_TEST(t_disk_roundtrip)
{
	struct px_store *s;
	struct px_store_stats st;
	struct stat sb;

	mkdir_tmp();
	s = open_store(1 << 20, 100, 10000, logpath, 1000);
	put(s, "a", "alpha", 1000);
	put(s, "b", "beta", 1000);
	put(s, "c", "gamma", 5000);
	put(s, "a", "ALPHA", 2000);
	ck_assert_int_eq(px_store_del(s, "b", 1, 2000), 1);
	px_store_close(s);
	ck_assert_int_eq(stat(logpath, &sb), 0);
	ck_assert_int_eq(sb.st_mode & 0777, 0600);

	s = open_store(1 << 20, 100, 10000, logpath, 3000);
	ck_assert_str_eq(get(s, "a", 3000), "ALPHA");
	ck_assert_ptr_null(get(s, "b", 3000));
	ck_assert_str_eq(get(s, "c", 3000), "gamma");
	px_store_stats(s, &st);
	ck_assert_uint_eq(st.entries, 2);
	ck_assert_uint_eq(st.dropped_tail, 0);
	put(s, "d", "delta", 3000);
	px_store_close(s);

	/* later: a (expires 12000) is gone, c (15000) and d (13000) stay */
	s = open_store(1 << 20, 100, 10000, logpath, 12500);
	ck_assert_ptr_null(get(s, "a", 12500));
	ck_assert_str_eq(get(s, "c", 12500), "gamma");
	ck_assert_str_eq(get(s, "d", 12500), "delta");
	px_store_stats(s, &st);
	ck_assert_uint_ge(st.skipped, 1);
	px_store_close(s);

	/* smaller bounds at the next start: the oldest puts go first */
	s = open_store(1 << 20, 1, 10000, logpath, 12500);
	ck_assert_uint_eq(nentries(s), 1);
	px_store_close(s);
	rm_tmp();
}
END_TEST

/* Log bytes after a few puts: magic + records for k1..k3. */
static char *
three_records(size_t *n, size_t off[4])
{
	struct px_store *s;
	char *img;
	struct stat sb;
	int i;

	s = open_store(1 << 20, 100, 0, logpath, 0);
	for (i = 0; i < 3; i++) {
		char k[16], v[32];
		snprintf(k, sizeof k, "k%d", i + 1);
		snprintf(v, sizeof v, "value number %d", i + 1);
		ck_assert_int_eq(stat(logpath, &sb), 0);
		off[i] = (size_t)sb.st_size;
		put(s, k, v, 0);
	}
	px_store_close(s);
	img = slurp(logpath, n);
	off[3] = *n;
	return img;
}

START_TEST(t_torn_tail)
{
	size_t n, off[4], cut;
	char *img;

	mkdir_tmp();
	img = three_records(&n, off);
	ck_assert_uint_eq(off[0], PX_STORE_MAGIC_LEN);
	for (cut = off[2]; cut < n; cut++) {
		struct px_store *s;
		struct px_store_stats st;
		size_t n2;
		char *after;

		spit(logpath, img, cut);
		s = open_store(1 << 20, 100, 0, logpath, 0);
		ck_assert_str_eq(get(s, "k1", 0), "value number 1");
		ck_assert_str_eq(get(s, "k2", 0), "value number 2");
		ck_assert_ptr_null(get(s, "k3", 0));
		px_store_stats(s, &st);
		ck_assert_uint_eq(st.dropped_tail, cut - off[2]);
		/* the torn tail was cut off, so new records follow good ones */
		put(s, "k4", "four", 0);
		px_store_close(s);
		after = slurp(logpath, &n2);
		ck_assert_int_eq(memcmp(after, img, off[2]), 0);
		free(after);
		s = open_store(1 << 20, 100, 0, logpath, 0);
		ck_assert_str_eq(get(s, "k4", 0), "four");
		ck_assert_uint_eq(nentries(s), 3);
		px_store_stats(s, &st);
		ck_assert_uint_eq(st.dropped_tail, 0);
		px_store_close(s);
	}
	free(img);
	rm_tmp();
}
END_TEST

START_TEST(t_corrupt_checksum)
{
	size_t n, off[4];
	char *img;
	struct px_store *s;
	struct px_store_stats st;

	mkdir_tmp();
	img = three_records(&n, off);
	img[off[2] - 3] ^= 0x20;          /* inside k2's value */
	spit(logpath, img, n);
	s = open_store(1 << 20, 100, 0, logpath, 0);
	ck_assert_str_eq(get(s, "k1", 0), "value number 1");
	ck_assert_ptr_null(get(s, "k2", 0));
	ck_assert_ptr_null(get(s, "k3", 0)); /* nothing after a bad record */
	px_store_stats(s, &st);
	ck_assert_uint_eq(st.dropped_tail, n - off[1]);
	px_store_close(s);
	/* not a store log at all: started empty, the file kept aside */
	spit(logpath, "hello world, not a log", 22);
	s = open_store(1 << 20, 100, 0, logpath, 0);
	ck_assert_uint_eq(nentries(s), 0);
	{
		char bad[320], *b;
		size_t bn;
		snprintf(bad, sizeof bad, "%s.bad", logpath);
		b = slurp(bad, &bn);
		ck_assert_uint_eq(bn, 22);
		ck_assert_int_eq(memcmp(b, "hello world, not a log", 22), 0);
		free(b);
	}
	put(s, "x", "y", 0);
	px_store_close(s);
	s = open_store(1 << 20, 100, 0, logpath, 0);
	ck_assert_str_eq(get(s, "x", 0), "y");
	px_store_close(s);
	free(img);
	rm_tmp();
}
END_TEST

START_TEST(t_compaction)
{
	struct px_store *s;
	struct px_store_stats st;
	char v[2048];
	int i;

	mkdir_tmp();
	memset(v, 'a', sizeof v - 1);
	v[sizeof v - 1] = 0;
	s = open_store(1 << 20, 100, 0, logpath, 0);
	put(s, "keep", "kept", 0);
	for (i = 0; i < 100; i++) {
		v[0] = (char)('a' + i % 26);
		put(s, "hot", v, 0);
	}
	px_store_stats(s, &st);
	ck_assert_uint_ge(st.compactions, 1);
	/* dead bytes never stay above both bounds */
	ck_assert_uint_le(st.log_bytes - PX_STORE_MAGIC_LEN - st.log_live,
	    st.log_live > PX_STORE_COMPACT_MIN ? st.log_live :
	    PX_STORE_COMPACT_MIN);
	ck_assert_uint_lt(st.log_bytes, 100 * sizeof v / 2);
	/* an explicit compaction leaves exactly the live records */
	ck_assert_int_eq(px_store_compact(s), 0);
	px_store_stats(s, &st);
	ck_assert_uint_eq(st.log_bytes, PX_STORE_MAGIC_LEN + st.log_live);
	ck_assert_uint_eq(st.log_live, 2 * (PX_STORE_HEAD + PX_STORE_FIXED) +
	    4 + 4 + 3 + sizeof v - 1);
	px_store_close(s);
	s = open_store(1 << 20, 100, 0, logpath, 0);
	ck_assert_str_eq(get(s, "keep", 0), "kept");
	v[0] = (char)('a' + 99 % 26);
	ck_assert_str_eq(get(s, "hot", 0), v);
	ck_assert_uint_eq(nentries(s), 2);
	px_store_close(s);
	rm_tmp();
}
END_TEST

/* ------------------------------------------------------------ parsers */

START_TEST(t_rec_parse_split)
{
	unsigned char h[PX_STORE_HEAD + PX_STORE_FIXED];
	char rec[256];
	size_t n, i, bit;
	struct px_store_rec r;
	struct guard g;

	px_store_rec_head(h, 'P', 123456789012LL, "key", 3, "the value", 9);
	memcpy(rec, h, sizeof h);
	memcpy(rec + sizeof h, "key", 3);
	memcpy(rec + sizeof h + 3, "the value", 9);
	n = sizeof h + 12;
	for (i = 0; i < n; i++) {
		char *p = guard_copy(&g, rec, i);
		ck_assert_int_eq(px_store_rec_parse(p, i, &r), PX_STORE_PARTIAL);
		guard_free(&g);
	}
	{
		char *p = guard_copy(&g, rec, n);
		ck_assert_int_eq(px_store_rec_parse(p, n, &r), (long)n);
		ck_assert_int_eq(r.type, 'P');
		ck_assert_int_eq(r.expires, 123456789012LL);
		ck_assert_uint_eq(r.kn, 3);
		ck_assert_int_eq(memcmp(r.key, "key", 3), 0);
		ck_assert_uint_eq(r.vn, 9);
		ck_assert_int_eq(memcmp(r.val, "the value", 9), 0);
		guard_free(&g);
	}
	/* every single-bit flip is caught (CRC-32), never a crash */
	for (i = 0; i < n; i++) {
		for (bit = 0; bit < 8; bit++) {
			char *p;
			long k;
			rec[i] ^= (char)(1u << bit);
			p = guard_copy(&g, rec, n);
			k = px_store_rec_parse(p, n, &r);
			ck_assert_msg(k == PX_STORE_ERROR || k == PX_STORE_PARTIAL,
			    "flip at %zu bit %zu: %ld", i, bit, k);
			guard_free(&g);
			rec[i] ^= (char)(1u << bit);
		}
	}
}
END_TEST

START_TEST(t_replay_every_offset)
{
	size_t n, off[4], cut;
	char *img;

	mkdir_tmp();
	img = three_records(&n, off);
	for (cut = 0; cut <= n; cut++) {
		struct px_store *s = open_store(1 << 20, 100, 0, NULL, 0);
		struct guard g;
		char *p = guard_copy(&g, img, cut);
		size_t good = px_store_replay(s, p, cut, 0), want = 0, k;
		for (k = 0; k < 4; k++)
			if (off[k] <= cut && cut >= PX_STORE_MAGIC_LEN)
				want = off[k];
		ck_assert_uint_eq(good, want);
		ck_assert_uint_eq(nentries(s), want <= PX_STORE_MAGIC_LEN ? 0 :
		    (size_t)(want == off[1] ? 1 : want == off[2] ? 2 : 3));
		guard_free(&g);
		px_store_close(s);
	}
	free(img);
	rm_tmp();
}
END_TEST

/* ------------------------------------------------- Responses chain */

static struct px_store *lk_store;

static int
lookup(void *ctx, const char *id, size_t n, const char **rec, size_t *rn)
{
	(void)ctx;
	return px_store_get(lk_store, id, n, 0, rec, rn);
}

static void
record(struct px_store *s, const char *resp, const char *prev,
       const char *input)
{
	struct px_arena a;
	struct jw w;
	struct px_str id, pv = { prev, prev ? strlen(prev) : 0 };

	px_arena_init(&a, 0);
	jw_init(&w, &a, 0);
	ck_assert_int_eq(px_responses_record(&a, resp, strlen(resp), pv, input,
	    strlen(input), &w, &id), 0);
	ck_assert_int_eq(px_store_put(s, id.p, id.n, w.buf, w.len, 0), 0);
	px_arena_free(&a);
}

/* history for id as text, NULL when not found */
static char *
history(const char *id, size_t max_turns)
{
	struct px_arena a;
	struct jw w;
	struct px_str sid = { id, strlen(id) };
	char *res = NULL;
	int rc;

	px_arena_init(&a, 0);
	jw_init(&w, &a, 0);
	rc = px_responses_history(&a, lookup, NULL, sid, max_turns, &w);
	ck_assert_int_ge(rc, 0);
	if (rc == 1)
		res = strdup(w.buf);
	px_arena_free(&a);
	return res;
}

#define OUT(id, t) "{\"id\":\"" id "\",\"object\":\"response\",\"output\":" \
	"[{\"type\":\"message\",\"role\":\"assistant\",\"content\":[{\"type\":" \
	"\"output_text\",\"text\":\"" t "\"}]}]}"
#define ITEM(t) "{\"type\":\"message\",\"role\":\"user\",\"content\":\"" t "\"}"
#define AITEM(t) "{\"type\":\"message\",\"role\":\"assistant\",\"content\":" \
	"[{\"type\":\"output_text\",\"text\":\"" t "\"}]}"

START_TEST(t_chain_walk)
{
	char *h;

	lk_store = open_store(1 << 20, 100, 0, NULL, 0);
	record(lk_store, OUT("r1", "A1"), NULL, "[" ITEM("Q1") "]");
	record(lk_store, OUT("r2", "A2"), "r1", "[" ITEM("Q2") "]");
	record(lk_store, OUT("r3", "A3"), "r2", "[" ITEM("Q3") "," ITEM("Q3b") "]");
	h = history("r3", 100);
	ck_assert_str_eq(h, "[" ITEM("Q1") "," AITEM("A1") "," ITEM("Q2") ","
	    AITEM("A2") "," ITEM("Q3") "," ITEM("Q3b") "," AITEM("A3") "]");
	free(h);
	h = history("r1", 100);
	ck_assert_str_eq(h, "[" ITEM("Q1") "," AITEM("A1") "]");
	free(h);
	ck_assert_ptr_null(history("r9", 100));         /* unknown */
	ck_assert_ptr_null(history("r3", 2));           /* longer than allowed */
	/* a broken chain is not found */
	px_store_del(lk_store, "r1", 2, 0);
	ck_assert_ptr_null(history("r3", 100));
	h = history("r2", 100);
	ck_assert_ptr_null(h);
	/* a cycle stops at max_turns */
	record(lk_store, OUT("c1", "x"), "c2", "[]");
	record(lk_store, OUT("c2", "y"), "c1", "[]");
	ck_assert_ptr_null(history("c1", 10));
	px_store_close(lk_store);
}
END_TEST

START_TEST(t_record_and_splice)
{
	struct px_arena a;
	struct jw w;
	struct px_str id, none = { NULL, 0 };
	struct json *root;
	const char *req = "{\"model\":\"m\",\"previous_response_id\":\"r1\","
	    "\"input\":\"Hi \\u00e9\",\"instructions\":\"Be brief.\","
	    "\"stream\":true}";

	px_arena_init(&a, 0);
	/* string input becomes one user message item; the escape stays */
	root = json_parse(&a, req, strlen(req), 0, NULL);
	jw_init(&w, &a, 0);
	ck_assert_int_eq(px_responses_input_items(json_get(root, "input"), &w), 0);
	ck_assert_str_eq(w.buf, "[{\"type\":\"message\",\"role\":\"user\","
	    "\"content\":\"Hi \\u00e9\"}]");
	jw_init(&w, &a, 0);
	ck_assert_int_eq(px_responses_input_items(NULL, &w), 0);
	ck_assert_str_eq(w.buf, "[]");
	jw_init(&w, &a, 0);
	ck_assert_int_eq(px_responses_input_items(json_get(root, "stream"),
	    &w), -1);

	/* the request with the history in front and no previous id */
	jw_init(&w, &a, 0);
	ck_assert_int_eq(px_responses_with_history(&a, root,
	    "[" ITEM("Q1") "," AITEM("A1") "]", strlen("[" ITEM("Q1") ","
	    AITEM("A1") "]"), &w), 0);
	ck_assert_str_eq(w.buf, "{\"model\":\"m\",\"instructions\":\"Be brief.\","
	    "\"stream\":true,\"input\":[" ITEM("Q1") "," AITEM("A1") ","
	    "{\"type\":\"message\",\"role\":\"user\",\"content\":\"Hi \\u00e9\"}]}");

	/* records: the id comes from the response; a self-link is refused */
	jw_init(&w, &a, 0);
	ck_assert_int_eq(px_responses_record(&a, OUT("r5", "x"),
	    strlen(OUT("r5", "x")), none, "[]", 2, &w, &id), 0);
	ck_assert_str_eq(w.buf, "{\"id\":\"r5\",\"previous_response_id\":null,"
	    "\"input\":[],\"response\":" OUT("r5", "x") "}");
	{
		struct px_str same = { "r5", 2 }, resp;
		jw_init(&w, &a, 0);
		ck_assert_int_eq(px_responses_record(&a, OUT("r5", "x"),
		    strlen(OUT("r5", "x")), same, "[]", 2, &w, &id), -1);
		jw_init(&w, &a, 0);
		ck_assert_int_eq(px_responses_record(&a, "{\"object\":1}", 12,
		    none, "[]", 2, &w, &id), -1);
		jw_init(&w, &a, 0);
		ck_assert_int_eq(px_responses_record(&a, OUT("r6", "y"),
		    strlen(OUT("r6", "y")), none, "[]", 2, &w, &id), 0);
		ck_assert_int_eq(px_responses_record_response(&a, w.buf, w.len,
		    &resp), 0);
		ck_assert_int_eq((int)resp.n, (int)strlen(OUT("r6", "y")));
		ck_assert_int_eq(memcmp(resp.p, OUT("r6", "y"), resp.n), 0);
	}
	px_arena_free(&a);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("store");
	TCase *tc = tcase_create("store");
	SRunner *sr;
	int nf;

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, t_journal_roundtrip);
	tcase_add_test(tc, t_journal_tail_every_offset);
	tcase_add_test(tc, t_journal_corrupt_every_byte);
	tcase_add_test(tc, t_journal_foreign);
	tcase_add_test(tc, t_journal_rewrite);
	tcase_add_test(tc, t_journal_read_only);
	tcase_add_test(tc, t_journal_swap);
	tcase_add_test(tc, t_journal_write_fails);
	tcase_add_test(tc, t_state_dir);
	tcase_add_test(tc, t_put_get_del);
	tcase_add_test(tc, t_disabled);
	tcase_add_test(tc, t_ttl);
	tcase_add_test(tc, t_evict_entries_lru);
	tcase_add_test(tc, t_evict_bytes);
	tcase_add_test(tc, t_disk_roundtrip);
	tcase_add_test(tc, t_torn_tail);
	tcase_add_test(tc, t_corrupt_checksum);
	tcase_add_test(tc, t_compaction);
	tcase_add_test(tc, t_rec_parse_split);
	tcase_add_test(tc, t_replay_every_offset);
	tcase_add_test(tc, t_chain_walk);
	tcase_add_test(tc, t_record_and_splice);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
