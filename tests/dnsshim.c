/*
 * dnsshim.c - a resolver the tests control, loaded into the proxy with
 * LD_PRELOAD: names ending in ".hang.test" take 30 s and fail, names
 * ending in ".fail.test" fail at once, names ending in ".ok.test" resolve
 * to 127.0.0.1; everything else goes to the C library, or, with
 * DNSSHIM_STRICT set, fails at once unless it is "localhost" or an address
 * ("dnsshim: refused NAME": a test asserts that no outside name was looked
 * up). Each lookup of a .test name is written to stderr ("dnsshim: lookup
 * NAME"), so a test can count lookups in the proxy's log. No traffic
 * leaves the machine.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

typedef int (*gai_fn)(const char *, const char *, const struct addrinfo *,
    struct addrinfo **);

static int
ends(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && strcmp(s + n - k, suffix) == 0;
}

__attribute__((constructor)) static void
loaded(void)
{
	fprintf(stderr, "dnsshim: loaded\n");
}

int
getaddrinfo(const char *node, const char *service,
    const struct addrinfo *hints, struct addrinfo **res)
{
	gai_fn real = (gai_fn)dlsym(RTLD_NEXT, "getaddrinfo");

	if (node == NULL || (hints && (hints->ai_flags & AI_NUMERICHOST)))
		return real(node, service, hints, res);
	if (!ends(node, ".test")) {
		struct addrinfo h = { 0 }, *r = NULL;
		if (getenv("DNSSHIM_STRICT") == NULL ||
		    strcmp(node, "localhost") == 0)
			return real(node, service, hints, res);
		h.ai_flags = AI_NUMERICHOST;
		if (real(node, NULL, &h, &r) == 0) {
			freeaddrinfo(r);
			return real(node, service, hints, res);
		}
		fprintf(stderr, "dnsshim: refused %s\n", node);
		return EAI_NONAME;
	}
	fprintf(stderr, "dnsshim: lookup %s\n", node);
	if (ends(node, ".hang.test")) {
		sleep(30);
		return EAI_AGAIN;
	}
	if (ends(node, ".ok.test"))
		return real("127.0.0.1", service, hints, res);
	return EAI_NONAME;
}
