/*
 * account.h - subscription accounts (Claude Pro/Max, ChatGPT/Codex, Gemini
 * Code Assist, GitHub Copilot) as upstream credentials, and the generic
 * token exchange credential.
 *
 *   account.c        the account record, the token store (one sealed file
 *                    per account), PKCE and state values, JWT payloads, the
 *                    refresh schedule, binding accounts to a config
 *   account_flow.c   the OAuth flows, refresh and token exchange as I/O-free
 *                    steps: each builds the HTTP request to send (struct
 *                    px_hreq) or reads the answer that came back; the login
 *                    commands (login.c) and the server (acctsrv.c) run them
 *   account_shape.c  the upstream request of each account kind (path,
 *                    headers, body) and its answer unwrapped (Code Assist's
 *                    envelope, Codex's stream aggregated)
 *
 * Nothing here reads a clock: times (unix ms) come in as arguments. The
 * store functions do file I/O; everything else is bytes in, bytes out.
 *
 * Secrets. Access, refresh and id tokens live in struct px_account's heap
 * strings and, on disk, only inside the sealed part of an account file
 * (AES-256-GCM). They never appear in a message written by this module;
 * error texts name files, labels, HTTP statuses and OAuth error codes only.
 */
#ifndef PX_ACCOUNT_H
#define PX_ACCOUNT_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "json.h"

#ifndef PX_ACCT_LABEL_MAX
#define PX_ACCT_LABEL_MAX   64        /* label bytes, NUL included */
#endif
#ifndef PX_ACCT_FILE_MAX
#define PX_ACCT_FILE_MAX    (128u * 1024) /* one account file */
#endif
#ifndef PX_ACCT_TOKEN_MAX
#define PX_ACCT_TOKEN_MAX   (24u * 1024)  /* one token */
#endif
#ifndef PX_ACCT_MAX
#define PX_ACCT_MAX         256       /* accounts listed from the store */
#endif
#ifndef PX_ACCT_ANSWER_MAX
#define PX_ACCT_ANSWER_MAX  (256u * 1024) /* an OAuth server's answer */
#endif
#ifndef PX_ACCT_SECRET_MIN
#define PX_ACCT_SECRET_MIN  16        /* bytes of LLMPROXY_SECRET, at least */
#endif
#ifndef PX_ACCT_SKEW_MS
#define PX_ACCT_SKEW_MS     30000     /* a token this close to its expiry is
                                         treated as expired */
#endif
#ifndef PX_URL_MAX
#define PX_URL_MAX          2048
#endif

#define PX_ACCT_DIR        "accounts"     /* under the state directory */
#define PX_ACCT_KEY_FILE   "account.key"  /* in the state directory */
#define PX_ACCT_SECRET_ENV "LLMPROXY_SECRET"

/* ------------------------------------------------------------ kinds */

enum px_acct_kind {
	PX_ACCT_CLAUDE = 0,       /* Claude Pro/Max (Claude Code OAuth) */
	PX_ACCT_CODEX,            /* ChatGPT Plus/Pro (Codex CLI OAuth) */
	PX_ACCT_GEMINI,           /* Gemini CLI OAuth + Code Assist */
	PX_ACCT_COPILOT,          /* GitHub Copilot (device flow) */
	PX_ACCT_NKINDS
};

/* "claude", "codex", "gemini", "copilot". */
const char *px_acct_kind_name(enum px_acct_kind k);
/* 0 and *k, or -1 for an unknown name. */
int px_acct_kind_parse(const char *s, enum px_acct_kind *k);
/* The account kind a provider's credentials come from: 0 and *k for the
 * *-account provider types, -1 for every other type. */
int px_acct_kind_of(const struct px_provider *p, enum px_acct_kind *k);

/* ------------------------------------------------------------ the record */

