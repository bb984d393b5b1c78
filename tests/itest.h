/*
 * itest.h - the integration harness shared by the integration test files:
 * processes (the proxy, the mock upstream), raw-socket HTTP clients that
 * see exactly the bytes the proxy wrote, a small JSON path reader and the
 * stream checks. See itest.c.
 */
#ifndef PX_ITEST_H
#define PX_ITEST_H

#include <check.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>
#include <time.h>

#include "testutil.h"

#define IO_MS        (5000 * scale) /* one response, ordinary case */
#define CK_TIMEOUT   (30 * scale)   /* per test, seconds */
#define AUTH_CHAT "Authorization: Bearer sk-test\r\n"
#define AUTH_ANT  "x-api-key: sk-test\r\nanthropic-version: 2023-06-01\r\n"
#define TOOL_CHAT ",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"parameters\":{\"type\":\"object\",\"properties\":{\"location\":{\"type\":\"string\"}}}}}]"
#define TOOL_ANT  ",\"tools\":[{\"name\":\"get_weather\",\"input_schema\":{\"type\":\"object\",\"properties\":{\"location\":{\"type\":\"string\"}}}}]"
#define ck_str(got, want) do { \
	const char *g_ = (got), *w_ = (want); \
	ck_assert_msg(g_ && strcmp(g_, w_) == 0, "%s: got '%s', want '%s'", \
	    #got, g_ ? g_ : "(null)", w_); \
} while (0)

struct proc {
	pid_t pid;
	pid_t owner;      /* the process that started it (parent or a test) */
	char log[300];
	char what[32];
};

struct env {
	int mock_port, tls_port, bad_port;
	int port;                 /* the proxy */
	struct proc *mock, *tls_mock, *bad_mock, *proxy;
	char cfg[300];
};

struct client {
	int fd;
	char *buf;            /* received, not yet consumed */
	size_t len, cap;
	int eof;
};

struct resp {
	int status;
	int got_continue;     /* a 100 Continue came first */
	char *head;           /* head text, NUL-terminated (mutated: names) */
	char *hname[64], *hval[64];
	int nh;
	int chunked;
	int complete;         /* framing complete */
	char *body;           /* decoded body, NUL-terminated */
	size_t body_len;
	size_t body_cap;      /* bytes allocated for body */
};

struct ev {
	char *event;          /* NULL without an event: line */
	char *data;           /* data lines joined with \n; NULL without */
};

struct chat_acc {
	char *content, *reasoning, *finish;
	char *usage;              /* usage object of the usage chunk, or NULL */
	int ntools;
	char *tool_id[8], *tool_name[8], *tool_args[8];
	char *error;              /* data of a final {"error":...} event */
	int done;                 /* data: [DONE] was the last event */
};

struct ant_acc {
	char *text, *thinking, *stop_reason;
	int nblocks;
	char *btype[16], *tool_id[16], *tool_name[16], *tool_json[16];
	long long in_tokens, out_tokens;
	char *error;              /* data of the final event: error */
	int stopped;              /* message_stop was last */
};

extern const char *proxy_bin, *mock_bin;
extern char *wrap_argv[32];
extern int nwrap;
extern char tmpdir[256];
extern int teardown_failed;
extern struct proc procs[256];
extern int nprocs;
extern SRunner *runner;
extern int case_failed_before;
extern time_t case_started;

