/*
 * keys.h - the keys file: client keys made by `llmproxy keys` or the admin
 * page, stored as SHA-256 digests with their settings in STATE_DIR/keys.json.
 *
 * The file (mode 0600; the directory is created 0700):
 *
 *   {"version":1,"keys":[
 *   {"name":"ci","sha256":"<64 hex>","prefix":"sk-llmp-AbCd",
 *    "created":"2025-06-01T12:00:00Z","models":["gpt-*","claude-*"],
 *    "rpm":60,"tpm":100000,"parallel":4,"budget":{"usd":10,"per":"day"},
 *    "expires":"2026-01-01T00:00:00Z"}
 *   ]}
 *
 * one key per line. "name" and "sha256" are required; "prefix" (the first
 * characters of the key, not secret), "created" and "rotated" are shown by
 * `keys list`; the rest are the key's settings, the same members an
 * "api_keys" object in the config may carry (keys_settings_parse()).
 * Unknown or repeated members, bad values and duplicate names or digests
 * are errors ("keys.json:LINE: message"): the running proxy then keeps the
 * keys it had.
 *
 * Writers (the CLI, the admin operations) take an fcntl() lock on
 * STATE_DIR/keys.lock, read the file, change it, write keys.json.tmp,
 * fsync it, rename it over keys.json and fsync the directory: a reader
 * sees the old file or the new one, never a part, and two writers do not
 * lose each other's changes.
 *
 * A generated key is "sk-llmp-" followed by 43 base62 characters: 32
 * bytes from the system's random source (getrandom(), else /dev/urandom)
 * written as one base-62 number. It is returned once and never stored.
 */
#ifndef PX_KEYS_H
#define PX_KEYS_H

#include <stddef.h>
#include <stdio.h>
#include "auth.h"
#include "json.h"

#ifndef KEYS_MAX
#define KEYS_MAX 1024                 /* keys in the keys file */
#endif
#ifndef KEYS_FILE_MAX
#define KEYS_FILE_MAX (4u * 1024 * 1024)
#endif
#ifndef KEYS_BUDGET_MAX
#define KEYS_BUDGET_MAX 1e9           /* USD per period */
#endif

#define KEYS_FILE          "keys.json"
#define KEYS_SECRET_PREFIX "sk-llmp-"
#define KEYS_SECRET_LEN    (8 + 43)   /* prefix + 43 base62 digits */
#define KEYS_SECRET_SIZE   64         /* buffer for a secret with its NUL */
#define KEYS_SHOWN_LEN     12         /* prefix kept: "sk-llmp-" + 4 */

/* Return codes of the writing operations. */
#define KEYS_OK      0
#define KEYS_EIO    -1                /* I/O, lock, or an unreadable file */
#define KEYS_EINVAL -2                /* bad name or settings */
#define KEYS_EEXIST -3                /* create: the name is taken */
#define KEYS_ENOENT -4                /* revoke/rotate: no such key */

/* A loaded keys file. keys is malloc'd (keys_free()); n <= KEYS_MAX. */
struct keys_set {
	struct auth_key *keys;
	size_t n;
};

/* A settings error: `at` is the offending value's source bytes (json raw
 * pointer, NULL when none) so a config parser can name the line. */
struct keys_err {
	const char *at;
	char msg[256];
};

/* The settings members, NULL-terminated: "models", "rpm", "tpm",
 * "parallel", "budget", "expires". */
extern const char *const keys_settings_members[];

/*
 * Parse a key's settings from the members of the JSON object obj into
 * *lim (which is first reset to no limits):
 *   "models":   ["gpt-*", "claude-sonnet-4-5"]  1..AUTH_MODELS_MAX patterns
 *   "rpm", "tpm", "parallel":  positive integers (at most LIM_RATE_MAX)
 *   "budget":   {"usd": 10.5, "per": "day" | "month"}
 *   "expires":  "2026-01-01" or "2026-01-01T12:00:00Z" (UTC)
 * Members named in `also` (NULL-terminated; the caller's own, such as
 * "name" and "key") are skipped; with also == NULL every other member is
 * skipped, else any other member is an error. A member given twice is an
 * error. Returns 0, or -1 with *e filled (e may be NULL).
 *
 * Example (config.c, an "api_keys" object entry e, after auth_key_plain()
 * or auth_key_hex() filled k):
 *   static const char *const mine[] = { "name", "sha256", "key", NULL };
 *   struct keys_err ke;
 *   if (keys_settings_parse(&k->lim, e, mine, &ke) < 0)
 *       return failp(x, ke.at, "%s%s", pre, ke.msg);
 * (and drop config.c's own check_keys() for that object, or add
 * keys_settings_members to its list.)
 */
int keys_settings_parse(struct auth_limits *lim, const struct json *obj,
                        const char *const *also, struct keys_err *e);

/* Write the settings as members of the JSON object open in w (nothing for
 * a key without limits), in the form keys_settings_parse() reads. */
void keys_settings_write(struct jw *w, const struct auth_limits *lim);

/* One line of text for lists: "models=gpt-*,o3 rpm=60 tpm=100000
 * parallel=4 budget=$10.00/day expires=2026-01-01T00:00:00Z", or "-" for no
 * limits. Returns the length (truncated to cap - 1). */