/*
 * One logged-in account. The fixed fields are not secret (the store keeps
 * them readable so `accounts list` works without the key); the three
 * token strings are (malloc'd, NUL-terminated, NULL when absent; owned by
 * the record: px_acct_clear() wipes and frees them).
 *
 *   access    the bearer token sent upstream (Copilot: the exchanged
 *             Copilot token)
 *   refresh   what renews it (Copilot: the GitHub OAuth token, which does
 *             not expire and is exchanged again for a Copilot token)
 *   id_token  Codex: the OpenID token the account id came from
 */
struct px_account {
	enum px_acct_kind kind;
	char label[PX_ACCT_LABEL_MAX];
	char identity[256];       /* email or login; "" when unknown */
	char account_id[128];     /* Codex: chatgpt_account_id; Claude: the
	                             account uuid */
	char plan[64];            /* Codex plan type, Claude subscription */
	char project[128];        /* Gemini: the Code Assist project */
	char api_base[256];       /* Copilot: the token's endpoints.api */
	long long expires;        /* access token expiry, unix ms; 0 unknown */
	long long created;        /* first login, unix ms */
	long long refreshed;      /* last token change, unix ms */
	char *access, *refresh, *id_token;
};

/* Zero a record (no allocation). */
void px_acct_init(struct px_account *a, enum px_acct_kind k);
/* Wipe and free the tokens, zero the record (kind kept). */
void px_acct_clear(struct px_account *a);
/* Replace *slot with a copy of s[0..n) (NULL/0: none); the old value is
 * wiped and freed. 0, or -1 when out of memory or n > PX_ACCT_TOKEN_MAX. */
int px_acct_set(char **slot, const char *s, size_t n);
/* Copy every field of src into dst (tokens duplicated); dst is cleared
 * first. 0, or -1 when out of memory (dst is then cleared). */
int px_acct_copy(struct px_account *dst, const struct px_account *src);

/*
 * A label names an account: its file, its credential in logs, metrics
 * and the admin view. 1..PX_ACCT_LABEL_MAX-1 bytes of [A-Za-z0-9._@+-],
 * not starting with '.' or '-'. Returns 1 when s is one.
 */
int px_acct_label_ok(const char *s);
/* The default label for a new login: "<kind>-<identity>" with characters
 * a label cannot hold replaced by '_' (cut to fit), or "<kind>" when the
 * identity is empty. */
void px_acct_default_label(const struct px_account *a, char *out,
                           size_t cap);

/*
 * Is the access token good to send at `now`: present, and its expiry
 * (when known) more than PX_ACCT_SKEW_MS away. 1 or 0.
 */
int px_acct_fresh(const struct px_account *a, long long now);

/*
 * The refresh schedule: when the token should be renewed, ahead of its
 * expiry by the kind's lead (Claude 4 h, Codex 5 d, Gemini and Copilot
 * 5 min; never more than half the token's lifetime when the last refresh
 * time is known, so short-lived tokens are renewed half way), or `now`
 * when it is already due. 0 when nothing is scheduled: no expiry known, or
 * nothing to renew it with. Tokens without a known expiry are renewed on
 * a 401 only.
 */
long long px_acct_refresh_at(const struct px_account *a, long long now);
/* The lead of kind k in ms (above). */
long long px_acct_lead_ms(enum px_acct_kind k);

/* ------------------------------------------------------------ the store */

/*
 * The token store: the directory <state>/accounts (mode 0700), one file
 * "<label>.json" per account (mode 0600), written to ".<label>.json.tmp",
 * fsync()ed and renamed, then the directory fsync()ed; a lock file
 * (".lock") serialises writers. Files starting with '.' and names not
 * ending in ".json" are never read as accounts, so a write cut short by a
 * crash leaves the previous file intact and its temporary file ignored.
 *
 * File format: one JSON object whose members are, in this order,
 *   "llmproxy_account":1, "kind", "label", "identity", "account_id",
 *   "plan", "project", "api_base" (strings), "expires", "created",
 *   "refreshed" (unix ms), "key_id" (16 hex digits: which key sealed it),
 *   "nonce" (12 bytes, base64url), "sealed" (base64url of the AES-256-GCM
 *   ciphertext of {"access","refresh","id_token"} and its 16-byte tag).
 * The additional authenticated data is the canonical serialisation of the
 * members before "nonce", so a change to any field - the label, the expiry,
 * the identity - fails authentication like a change to the tokens.
 *
 * The key: HKDF-SHA256 of $LLMPROXY_SECRET (at least PX_ACCT_SECRET_MIN
 * bytes) when it is set, else 32 random bytes kept in <state>/account.key
 * (64 hex digits, mode 0600, created on first use and refused when group
 * or others may read it). A file sealed under another key is refused as
 * such (its key_id differs), apart from a file whose contents were changed
 * (authentication fails).
 */