long long mono_ms(void);
void sleep_ms(int ms);
char *strf(const char *fmt, ...);
void replace_all(char *s, size_t n, const char *from, const char *to);
char *fixture(const char *name, size_t *n);
void dump_log(const char *what, const char *path);
void case_begin(void);
void case_end(void);
void at_exit_cleanup(void);
struct proc *spawn(const char *what, char **argv);
int wait_log_number(struct proc *p, const char *prefix);
int proc_stop(struct proc *p, int timeout_ms);
struct proc *start_mock(const char *tlscert, const char *tlskey, int *port);
int closed_port(void);
void write_config(struct env *e, const char *ca);
void spawn_proxy(struct env *e);
void start_proxy(struct env *e, const char *ca);
void env_start(struct env *e);
void shared_start(void);
void env_stop(struct env *e);
void shared_stop(void);
int tcp_connect(int port);
void client_open(struct client *c, int port);
void client_close(struct client *c);
void send_all(int fd, const void *p, size_t n);
void client_send(struct client *c, const char *s);
int client_fill(struct client *c, long long deadline);
void client_consume(struct client *c, size_t n);
const char *memfind(const char *h, size_t hn, const char *needle);
int client_need(struct client *c, size_t n, long long deadline);
const char *client_line(struct client *c, size_t off, long long deadline);
const char *resp_hdr(const struct resp *r, const char *name);
void body_append(struct resp *r, const char *p, size_t n);
int read_head(struct client *c, struct resp *r, long long deadline);
int read_body(struct client *c, struct resp *r, int head_request, long long deadline);
int read_response(struct client *c, struct resp *r, int head_request, int ms);
char *req_text(const char *method, const char *path, const char *hdrs, const char *body);
void exchange(int port, const char *raw, struct resp *r);
void post_to(int port, const char *path, const char *body, struct resp *r);
void post(const char *path, const char *body, struct resp *r);
char *chat_body(const char *model, int stream);
char *ant_body(const char *model, int stream);
const char *jws(const char *p);
const char *jskip(const char *p);
int jfind(const char *json, const char *path, const char **vs, const char **ve);
int jhas(const char *json, const char *path);
char *jraw(const char *json, const char *path);
void put_utf8(char **o, unsigned long cp);
char *jstr(const char *json, const char *path);
long long jint(const char *json, const char *path, long long dflt);
int jlen(const char *json, const char *path);
int jvalid(const char *json);
int sse_split(const char *body, struct ev **out);
char *fixture_concat(const char *name, const char *type, const char *path);
void expect_status(const struct resp *r, int status);
void expect_openai_error(const struct resp *r, int status, const char *msg_part);
void expect_anthropic_error(const struct resp *r, int status, const char *etype, const char *msg_part);
void check_chat_stream(const struct resp *r, struct chat_acc *a);
void check_anthropic_stream(const struct resp *r, struct ant_acc *a);
extern int scale;               /* wait multiplier (valgrind: 10) */
extern struct env shared;       /* per TCase, see shared_start() */

/* it_gateway.c: a proxy on a config given as text, and requests and
 * answers in each client format (shared with it_team.c). */
enum cf { CF_CHAT, CF_ANT, CF_RSP, CF_GEM, CF_N };
extern const char *const cf_name[CF_N];
/* A mock and a proxy on the config text: "MOCK" is the mock's port,
 * "TMP" the test's temp dir. */
void gw_env(struct env *e, const char *text);
/* Start (again) the proxy of e on e->cfg. */
void gw_proxy_start(struct env *e);
/* Replace e->cfg with the text (written aside, then renamed). */
void gw_config_write(struct env *e, const char *text);
/* The proxy's log once the access log was flushed. */
char *gw_log(struct env *e);
/* Wait until needle is in the proxy's log count times: 1, or 0. */
int gw_wait_log(struct env *e, const char *needle, int count, int ms);
/* The access line of the request with id rid (waits for it). */
char *gw_access(struct env *e, const char *rid);
int gw_count(const char *s, const char *needle);
/* A request in format f for model (key NULL: sk-test; hdrs extra header
 * lines or NULL; max_tokens -1: none), and one done on a new connection. */
char *cf_req(enum cf f, const char *model, int stream, const char *key,
             const char *hdrs, long max_tokens);
void cf_do(int port, enum cf f, const char *model, int stream,
           const char *key, const char *hdrs, struct resp *r);
/* A complete successful answer in format f: its text. */
char *cf_text(enum cf f, int stream, const struct resp *r);
/* An error answer in format f's shape with this status: its message. */
char *cf_error(enum cf f, const struct resp *r, int status);
/* A stream that ended with an error event: its data; *partial the text
 * before it. */
char *cf_stream_error(enum cf f, const struct resp *r, char **partial);
/* GET path from the mock (200 expected). */
void mock_get(const struct env *e, const char *path, struct resp *r);

/* The test files: each adds its TCases to the suite. */
void it_core(Suite *s);
void it_hardening(Suite *s);
void it_streams(Suite *s);
void it_gateway(Suite *s);
void it_team(Suite *s);
void it_admin(Suite *s);
void it_first(Suite *s);
void it_accounts(Suite *s);
void it_sessions(Suite *s);
void it_exec(Suite *s);
TCase *tc(Suite *s, const char *name, int with_shared);

#endif