size_t keys_settings_str(const struct auth_limits *lim, char *buf, size_t cap);

/* 1 when name is a valid key name: 1..AUTH_NAME_MAX-1 bytes of
 * [A-Za-z0-9._@-], starting with a letter or digit (it appears in logs,
 * metrics labels and URLs unescaped). */
int keys_name_ok(const char *name);

/*
 * A time as the keys file and --expires take it: "YYYY-MM-DD" (00:00 UTC)
 * or "YYYY-MM-DDTHH:MM:SSZ", years 1970..9999. Returns 0 and sets *t (unix
 * seconds), or -1.
 */
int keys_parse_time(const char *s, size_t n, long long *t);

/*
 * Parse a keys file image text[0..len) into *ks (malloc'd; keys_free()).
 * Returns 0, or -1 with "name:line: message" in err (ks untouched). Never
 * reads outside text; any input is safe.
 */
int keys_parse(struct keys_set *ks, const char *name, const char *text,
               size_t len, char *err, size_t errcap);

/* Serialise ks into w as the file content (one key per line). Returns 0,
 * or -1 when w overflowed. */
int keys_format(const struct keys_set *ks, struct jw *w);

/*
 * Load STATE_DIR/keys.json. A missing file (or directory) is an empty set,
 * not an error. Returns 0, or -1 with "path:line: message" or the system
 * error in err. The running proxy calls this at start, on SIGHUP and when
 * keys_changed() says so; on -1 it keeps the keys it had.
 */
int keys_load(struct keys_set *ks, const char *state_dir, char *err,
              size_t errcap);

void keys_free(struct keys_set *ks);

/* What keys_changed() compares: zero-initialise before the first call. */
struct keys_stamp {
	long long mtime_ns;
	long long size;
	unsigned long long ino;
	int exists;
};

/*
 * Stat STATE_DIR/keys.json (one stat(), cheap enough for a timer) and
 * compare with *last: returns 1 when it appeared, vanished or changed
 * since, and updates *last; 0 otherwise.
 */
int keys_changed(const char *state_dir, struct keys_stamp *last);

/* The first name that is both in ks and in keys[0..n) (e.g. the config's
 * keys), or NULL: names identify a key's limit state and usage, so a
 * name given twice is worth a warning at load. */
const char *keys_dup_name(const struct keys_set *ks,
                          const struct auth_key *keys, size_t n);

/* ------------------------------------------------------------ writing */

/*
 * Create key `name` with settings *lim (NULL: none) at time now (unix
 * seconds): a new secret is written to secret[KEYS_SECRET_SIZE] (the only
 * copy: show it once, then wipe it) and its digest stored. Returns KEYS_OK,
 * KEYS_EINVAL (bad name), KEYS_EEXIST, or KEYS_EIO; err says why.
 */
int keys_create(const char *state_dir, const char *name,
                const struct auth_limits *lim, long long now,
                char secret[KEYS_SECRET_SIZE], char *err, size_t errcap);

/* Remove key `name`. KEYS_OK, KEYS_ENOENT or KEYS_EIO. */
int keys_revoke(const char *state_dir, const char *name, char *err,
                size_t errcap);

/* Give key `name` a new secret (written to secret, as keys_create()), same
 * settings; the old secret stops working at the next load. KEYS_OK,
 * KEYS_ENOENT or KEYS_EIO. */
int keys_rotate(const char *state_dir, const char *name, long long now,
                char secret[KEYS_SECRET_SIZE], char *err, size_t errcap);

/* n bytes from the system's random source. 0, or -1 (never short). */
int keys_random(void *buf, size_t n);

/* The key for 32 random bytes: "sk-llmp-" + the bytes as a 43-digit
 * base-62 number (0-9A-Za-z, most significant first). */
void keys_secret_from_bytes(const unsigned char rnd[32],
                            char out[KEYS_SECRET_SIZE]);

/* ------------------------------------------------------------ command */

/* Callbacks the server may give the command; all optional. */
struct keys_hooks {
	long long now;            /* unix seconds; 0 = time(NULL) */
	/* unix seconds of the key's last use, 0 = never or unknown (the
	 * usage records know) */
	long long (*last_used)(void *ctx, const char *name);
	void *ctx;
};

/*
 * `llmproxy keys ...`: argv[0] is "keys".
 *   keys add NAME [--models P,...] [--rpm N] [--tpm N] [--parallel N]
 *                 [--budget USD --per day|month] [--expires DATE|Nd]
 *   keys list [--json]
 *   keys revoke NAME
 *   keys rotate NAME
 * add and rotate print the key alone on a line to `out` (and a note to
 * `err`), list prints a table (or JSON) to `out`; errors go to `err`.
 * Returns the exit status: 0, 1 (failed), 2 (usage).
 */
int px_keys_cmd(int argc, char **argv, const char *state_dir, FILE *out,
                FILE *err);
int px_keys_cmd_ex(int argc, char **argv, const char *state_dir, FILE *out,
                   FILE *err, const struct keys_hooks *hooks);

#endif