/* Results of the store functions; err gets a message naming the file. */
#define PX_ACCT_OK       0
#define PX_ACCT_EIO      (-1)     /* file system error */
#define PX_ACCT_EFORMAT  (-2)     /* not an account file, or damaged */
#define PX_ACCT_EKEY     (-3)     /* sealed with another key */
#define PX_ACCT_ETAMPER  (-4)     /* authentication failed: changed */
#define PX_ACCT_ENOENT   (-5)     /* no such account */
#define PX_ACCT_EPERM    (-6)     /* mode or owner unsafe */

/* The accounts directory of state_dir, created with mode 0700 when
 * missing: 0 and the path, or -1 with a message. */
int px_acct_dir(const char *state_dir, char *out, size_t cap, char *err,
                size_t errcap);

/* The sealing key (see above): from $LLMPROXY_SECRET (getenv'd), else the
 * key file in state_dir, created when create is set and it is missing.
 * *src (may be NULL) gets "$LLMPROXY_SECRET" or the key file's path
 * (static buffer). PX_ACCT_OK, PX_ACCT_ENOENT (no key and not created),
 * PX_ACCT_EPERM, PX_ACCT_EFORMAT (a secret too short, a bad key file) or
 * PX_ACCT_EIO. */
int px_acct_key(const char *state_dir, int create, unsigned char key[32],
                const char **src, char *err, size_t errcap);
/* The key from a secret string (HKDF-SHA256), for tests and the above. */
void px_acct_key_from_secret(const char *secret, size_t n,
                             unsigned char key[32]);
/* The 16-hex-digit key id of key (out: 17 bytes). */
void px_acct_key_id(const unsigned char key[32], char out[17]);

/*
 * Serialise a: its file contents, sealed with key and the 12-byte nonce
 * (use a fresh random one per write), appended to out. 0, or -1 when a
 * field does not fit or out overflowed.
 */
int px_acct_seal(const struct px_account *a, const unsigned char key[32],
                 const unsigned char nonce[12], struct jw *out);

/*
 * Parse an account file's bytes into a (cleared first). With key NULL only
 * the readable fields are read (listing) and the tokens stay NULL; with a
 * key the sealed part is authenticated and opened. Returns PX_ACCT_OK,
 * PX_ACCT_EFORMAT, PX_ACCT_EKEY or PX_ACCT_ETAMPER with a message in err
 * (never a token, never a byte of the sealed part). text need not be
 * NUL-terminated; nothing is kept pointing into it.
 */
int px_acct_open(const char *text, size_t n, const unsigned char key[32],
                 struct px_account *a, char *err, size_t errcap);

/* Write a to dir (see above for how). PX_ACCT_OK or PX_ACCT_EIO. */
int px_acct_save(const char *dir, const unsigned char key[32],
                 const struct px_account *a, char *err, size_t errcap);
/* Read and open "<label>.json". Any PX_ACCT_* result; PX_ACCT_EPERM when
 * the file may be read by group or others or is not the user's. */
int px_acct_load(const char *dir, const unsigned char key[32],
                 const char *label, struct px_account *a, char *err,
                 size_t errcap);
