/*
 * proxy.h - the server: one poll() loop, client connections, upstream
 * connections, routing. The only module (with tls.c) that touches sockets.
 */
#ifndef PX_PROXY_H
#define PX_PROXY_H

#define LLMPROXY_VERSION "0.1.0"

#ifndef PX_OUT_HIGH
#define PX_OUT_HIGH   (64 * 1024)   /* client-bound bytes queued before we
                                       stop reading the upstream */
#endif
#ifndef PX_UP_BUF
#define PX_UP_BUF     (16 * 1024)   /* upstream read buffer */
#endif
#ifndef PX_RESP_MAX
#define PX_RESP_MAX   (64u * 1024 * 1024) /* non-streamed upstream body */
#endif
#ifndef PX_ARENA_MAX
#define PX_ARENA_MAX  (256u * 1024 * 1024) /* per-request arena cap */
#endif
#ifndef PX_POOL_IDLE_MS
#define PX_POOL_IDLE_MS 30000       /* idle upstream connection kept */
#endif
#ifndef PX_POOL_MAX
#define PX_POOL_MAX   32            /* idle upstream connections kept */
#endif
#ifndef PX_EMBED_RESP_MAX
#define PX_EMBED_RESP_MAX (32u * 1024 * 1024) /* Gemini embeddings answer
                                       converted for an OpenAI client */
#endif
#ifndef PX_DNS_TTL_MS
#define PX_DNS_TTL_MS 60000
#endif

#endif
