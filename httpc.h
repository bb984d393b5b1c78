/*
 * httpc.h - a small blocking HTTP(S) client for the commands (logins run
 * as commands, never on the server's loop). It is the server's upstream
 * engine (upstream.c: DNS, connect, TLS with certificate checks) driven
 * by a loop of its own until the answer is complete, so there is one HTTP
 * implementation, not two.
 */
#ifndef PX_HTTPC_H
#define PX_HTTPC_H

#include <stddef.h>
#include "account.h"

#ifndef PX_HTTPC_TIMEOUT_MS
#define PX_HTTPC_TIMEOUT_MS 30000     /* one request, connect to last byte */
#endif

/* An answer: status and body (malloc'd, NUL-terminated, at most
 * PX_ACCT_ANSWER_MAX bytes), and Retry-After when the server sent one. */
struct px_hresp {
	int status;
	char *body;
	size_t n;
	char retry_after[32];
};

/*
 * Make request r and wait for the whole answer (at most timeout_ms, 0 =
 * PX_HTTPC_TIMEOUT_MS). Returns 0 with *out filled (any status), or -1
 * with a message in err when no answer came (DNS, connect, TLS, timeout,
 * an answer over the size cap). https URLs use the trust anchors of
 * ca_file (NULL: the system's), loaded on the first https request.
 * Release out with px_hresp_free().
 */
int px_http(const struct px_hreq *r, const char *ca_file, int timeout_ms,
            struct px_hresp *out, char *err, size_t errcap);
void px_hresp_free(struct px_hresp *r);

#endif