/* Delete an account's file. PX_ACCT_OK, PX_ACCT_ENOENT or PX_ACCT_EIO. */
int px_acct_remove(const char *dir, const char *label, char *err,
                   size_t errcap);

/* One entry of a listing: the readable fields, or why the file could not
 * be read (rc != PX_ACCT_OK; label is then the file name's stem). */
struct px_acct_entry {
	struct px_account a;      /* tokens NULL */
	int rc;
	char why[160];
};

/* List dir's accounts, sorted by label: up to max entries into out.
 * Returns the number found (may exceed max: the rest were not stored), or
 * -1 with a message when dir cannot be read (a missing dir lists 0). */
int px_acct_list(const char *dir, struct px_acct_entry *out, int max,
                 char *err, size_t errcap);

/* Test hook: called between the temporary file's fsync and the rename
 * (stage 1). NULL outside tests. */
extern void (*px_acct_save_hook)(int stage);

/* ------------------------------------------------------------ values */

/* n random bytes from the system. 0, or -1. */
int px_random(void *buf, size_t n);
/* base64url without padding of p[0..n) into out (NUL-terminated; needs
 * 4*ceil(n/3)+1 bytes). Returns the length. */
size_t px_b64url(const void *p, size_t n, char *out);
/* Decode base64url or standard base64, padding optional, into out (cap
 * bytes). Returns the length, or -1 when malformed or it does not fit. */
long px_b64dec(const char *s, size_t n, unsigned char *out, size_t cap);

/*
 * PKCE (RFC 7636, S256): a verifier of 96 random bytes (128 characters,
 * base64url) and its challenge base64url(SHA-256(verifier)) (43
 * characters). 0, or -1 when no random bytes.
 */
int px_pkce_new(char verifier[129], char challenge[44]);
void px_pkce_challenge(const char *verifier, size_t n, char challenge[44]);
/* An OAuth state value: 32 random bytes, base64url (43 characters). */
int px_oauth_state(char out[44]);

/*
 * The payload of a JWT (header.payload.signature; the signature is not
 * checked: the token came from the issuer over TLS, and only its claims
 * are read), parsed into a. NULL when the token is not three base64url
 * parts or the payload is not a JSON object.
 */
struct json *px_jwt_payload(struct px_arena *a, const char *tok, size_t n);
/* Its "exp" claim in unix ms, or 0. */
long long px_jwt_exp(const struct json *payload);

/* ------------------------------------------------------------ binding */

/*
 * Give a loaded config's account providers their credentials from the
 * store of its state directory (listing only: no key needed). Warnings
 * (a listed label without an account, an account that does not fit) go
 * to warn, one per line. Returns the number of account credentials bound,
 * or -1 with a message in warn when the store cannot be read. A config
 * without account providers is left alone (0, the store untouched).
 */
int px_acct_bind(struct px_config *c, char *warn, size_t cap);

/* ============================================================ flows
 * (account_flow.c) */

/* An HTTP request to make: method, URL, extra header lines and body. The
 * body lives in the arena given to the builder. */
struct px_hreq {
	const char *method;       /* "GET" or "POST" (static) */
	char url[PX_URL_MAX];
	char hdrs[2048];          /* "Name: value\r\n" lines */
	size_t hdrs_n;
	const char *body;
	size_t body_n;
};

/* A URL taken apart: 0, or -1 when not http(s)://host[:port][/path]. */
struct px_url {
	int tls;
	char host[256];
	char port[8];
	const char *path;         /* into the URL; "/" when empty */
};
int px_url_parse(const char *url, struct px_url *u);

/*
 * The request head (request line, Host, Content-Length, the header lines,
 * "Connection: close", blank line) into out; u gets where to send it.
 * 0, or -1 when the URL is bad or out overflowed.
 */
int px_hreq_head(const struct px_hreq *r, struct px_url *u, struct jw *out);

/* The endpoints and client of a kind: defaults are the vendors' own, each
 * overridable from the environment (LLMPROXY_<KIND>_<NAME>, see below). */
