/*
 * proxy.h - the server: accepts client connections, parses requests,
 * routes and converts them, and answers through the upstream engine. The
 * only module (with upstream.c and tls.c) that touches sockets.
 */
#ifndef PX_PROXY_H
#define PX_PROXY_H

#include "config.h"

#define LLMPROXY_VERSION "0.2.0"

#ifndef PX_OUT_HIGH
#define PX_OUT_HIGH   (64 * 1024)   /* client-bound bytes queued before the
                                       upstream is paused (resumed at half) */
#endif
#ifndef PX_RESP_MAX
#define PX_RESP_MAX   (64u * 1024 * 1024) /* non-streamed upstream body */
#endif
#ifndef PX_ARENA_MAX
#define PX_ARENA_MAX  (256u * 1024 * 1024) /* per-request arena, at most */
#endif
#ifndef PX_ARENA_BASE
#define PX_ARENA_BASE (4u * 1024 * 1024)   /* per-request arena: base ... */
#endif
#ifndef PX_ARENA_FACTOR
#define PX_ARENA_FACTOR 16                 /* ... + this many times the bytes
                                              of the request and answer */
#endif
#ifndef PX_MEM_BUDGET
#define PX_MEM_BUDGET ((size_t)1 << 30)    /* bytes held by all requests in
                                              flight before new ones get 503 */
#endif
#ifndef PX_EMBED_RESP_MAX
#define PX_EMBED_RESP_MAX (32u * 1024 * 1024) /* Gemini embeddings answer
                                       converted for an OpenAI client */
#endif
#ifndef PX_RELOAD_SETTLE_MS
#define PX_RELOAD_SETTLE_MS 500     /* a changed config file is read once it
                                       has not changed for this long */
#endif
#ifndef PX_TICK_MS
#define PX_TICK_MS    100           /* log flush and housekeeping period */
#endif

/*
 * Run the server on cfg (which must stay valid) until SIGTERM/SIGINT and
 * the drain. cfile names the config in the start-up line (NULL: from the
 * environment). Returns the process exit status.
 */
int px_serve(struct px_config *cfg, const char *cfile, int verbose);

#endif
