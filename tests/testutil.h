/*
 * testutil.h - helpers shared by the Check suites.
 */
#ifndef PX_TESTUTIL_H
#define PX_TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/*
 * Copy n bytes so that they end exactly at a PROT_NONE page: a parser that
 * reads one byte past its input faults (and Check reports the crash) even
 * without a sanitizer. Release with guard_free().
 */
struct guard { char *map; size_t maplen; char *p; };

static inline char *
guard_copy(struct guard *g, const void *src, size_t n)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	size_t data_pages = (n + pg - 1) / pg;
	if (data_pages == 0)
		data_pages = 1;
	g->maplen = (data_pages + 1) * pg;
	g->map = mmap(NULL, g->maplen, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (g->map == MAP_FAILED)
		abort();
	mprotect(g->map + data_pages * pg, pg, PROT_NONE);
	g->p = g->map + data_pages * pg - n;
	if (n)
		memcpy(g->p, src, n);
	return g->p;
}

static inline void
guard_free(struct guard *g)
{
	munmap(g->map, g->maplen);
}

/* Read a whole file (tests/fixtures/...) into malloc'd memory, NUL-terminated. */
static inline char *
read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		fclose(f);
		free(buf);
		return NULL;
	}
	buf[n] = 0;
	fclose(f);
	if (len)
		*len = (size_t)n;
	return buf;
}

#endif