struct px_acct_ep {
	enum px_acct_kind kind;
	const char *authorize;    /* AUTHORIZE_URL: browser flows */
	const char *token;        /* TOKEN_URL: code exchange and refresh
	                             (Copilot: GitHub's device token poll) */
	const char *device;       /* DEVICE_URL: Copilot's device code */
	const char *user;         /* USER_URL: Gemini userinfo, GitHub user */
	const char *api;          /* Gemini: CODE_ASSIST_URL (v1internal
	                             base); Copilot: EXCHANGE_URL (the
	                             Copilot token) */
	const char *client_id;    /* CLIENT_ID */
	const char *client_secret;/* CLIENT_SECRET (Gemini's installed-app
	                             secret, public by design) */
	const char *scopes;
	const char *redirect_path;/* the callback's path */
	int port;                 /* CALLBACK_PORT: the loopback callback */
	char redirect[128];       /* http://localhost:<port><path> */
};

/* Fill ep for kind k; get is getenv (or a test's lookup; NULL: none). */
void px_acct_ep_init(struct px_acct_ep *ep, enum px_acct_kind k,
                     const char *(*get)(const char *name));

/* What an OAuth server's answer means. */
enum px_tok_verdict {
	PX_TOK_OK = 0,            /* the record was updated */
	PX_TOK_PENDING,           /* device flow: not authorised yet */
	PX_TOK_SLOW_DOWN,         /* device flow: poll less often */
	PX_TOK_DENIED,            /* the grant is refused for good
	                             (invalid_grant, expired, revoked, 4xx):
	                             log in again */
	PX_TOK_RETRY              /* transient (network, 429, 5xx, garbage):
	                             try again later */
};

struct px_tok_result {
	enum px_tok_verdict v;
	int status;               /* HTTP status */
	char error[64];           /* the OAuth "error" code, or "" */
	char msg[200];            /* for people; never a token */
	long long retry_at;       /* RETRY after a 429: when (unix ms), or 0 */
};

/* The authorize URL of a browser flow (Claude, Codex, Gemini) for the
 * given state and PKCE challenge, into out. 0, or -1 when it does not
 * fit or the kind has none. */
int px_oauth_authorize_url(const struct px_acct_ep *ep, const char *state,
                           const char *challenge, char *out, size_t cap);

/*
 * Read what the user pasted or the callback received: a redirect URL
 * ("...?code=X&state=Y"), Claude's "X#Y", or a bare code. code/state get
 * the values (state "" when absent); an "error" parameter is copied to
 * code with a return of -2. 0, or -1 when there is no code.
 */
int px_oauth_parse_code(const char *in, size_t n, char *code, size_t ccap,
                        char *state, size_t scap);

/* The authorization-code exchange (each kind's own body: Claude JSON with
 * its key order, Codex and Gemini form-encoded). 0, or -1. */
int px_oauth_code_request(const struct px_acct_ep *ep, const char *code,
                          const char *verifier, const char *state,
                          struct px_arena *ar, struct px_hreq *r);

/* A refresh of a (Claude JSON, Codex and Gemini form-encoded, Copilot a
 * new Copilot token from the GitHub token). 0, or -1 when a has nothing
 * to refresh with. */
int px_oauth_refresh_request(const struct px_acct_ep *ep,
                             const struct px_account *a,
                             struct px_arena *ar, struct px_hreq *r);

/*
 * Read a token endpoint's answer (code exchange, refresh, Copilot token)
 * into a: the new access token, a rotated refresh token (the old one is
 * kept when none comes back), the expiry (expires_in, Copilot's
 * expires_at, else the access token's JWT exp), refreshed = now, and what
 * the answer says about the account (Claude: account email and uuid;
 * Codex: the id_token's email, chatgpt_account_id and plan; Copilot:
 * endpoints.api). a is changed only on PX_TOK_OK.
 */
void px_oauth_token_answer(struct px_account *a, int status,
                           const char *body, size_t n, long long now,
                           struct px_tok_result *res);

