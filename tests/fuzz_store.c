/*
 * fuzz_store.c - libFuzzer target for the store's log parsers (store.c).
 *
 * The input is a log image. Three readers must agree and never crash:
 * record-by-record px_store_rec_parse(), px_store_replay() from memory, and
 * px_store_open() replaying the same bytes from a file (its own buffered
 * reader). The good prefix must replay to the same entries as the whole
 * image, and a store opened from the file (which cuts a bad tail, or moves
 * a file with another magic aside) must open again to the same entries.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"

#define CHECK(c)  do { if (!(c)) abort(); } while (0)

static char path[64], bad[72];

static struct px_store *
mk(const char *p, long long now)
{
	struct px_store_opts o;
	char err[256];
	struct px_store *s;

	memset(&o, 0, sizeof o);
	o.max_bytes = 1u << 20;
	o.max_entries = 64;
	o.ttl_ms = 1000;
	o.path = p;
	s = px_store_open(&o, now, err, sizeof err);
	CHECK(s != NULL);
	return s;
}

static size_t
entries(struct px_store *s)
{
	struct px_store_stats st;

	px_store_stats(s, &st);
	return st.entries;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	char *copy;
	size_t off = size >= PX_STORE_MAGIC_LEN ? PX_STORE_MAGIC_LEN : size;
	size_t good, good2, n1;
	struct px_store *s;
	long long now = 500;
	int fd;

	/* record by record, each from its own heap copy */
	while (off < size) {
		struct px_store_rec r;
		long k;
		copy = malloc(size - off);
		CHECK(copy != NULL);
		memcpy(copy, p + off, size - off);
		k = px_store_rec_parse(copy, size - off, &r);
		if (k > 0) {
			volatile char sink = 0;
			CHECK((size_t)k <= size - off);
			CHECK(r.kn >= 1 && r.kn <= PX_STORE_KEY_MAX);
			CHECK(r.key + r.kn + r.vn == copy + k);
			sink ^= r.key[r.kn - 1];
			if (r.vn)
				sink ^= r.val[r.vn - 1];
			(void)sink;
		}
		free(copy);
		if (k <= 0)
			break;
		off += (size_t)k;
	}

	/* replay from memory; the good prefix alone gives the same store */
	s = mk(NULL, now);
	good = px_store_replay(s, p, size, now);
	CHECK(good <= size);
	n1 = entries(s);
	px_store_close(s);
	s = mk(NULL, now);
	good2 = px_store_replay(s, p, good, now);
	CHECK(good2 == good);
	CHECK(entries(s) == n1);
	px_store_close(s);

	/* and from a file */
	if (!path[0]) {   /* tmpfs when there is one: no disk per input */
		snprintf(path, sizeof path, "%s/fuzz_store.%d.log",
		    access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp",
		    (int)getpid());
		snprintf(bad, sizeof bad, "%s.bad", path);
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	CHECK(write(fd, p, size) == (ssize_t)size);
	close(fd);
	s = mk(path, now);
	CHECK(entries(s) == n1);
	px_store_close(s);
	s = mk(path, now);
	CHECK(entries(s) == n1);
	px_store_close(s);
	unlink(path);
	unlink(bad);
	return 0;
}
