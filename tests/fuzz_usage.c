/*
 * fuzz_usage.c - libFuzzer target for the usage log (usage.c on the
 * journal in store.c).
 *
 * The input is a usage log image (the magic is put in front when it does
 * not start with it). Checked, besides never crashing:
 *  - every record that parses and decodes re-encodes to the same bytes
 *    (the decoder is strict, the encoder canonical);
 *  - `llmproxy usage` gives the same totals (by day, key, model and
 *    provider) for the raw file, after px_usage_open() (which cuts a bad
 *    tail and may roll records up), and after a roll-up of every record:
 *    the roll-up never changes a total.
 * The file round trip costs a hundred times the record checks (files,
 * compactions, twelve totals), so it runs for one input in sixteen, chosen
 * by a hash of the input (the fuzzer can still steer into it): the target
 * keeps to thousands of inputs a second.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"
#include "usage.h"

#define CHECK(c)  do { if (!(c)) abort(); } while (0)
#define NOW 1796380200000LL         /* 2026-12-04 10:30 UTC */

static char dir[64], path[96], bad[104], tmp[104];

static void
cleanup(void)
{
	unlink(path);
	unlink(bad);
	unlink(tmp);
	rmdir(dir);
}

static void
check_records(const char *img, size_t n)
{
	size_t off = PX_JOURNAL_MAGIC_LEN;

	for (;;) {
		const char *body;
		size_t bn;
		int type;
		long k = px_journal_parse(img + off, n - off, PX_USAGE_REC_MAX,
		    &type, &body, &bn);
		unsigned char *copy, out[PX_USAGE_REC_MAX];
		if (k <= 0)
			break;
		CHECK((size_t)k <= n - off);
		/* a heap copy of exactly the body: overreads are caught */
		copy = malloc(bn ? bn : 1);
		CHECK(copy != NULL);
		memcpy(copy, body, bn);
		if (type == PX_USAGE_REC_RAW) {
			struct px_usage_rec r;
			if (px_usage_decode(copy, bn, &r) == 0) {
				CHECK(r.key.n <= PX_USAGE_STR_MAX);
				CHECK(px_usage_encode(&r, out, sizeof out) == bn);
				CHECK(memcmp(out, copy, bn) == 0);
			}
		} else if (type == PX_USAGE_REC_DAY) {
			struct px_usage_day d;
			if (px_usage_day_decode(copy, bn, &d) == 0) {
				CHECK(d.errors <= d.requests);
				CHECK(px_usage_day_encode(&d, out, sizeof out) ==
				    bn);
				CHECK(memcmp(out, copy, bn) == 0);
			}
		}
		free(copy);
		off += (size_t)k;
	}
}

/* stdout of `llmproxy usage --since 1970-01-01 --by <by> --json` */
static char *
totals(const char *by)
{
	char *argv[] = { "usage", "--since", "1970-01-01", "--by", (char *)by,
	    "--json", NULL };
	char *out = NULL, *err = NULL;
	size_t on = 0, en = 0;
	FILE *fo = open_memstream(&out, &on), *fe = open_memstream(&err, &en);
	int rc;

	CHECK(fo && fe);
	rc = px_usage_cmd(6, argv, dir, NOW, fo, fe);
	fclose(fo);
	fclose(fe);
	free(err);
	CHECK(rc == 0);
	return out;
}

static void
all_totals(char *t[4])
{
	t[0] = totals("day");
	t[1] = totals("key");
	t[2] = totals("model");
	t[3] = totals("provider");
}

static void
same_totals(char *a[4])
{
	char *b[4];
	int i;

	all_totals(b);
	for (i = 0; i < 4; i++) {
		CHECK(strcmp(a[i], b[i]) == 0);
		free(b[i]);
	}
}

static void
reopen(int retain, long long now)
{
	struct px_usage_opts o;
	struct px_usage *u;
	char err[512];

	memset(&o, 0, sizeof o);
	o.path = path;
	o.retain_days = retain;
	u = px_usage_open(&o, now, err, sizeof err);
	CHECK(u != NULL);
	px_usage_compact(u, now);
	px_usage_close(u, now);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t
hash(const uint8_t *p, size_t n)
{
	uint32_t h = 2166136261u;

	while (n--)
		h = (h ^ *p++) * 16777619u;
	return h ^ h >> 16;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *img, *before[4];
	size_t n;
	int fd, i;

	if (!dir[0]) {
		/* tmpfs when there is one: compactions fsync */
		snprintf(dir, sizeof dir, "%s/fuzz_usage.XXXXXX",
		    access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
		CHECK(mkdtemp(dir) != NULL);
		snprintf(path, sizeof path, "%s/" PX_USAGE_FILE, dir);
		snprintf(bad, sizeof bad, "%s.bad", path);
		snprintf(tmp, sizeof tmp, "%s.tmp", path);
		atexit(cleanup);
	}
	if (size >= PX_JOURNAL_MAGIC_LEN &&
	    memcmp(data, PX_USAGE_MAGIC, PX_JOURNAL_MAGIC_LEN) == 0) {
		n = size;
		img = malloc(n ? n : 1);
		CHECK(img != NULL);
		memcpy(img, data, n);
	} else {
		n = size + PX_JOURNAL_MAGIC_LEN;
		img = malloc(n);
		CHECK(img != NULL);
		memcpy(img, PX_USAGE_MAGIC, PX_JOURNAL_MAGIC_LEN);
		memcpy(img + PX_JOURNAL_MAGIC_LEN, data, size);
	}
	check_records(img, n);
	if ((hash(data, size) & 15) != 0) {
		free(img);
		return 0;
	}

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	CHECK(write(fd, img, n) == (ssize_t)n);
	close(fd);
	free(img);
	all_totals(before);
	/* open (cuts a bad tail; rolls up past 30 days), then roll up all */
	reopen(30, NOW);
	same_totals(before);
	reopen(1, NOW + 400LL * 86400000);
	same_totals(before);
	for (i = 0; i < 4; i++)
		free(before[i]);
	unlink(path);
	unlink(bad);
	unlink(tmp);
	return 0;
}