/* ---- device flow (Copilot) */

struct px_device {
	char device_code[256];
	char user_code[64];
	char verify_uri[256];
	long long interval_ms;    /* current poll interval */
	long long deadline;       /* give up after (unix ms) */
};

int px_device_code_request(const struct px_acct_ep *ep, struct px_arena *ar,
                           struct px_hreq *r);
/* The device code answer into d (interval at least 1 s, default 5 s;
 * deadline from expires_in, at most 15 min). */
void px_device_code_answer(struct px_device *d, int status, const char *body,
                           size_t n, long long now, struct px_tok_result *res);
int px_device_poll_request(const struct px_acct_ep *ep,
                           const struct px_device *d, struct px_arena *ar,
                           struct px_hreq *r);
/* A poll answer: OK (a->refresh holds the GitHub token), PENDING,
 * SLOW_DOWN (d->interval_ms grows to the answer's "interval", else by
 * 5 s), DENIED (expired_token, access_denied, ...) or RETRY. */
void px_device_poll_answer(struct px_device *d, struct px_account *a,
                           int status, const char *body, size_t n,
                           long long now, struct px_tok_result *res);

/* ---- identity */

/* GET the user (Gemini userinfo, GitHub user) with a's token. */
int px_user_request(const struct px_acct_ep *ep, const struct px_account *a,
                    struct px_arena *ar, struct px_hreq *r);
/* Its answer: identity = email (Gemini) or login (GitHub). */
void px_user_answer(struct px_account *a, int status, const char *body,
                    size_t n, struct px_tok_result *res);

/* ---- Gemini Code Assist onboarding (load, then onboard when needed) */

enum px_onboard_step { PX_OB_LOAD = 0, PX_OB_ONBOARD, PX_OB_DONE };

struct px_onboard {
	enum px_onboard_step step;
	char tier[64];            /* the tier to onboard with */
	char project[128];        /* the user's own project (--project), then
	                             the one Code Assist uses */
	int polls;                /* onboardUser calls so far */
};

/* The next request (loadCodeAssist or onboardUser). -1 when done. */
int px_onboard_request(const struct px_acct_ep *ep, const struct px_onboard *o,
                       const struct px_account *a, struct px_arena *ar,
                       struct px_hreq *r);
/* Its answer: advances o (DONE with the project; ONBOARD again while the
 * operation is not done). OK, RETRY, or DENIED (no project can be had:
 * msg says why). */
void px_onboard_answer(struct px_onboard *o, int status, const char *body,
                       size_t n, struct px_tok_result *res);

/* ---- imports of other clients' logins */

/*
 * Read another client's stored login into a (kind set by the caller):
 * Claude Code's .credentials.json ({"claudeAiOauth":{...}}), the Codex
 * CLI's auth.json ({"tokens":{...}}), the Gemini CLI's oauth_creds.json,
 * or Copilot's apps.json / hosts.json (a "github.com..." entry with an
 * oauth_token). 0, or -1 with a message in err.
 */
int px_acct_import(struct px_account *a, const char *text, size_t n,
                   long long now, char *err, size_t errcap);

/* ---- token exchange (a generic credential) */

/*
 * A token exchange: POST the long-lived token to url (form-encoded or
 * JSON; the fields are tx->fields with "{token}" in a value replaced by
 * the token), read the access token from the answer's token_field
 * ("access_token", else "token"), and its expiry from "expires_in" (a
 * number or a numeric string), else the token's JWT exp, else ttl_s. The
 * config (struct px_token_exchange, config.h) holds the settings.
 */
int px_tx_request(const struct px_token_exchange *tx, struct px_arena *ar,
                  struct px_hreq *r);
/* The answer: access token into *tok (malloc'd; caller frees) and its
 * expiry into *expires (unix ms). */
void px_tx_answer(const struct px_token_exchange *tx, int status,
                  const char *body, size_t n, long long now, char **tok,
                  long long *expires, struct px_tok_result *res);

/* ---- quota answers */

/*
 * When a quota error of kind k's upstream ends (unix ms), from its body:
 * Codex 429 usage_limit_reached with error.resets_at (unix s) or
 * error.resets_in_seconds; Gemini 429 RESOURCE_EXHAUSTED with a RetryInfo
 * retryDelay ("37s"). -1 when the body says nothing.
 */
long long px_acct_quota_reset(enum px_acct_kind k, int status,
                              const char *body, size_t n, long long now);

/* ============================================================ upstream
 * requests (account_shape.c) */

/* What the head and body of one upstream request are built from. */
struct px_acct_req {
	enum px_acct_kind kind;
	const char *token;        /* the access token */
	const char *account_id;   /* Codex */
	const char *project;      /* Gemini */
	const char *model;        /* upstream model */
	int stream;               /* the client asked for a stream */
	enum px_op_kind op;       /* PX_OP_GENERATE, or a count or embedding
	                             (convert.h) */
	const char *client_beta;  /* Claude: the client's anthropic-beta */
	const char *client_version; /* Claude: the client's anthropic-version */
	const char *request_id;   /* a fresh id (session, request, prompt) */
	/* set by px_acct_body() for px_acct_head() */
	int agent;                /* Copilot: the last message is not the
	                             user's (X-Initiator: agent) */
	int vision;               /* Copilot: the request has images */
};

/* The path to append to the provider's base path. Claude: /v1/messages
 * ?beta=true (count: /v1/messages/count_tokens?beta=true); Codex:
 * /responses; Gemini: /v1internal:generateContent, :streamGenerateContent
 * ?alt=sse or :countTokens; Copilot: /chat/completions or /responses
 * (fmt). -1 when it does not fit or the kind cannot do it (embeddings,
 * a count on Codex or Copilot: those are estimated locally). */
int px_acct_path(const struct px_acct_req *q, enum px_fmt fmt, char *buf,
                 size_t cap);

/*
 * The header lines of the upstream request (after Host, before
 * Content-Length): authorisation and the headers the subscription
 * requires (see the README), each skipped when skip(ctx, name) says the
 * provider's own "headers" set it (provider headers win, so version-pinned
 * values can be changed in the config). Appended to h.
 */
void px_acct_head(const struct px_acct_req *q,
                  int (*skip)(void *ctx, const char *name), void *ctx,
                  struct jw *h);

/*
 * The upstream body from the body encoded for the kind's wire format
 * (body[0..n), JSON): Claude gets the Claude Code system prompt first;
 * Codex stream:true, store:false, instructions, include, without the
 * fields its backend refuses; Gemini the {model, project, user_prompt_id,
 * request} envelope ({request} with the model inside for a count);
 * Copilot is unchanged (q->agent and q->vision are set from it). *out
 * points into ar (or is body when unchanged). 0, or -1 when the body is
 * not a JSON object or ar is exhausted.
 */
int px_acct_body(struct px_acct_req *q, struct px_arena *ar,
                 const char *body, size_t n, const char **out, size_t *on);

/* The Claude Code identity, the first system block a Claude subscription
 * requires. */
extern const char px_claude_identity[];

/*
 * Code Assist wraps every answer and stream event as {"response":X,...}:
 * the X inside p[0..n) into *out (a view into p). 1 when unwrapped, 0 when
 * p is not such an envelope (it is then left as it is).
 */
int px_acct_unwrap(const char *p, size_t n, const char **out, size_t *on);

/*
 * Codex streams even when the client did not ask: the response object of
 * the stream sse[0..n) - the "response" of its response.completed (or
 * response.incomplete) event, with the items of its
 * response.output_item.done events as "output" when that list came back
 * empty - written to out. 0, or -1 with a message in err when the stream
 * has no such event (response.failed: its error message).
 */
int px_acct_aggregate(struct px_arena *ar, const char *sse, size_t n,
                      struct jw *out, char *err, size_t errcap);

#endif
