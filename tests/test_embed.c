/*
 * test_embed.c - the embeddings and token-count codecs: OpenAI embeddings
 * requests, their Gemini embedContent / batchEmbedContents form and answer,
 * Anthropic count_tokens <-> Gemini countTokens requests and answers, the
 * text measure behind the local estimate, and a robustness pass that feeds
 * every decoder truncated and corrupted bodies.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert.h"
#include "json.h"
#include "testutil.h"

#define ARENA_CAP (64u << 20)

static struct px_arena A;

static void
setup(void)
{
	px_arena_init(&A, ARENA_CAP);
}

static void
teardown(void)
{
	px_arena_free(&A);
}

#define ck_str(got, want) do { \
	const char *g_ = (got), *w_ = (want); \
	ck_assert_msg(g_ != NULL && strcmp(g_, w_) == 0, \
	    "%s: got '%s', want '%s'", #got, g_ ? g_ : "(null)", w_); \
} while (0)

static struct px_str
pstr(const char *s)
{
	struct px_str r = { s, strlen(s) };
	return r;
}

static int
dec(const char *body, struct px_embed_req *r, struct px_err *e)
{
	memset(e, 0, sizeof *e);
	return px_embed_decode_request(&A, body, strlen(body), r, e);
}

static char *
enc_gemini(const char *body, const char *model, struct px_err *e)
{
	struct px_embed_req r;
	struct jw w;

	ck_assert_int_eq(dec(body, &r, e), 0);
	jw_init(&w, &A, 0);
	if (px_embed_encode_gemini(&r, pstr(model), &w, e) < 0)
		return NULL;
	return w.buf;
}

/* ------------------------------------------------------------ requests */

START_TEST(t_decode_shapes)
{
	struct px_embed_req r;
	struct px_err e;

	ck_assert_int_eq(dec("{\"model\":\"m\",\"input\":\"h\\u00e9\"}", &r, &e), 0);
	ck_assert_uint_eq(r.ninputs, 1);
	ck_assert_int_eq(r.tokens, 0);
	ck_assert_int_eq(r.base64, 0);
	ck_assert_int_eq(r.dimensions, -1);
	ck_assert_uint_eq(r.inputs[0].n, 3);
	ck_assert_int_eq(memcmp(r.inputs[0].p, "h\xc3\xa9", 3), 0);
	ck_assert_int_eq(r.model.n, 1);
	ck_assert_int_eq(px_embed_gemini_batch(&r), 0);

	ck_assert_int_eq(dec("{\"model\":\"m\",\"input\":[\"a\",\"bc\",\"\"],"
	    "\"encoding_format\":\"base64\",\"dimensions\":256,\"user\":\"u\"}",
	    &r, &e), 0);
	ck_assert_uint_eq(r.ninputs, 3);
	ck_assert_uint_eq(r.inputs[1].n, 2);
	ck_assert_uint_eq(r.inputs[2].n, 0);
	ck_assert_int_eq(r.base64, 1);
	ck_assert_int_eq(r.dimensions, 256);
	ck_assert_int_eq(px_embed_gemini_batch(&r), 1);

	/* one string in an array is still one input */
	ck_assert_int_eq(dec("{\"model\":\"m\",\"input\":[\"a\"]}", &r, &e), 0);
	ck_assert_int_eq(px_embed_gemini_batch(&r), 0);

	ck_assert_int_eq(dec("{\"model\":\"m\",\"input\":[1,2,3],"
	    "\"encoding_format\":null,\"dimensions\":null}", &r, &e), 0);
	ck_assert_int_eq(r.tokens, 1);
	ck_assert_uint_eq(r.ninputs, 1);
	ck_assert_int_eq(dec("{\"model\":\"m\",\"input\":[[1],[2,3]]}", &r, &e), 0);
	ck_assert_int_eq(r.tokens, 1);
	ck_assert_uint_eq(r.ninputs, 2);
}
END_TEST

static const struct { const char *body; int status; const char *msg; } bad[] = {
	{ "", 400, "invalid JSON at byte 0" },
	{ "[1]", 400, "must be a JSON object" },
	{ "{\"input\":\"a\"}", 400, "missing \"model\"" },
	{ "{\"model\":\"\",\"input\":\"a\"}", 400, "missing \"model\"" },
	{ "{\"model\":\"m\"}", 400, "missing \"input\"" },
	{ "{\"model\":\"m\",\"input\":null}", 400, "missing \"input\"" },
	{ "{\"model\":\"m\",\"input\":[]}", 400, "must not be empty" },
	{ "{\"model\":\"m\",\"input\":5}", 400, "\"input\" must be" },
	{ "{\"model\":\"m\",\"input\":[\"a\",null]}", 400, "\"input\" must be" },
	{ "{\"model\":\"m\",\"input\":[1,\"a\"]}", 400, "\"input\" must be" },
	{ "{\"model\":\"m\",\"input\":[1.5]}", 400, "\"input\" must be" },
	{ "{\"model\":\"m\",\"input\":[[1],[]]}", 400, "\"input\" must be" },
	{ "{\"model\":\"m\",\"input\":[[1],\"a\"]}", 400, "\"input\" must be" },
	{ "{\"model\":\"m\",\"input\":[true]}", 400, "\"input\" must be" },
	{ "{\"model\":\"m\",\"input\":\"a\",\"encoding_format\":\"int8\"}", 400, "encoding_format" },
	{ "{\"model\":\"m\",\"input\":\"a\",\"encoding_format\":1}", 400, "encoding_format" },
	{ "{\"model\":\"m\",\"input\":\"a\",\"dimensions\":0}", 400, "dimensions" },
	{ "{\"model\":\"m\",\"input\":\"a\",\"dimensions\":-3}", 400, "dimensions" },
	{ "{\"model\":\"m\",\"input\":\"a\",\"dimensions\":\"8\"}", 400, "dimensions" },
	{ "{\"model\":\"m\",\"input\":\"a\",\"dimensions\":1e300}", 400, "dimensions" },
};

START_TEST(t_decode_errors)
{
	struct px_embed_req r;
	struct px_err e;

	ck_assert_int_eq(dec(bad[_i].body, &r, &e), -1);
	ck_assert_int_eq(e.status, bad[_i].status);
	ck_assert_msg(strstr(e.msg, bad[_i].msg) != NULL, "%s: '%s' lacks '%s'",
	    bad[_i].body, e.msg, bad[_i].msg);
}
END_TEST

START_TEST(t_decode_too_many)
{
	size_t n = PX_EMBED_INPUTS_MAX + 1, i;
	char *b = malloc(64 + n * 4), *p = b;
	struct px_embed_req r;
	struct px_err e;

	p += sprintf(p, "{\"model\":\"m\",\"input\":[");
	for (i = 0; i < n; i++)
		p += sprintf(p, "%s\"x\"", i ? "," : "");
	strcpy(p, "]}");
	ck_assert_int_eq(dec(b, &r, &e), -1);
	ck_assert_msg(strstr(e.msg, "at most 2048") != NULL, "%s", e.msg);
	/* exactly the limit is fine */
	strcpy(b + strlen(b) - 6, "]}");
	ck_assert_int_eq(dec(b, &r, &e), 0);
	ck_assert_uint_eq(r.ninputs, PX_EMBED_INPUTS_MAX);
	free(b);
}
END_TEST

START_TEST(t_encode_gemini)
{
	struct px_err e;

	ck_str(enc_gemini("{\"model\":\"m\",\"input\":\"a\\\"b\\n\"}", "gemini-embedding-001", &e),
	    "{\"content\":{\"parts\":[{\"text\":\"a\\\"b\\n\"}]}}");
	ck_str(enc_gemini("{\"model\":\"m\",\"input\":[\"a\"],\"dimensions\":7}", "x", &e),
	    "{\"content\":{\"parts\":[{\"text\":\"a\"}]},\"outputDimensionality\":7}");
	ck_str(enc_gemini("{\"model\":\"m\",\"input\":[\"a\",\"b\"],\"dimensions\":2}", "models/e-1", &e),
	    "{\"requests\":["
	    "{\"model\":\"models/e-1\",\"content\":{\"parts\":[{\"text\":\"a\"}]},\"outputDimensionality\":2},"
	    "{\"model\":\"models/e-1\",\"content\":{\"parts\":[{\"text\":\"b\"}]},\"outputDimensionality\":2}]}");
	ck_str(enc_gemini("{\"model\":\"m\",\"input\":[\"a\",\"\"]}", "e-1", &e),
	    "{\"requests\":["
	    "{\"model\":\"models/e-1\",\"content\":{\"parts\":[{\"text\":\"a\"}]}},"
	    "{\"model\":\"models/e-1\",\"content\":{\"parts\":[{\"text\":\"\"}]}}]}");
	ck_assert_ptr_null(enc_gemini("{\"model\":\"m\",\"input\":[5,6]}", "e", &e));
	ck_assert_int_eq(e.status, 400);
	ck_assert_msg(strstr(e.msg, "token id input") != NULL, "%s", e.msg);
	ck_assert_ptr_null(enc_gemini("{\"model\":\"m\",\"input\":[[5],[6]]}", "e", &e));
	ck_assert_int_eq(e.status, 400);
}
END_TEST

/* ------------------------------------------------------------ answers */

static char *
answer(const char *req, const char *body, long long *tokens, struct px_err *e)
{
	struct px_embed_req r;
	struct jw w;

	ck_assert_int_eq(dec(req, &r, e), 0);
	jw_init(&w, &A, 0);
	memset(e, 0, sizeof *e);
	if (px_embed_decode_gemini(&A, &r, body, strlen(body), &w, tokens, e) < 0)
		return NULL;
	return w.buf;
}

START_TEST(t_answer_float)
{
	struct px_err e;
	long long t = 99;

	/* number text kept exactly: trailing zeros, exponents, -0 */
	ck_str(answer("{\"model\":\"cli\",\"input\":\"a\"}",
	    "{\n  \"embedding\": {\n    \"values\": [\n      0.0130,\n      -2E-3,\n"
	    "      -0,\n      1e+2, 0.10000000149011612 ]\n  }\n}\n", &t, &e),
	    "{\"object\":\"list\",\"data\":[{\"object\":\"embedding\",\"index\":0,"
	    "\"embedding\":[0.0130,-2E-3,-0,1e+2,0.10000000149011612]}],"
	    "\"model\":\"cli\",\"usage\":{\"prompt_tokens\":0,\"total_tokens\":0}}");
	ck_assert_int_eq(t, -1);
	ck_str(answer("{\"model\":\"cli\",\"input\":[\"a\",\"b\"]}",
	    "{\"embeddings\":[{\"values\":[1]},{\"values\":[]}],"
	    "\"usageMetadata\":{\"promptTokenCount\":7,\"totalTokenCount\":7}}", &t, &e),
	    "{\"object\":\"list\",\"data\":["
	    "{\"object\":\"embedding\",\"index\":0,\"embedding\":[1]},"
	    "{\"object\":\"embedding\",\"index\":1,\"embedding\":[]}],"
	    "\"model\":\"cli\",\"usage\":{\"prompt_tokens\":7,\"total_tokens\":7}}");
	ck_assert_int_eq(t, 7);
	/* embedContent answered in the list shape is accepted too */
	ck_str(answer("{\"model\":\"c\",\"input\":\"a\"}",
	    "{\"embeddings\":[{\"values\":[2.5]}]}", NULL, &e),
	    "{\"object\":\"list\",\"data\":[{\"object\":\"embedding\",\"index\":0,"
	    "\"embedding\":[2.5]}],\"model\":\"c\",\"usage\":{\"prompt_tokens\":0,"
	    "\"total_tokens\":0}}");
}
END_TEST

START_TEST(t_answer_base64)
{
	struct px_err e;
	const char *req1 = "{\"model\":\"c\",\"input\":\"a\",\"encoding_format\":\"base64\"}";

	/* 1.0f = 00 00 80 3f */
	ck_str(answer(req1, "{\"embedding\":{\"values\":[1.0]}}", NULL, &e),
	    "{\"object\":\"list\",\"data\":[{\"object\":\"embedding\",\"index\":0,"
	    "\"embedding\":\"AACAPw==\"}],\"model\":\"c\",\"usage\":{\"prompt_tokens\":0,"
	    "\"total_tokens\":0}}");
	/* 1.25 -1.5 1.75 (12 bytes, no padding); 0.1 rounds to float32
	 * 0x3dcccccd; out of float range saturates to +-inf; 2 values pad */
	ck_str(answer(req1, "{\"embedding\":{\"values\":[1.25,-1.5,175e-2]}}", NULL, &e) +
	    strlen("{\"object\":\"list\",\"data\":[{\"object\":\"embedding\",\"index\":0,\"embedding\":"),
	    "\"AACgPwAAwL8AAOA/\"}],\"model\":\"c\",\"usage\":{\"prompt_tokens\":0,\"total_tokens\":0}}");
	ck_assert_ptr_nonnull(strstr(answer(req1,
	    "{\"embedding\":{\"values\":[0.1,1e39,-1e39]}}", NULL, &e),
	    "\"embedding\":\"zczMPQAAgH8AAID/\""));
	ck_assert_ptr_nonnull(strstr(answer(req1,
	    "{\"embedding\":{\"values\":[0,-0.0]}}", NULL, &e),
	    "\"embedding\":\"AAAAAAAAAIA=\""));
	ck_assert_ptr_nonnull(strstr(answer(req1,
	    "{\"embedding\":{\"values\":[]}}", NULL, &e),
	    "\"embedding\":\"\""));
}
END_TEST

static const struct { const char *req, *body, *msg; } bad_answers[] = {
	{ "\"a\"", "", "invalid JSON at byte 0" },
	{ "\"a\"", "[]", "not a JSON object" },
	{ "\"a\"", "{}", "no \"embedding\" or \"embeddings\"" },
	{ "\"a\"", "{\"embedding\":[1]}", "no \"embedding\" or \"embeddings\"" },
	{ "\"a\"", "{\"embedding\":{}}", "has no \"values\"" },
	{ "\"a\"", "{\"embedding\":{\"values\":{}}}", "has no \"values\"" },
	{ "\"a\"", "{\"embedding\":{\"values\":[1,\"2\"]}}", "not a number" },
	{ "\"a\"", "{\"embedding\":{\"values\":[null]}}", "not a number" },
	{ "[\"a\",\"b\"]", "{\"embeddings\":[{\"values\":[1]}]}", "1 embeddings for 2 inputs" },
	{ "[\"a\",\"b\"]", "{\"embedding\":{\"values\":[1]}}", "1 embeddings for 2 inputs" },
	{ "[\"a\",\"b\"]", "{\"embeddings\":[{\"values\":[1]},5]}", "embedding 1 has no" },
	{ "\"a\"", "{\"embeddings\":[]}", "0 embeddings for 1 inputs" },
};

START_TEST(t_answer_errors)
{
	struct px_err e;
	char req[128];
	int b64;

	for (b64 = 0; b64 < 2; b64++) {
		snprintf(req, sizeof req, "{\"model\":\"c\",\"input\":%s%s}",
		    bad_answers[_i].req, b64 ? ",\"encoding_format\":\"base64\"" : "");
		ck_assert_ptr_null(answer(req, bad_answers[_i].body, NULL, &e));
		ck_assert_int_eq(e.status, 502);
		ck_assert_msg(strstr(e.msg, bad_answers[_i].msg) != NULL,
		    "'%s' lacks '%s'", e.msg, bad_answers[_i].msg);
	}
}
END_TEST

/* ------------------------------------ Gemini clients: embedContent, batch */

static char *
grewrite(const char *body, int batch, const char *model, struct px_err *e)
{
	struct jw w;

	jw_init(&w, &A, 0);
	memset(e, 0, sizeof *e);
	if (px_embed_gemini_rewrite(&A, body, strlen(body), batch, pstr(model),
	    &w, e) < 0)
		return NULL;
	return w.buf ? w.buf : "";
}

START_TEST(t_gemini_rewrite)
{
	struct px_err e;

	/* single: a model member is replaced in place, spacing kept */
	ck_str(grewrite("{ \"model\" : \"models/alias\",\"content\":{\"parts\":"
	    "[{\"text\":\"a\"}]}, \"taskType\":\"RETRIEVAL_QUERY\" }", 0,
	    "gemini-embedding-001", &e),
	    "{ \"model\" : \"models/gemini-embedding-001\",\"content\":{\"parts\":"
	    "[{\"text\":\"a\"}]}, \"taskType\":\"RETRIEVAL_QUERY\" }");
	/* single without one: untouched (the URL names the model) */
	ck_str(grewrite("{\"content\":{\"parts\":[{\"text\":\"a\"}]}}", 0, "x", &e),
	    "{\"content\":{\"parts\":[{\"text\":\"a\"}]}}");
	/* batch: each request's model replaced, or added when missing; the
	 * upstream name may already carry "models/" */
	ck_str(grewrite("{\"requests\":[ {\"model\":\"models/alias\",\"content\":"
	    "{\"parts\":[{\"text\":\"a\"}]},\"title\":\"T\"},\n {\"content\":{\"parts\":"
	    "[{\"text\":\"b\"}]}}, {} ]}", 1, "models/e-1", &e),
	    "{\"requests\":[ {\"model\":\"models/e-1\",\"content\":"
	    "{\"parts\":[{\"text\":\"a\"}]},\"title\":\"T\"},\n {\"model\":"
	    "\"models/e-1\",\"content\":{\"parts\":[{\"text\":\"b\"}]}}, "
	    "{\"model\":\"models/e-1\"} ]}");
	/* a top-level model in a batch too, duplicates included; a name
	 * that needs escaping is escaped */
	ck_str(grewrite("{\"model\":\"a\",\"requests\":[{\"model\":1,\"model\":"
	    "\"b\",\"content\":{}}]}", 1, "q\"x", &e),
	    "{\"model\":\"models/q\\\"x\",\"requests\":[{\"model\":\"models/q\\\"x\","
	    "\"model\":\"models/q\\\"x\",\"content\":{}}]}");
	/* errors: a batch the model cannot be set in */
	ck_assert_ptr_null(grewrite("{\"requests\":[]}", 1, "m", &e));
	ck_assert_int_eq(e.status, 400);
	ck_assert_msg(strstr(e.msg, "\"requests\" must be") != NULL, "%s", e.msg);
	ck_assert_ptr_null(grewrite("{\"requests\":{}}", 1, "m", &e));
	ck_assert_int_eq(e.status, 400);
	ck_assert_ptr_null(grewrite("{\"requests\":[{},5]}", 1, "m", &e));
	ck_assert_int_eq(e.status, 400);
	ck_assert_ptr_null(grewrite("{\"content\":{}}", 1, "m", &e));
	ck_assert_int_eq(e.status, 400);
	ck_assert_ptr_null(grewrite("[1]", 0, "m", &e));
	ck_assert_int_eq(e.status, 400);
	ck_assert_ptr_null(grewrite("{\"a\":", 0, "m", &e));
	ck_assert_int_eq(e.status, 400);
}
END_TEST

/* Decode a Gemini request and encode the OpenAI one. */
static char *
g2o(const char *body, int batch, struct px_err *e)
{
	struct px_embed_req r;
	struct jw w;

	memset(e, 0, sizeof *e);
	if (px_embed_decode_gemini_request(&A, body, strlen(body), batch,
	    pstr("cli-model"), &r, e) < 0)
		return NULL;
	ck_assert_int_eq(r.model.n, 9);
	ck_assert_int_eq(memcmp(r.model.p, "cli-model", 9), 0);
	ck_assert_int_eq(r.tokens, 0);
	ck_assert_int_eq(r.base64, 0);
	jw_init(&w, &A, 0);
	if (px_embed_encode_openai(&r, pstr("text-embedding-3-small"), batch,
	    &w, e) < 0)
		return NULL;
	return w.buf;
}

START_TEST(t_gemini_to_openai)
{
	struct px_err e;

	ck_str(g2o("{\"model\":\"models/x\",\"content\":{\"role\":\"user\","
	    "\"parts\":[{\"text\":\"h\\u00e9\\n\"}]},\"taskType\":\"RETRIEVAL_DOCUMENT\","
	    "\"title\":\"T\",\"outputDimensionality\":8}", 0, &e),
	    "{\"model\":\"text-embedding-3-small\",\"input\":\"h\xc3\xa9\\n\","
	    "\"encoding_format\":\"float\",\"dimensions\":8}");
	/* text parts of one content are one input, joined */
	ck_str(g2o("{\"content\":{\"parts\":[{\"text\":\"ab\"},{\"text\":\"\"},"
	    "{\"text\":\"c\"}]},\"outputDimensionality\":null}", 0, &e),
	    "{\"model\":\"text-embedding-3-small\",\"input\":\"abc\","
	    "\"encoding_format\":\"float\"}");
	/* a batch is always an array, one request included */
	ck_str(g2o("{\"requests\":[{\"model\":\"models/x\",\"content\":{\"parts\":"
	    "[{\"text\":\"a\"}]}}]}", 1, &e),
	    "{\"model\":\"text-embedding-3-small\",\"input\":[\"a\"],"
	    "\"encoding_format\":\"float\"}");
	ck_str(g2o("{\"requests\":[{\"content\":{\"parts\":[{\"text\":\"a\"}]},"
	    "\"outputDimensionality\":3,\"taskType\":\"CLUSTERING\"},{\"content\":"
	    "{\"parts\":[{\"text\":\"b\"},{\"text\":\"c\"}]},\"outputDimensionality\":3}]}",
	    1, &e),
	    "{\"model\":\"text-embedding-3-small\",\"input\":[\"a\",\"bc\"],"
	    "\"encoding_format\":\"float\",\"dimensions\":3}");
}
END_TEST

static const struct { const char *body; int batch; const char *msg; } gbad[] = {
	{ "", 0, "invalid JSON at byte 0" },
	{ "[]", 1, "not a JSON object" },
	{ "{}", 0, "\"content\" must be" },
	{ "{\"content\":\"a\"}", 0, "\"content\" must be" },
	{ "{\"content\":{}}", 0, "\"content\" must be" },
	{ "{\"content\":{\"parts\":[]}}", 0, "\"content\" must be" },
	{ "{\"content\":{\"parts\":{\"text\":\"a\"}}}", 0, "\"content\" must be" },
	{ "{\"content\":{\"parts\":[{\"text\":\"a\"},{\"inlineData\":{\"mimeType\":"
	  "\"image/png\",\"data\":\"AAAA\"}}]}}", 0, "only text parts" },
	{ "{\"content\":{\"parts\":[{\"fileData\":{\"fileUri\":\"u\"}}]}}", 0, "only text parts" },
	{ "{\"content\":{\"parts\":[{\"text\":5}]}}", 0, "only text parts" },
	{ "{\"content\":{\"parts\":[\"a\"]}}", 0, "only text parts" },
	{ "{\"content\":{\"parts\":[{\"text\":\"a\"}]},\"outputDimensionality\":0}", 0, "outputDimensionality" },
	{ "{\"content\":{\"parts\":[{\"text\":\"a\"}]},\"outputDimensionality\":2.5}", 0, "outputDimensionality" },
	{ "{\"content\":{\"parts\":[{\"text\":\"a\"}]},\"outputDimensionality\":\"8\"}", 0, "outputDimensionality" },
	{ "{\"content\":{\"parts\":[{\"text\":\"a\"}]}}", 1, "\"requests\" must be" },
	{ "{\"requests\":[]}", 1, "\"requests\" must be" },
	{ "{\"requests\":{}}", 1, "\"requests\" must be" },
	{ "{\"requests\":[5]}", 1, "request 0 is not an object" },
	{ "{\"requests\":[{\"content\":{\"parts\":[{\"text\":\"a\"}]}},{}]}", 1, "request 1: \"content\"" },
	{ "{\"requests\":[{\"content\":{\"parts\":[{\"text\":\"a\"}]},\"outputDimensionality\":4},"
	  "{\"content\":{\"parts\":[{\"text\":\"b\"}]}}]}", 1, "request 1: \"outputDimensionality\" differs" },
	{ "{\"requests\":[{\"content\":{\"parts\":[{\"text\":\"a\"}]}},"
	  "{\"content\":{\"parts\":[{\"text\":\"b\"}]},\"outputDimensionality\":4}]}", 1, "request 1: \"outputDimensionality\" differs" },
};

START_TEST(t_gemini_request_errors)
{
	struct px_err e;

	ck_assert_ptr_null(g2o(gbad[_i].body, gbad[_i].batch, &e));
	ck_assert_int_eq(e.status, 400);
	ck_assert_msg(strstr(e.msg, gbad[_i].msg) != NULL, "%s: '%s' lacks '%s'",
	    gbad[_i].body, e.msg, gbad[_i].msg);
}
END_TEST

START_TEST(t_gemini_request_too_many)
{
	size_t n = PX_EMBED_INPUTS_MAX + 1, i;
	const char *one = "{\"content\":{\"parts\":[{\"text\":\"x\"}]}}";
	char *b = malloc(64 + n * (strlen(one) + 1)), *p = b;
	struct px_embed_req r;
	struct px_err e;

	p += sprintf(p, "{\"requests\":[");
	for (i = 0; i < n; i++)
		p += sprintf(p, "%s%s", i ? "," : "", one);
	strcpy(p, "]}");
	ck_assert_int_eq(px_embed_decode_gemini_request(&A, b, strlen(b), 1,
	    pstr("m"), &r, &e), -1);
	ck_assert_msg(strstr(e.msg, "at most 2048") != NULL, "%s", e.msg);
	/* exactly the limit is fine */
	strcpy(b + strlen(b) - strlen(one) - 3, "]}");
	ck_assert_int_eq(px_embed_decode_gemini_request(&A, b, strlen(b), 1,
	    pstr("m"), &r, &e), 0);
	ck_assert_uint_eq(r.ninputs, PX_EMBED_INPUTS_MAX);
	free(b);
}
END_TEST

START_TEST(t_encode_openai_tokens)
{
	struct px_embed_req r;
	struct px_err e;
	struct jw w;

	/* token input (from /v1/embeddings) has no text to send this way */
	ck_assert_int_eq(dec("{\"model\":\"m\",\"input\":[1,2]}", &r, &e), 0);
	jw_init(&w, &A, 0);
	ck_assert_int_eq(px_embed_encode_openai(&r, pstr("m"), 0, &w, &e), -1);
	ck_assert_int_eq(e.status, 400);
	/* OpenAI-decoded text input encodes back to the same request */
	ck_assert_int_eq(dec("{\"model\":\"m\",\"input\":[\"a\",\"b\"],"
	    "\"dimensions\":2,\"encoding_format\":\"base64\"}", &r, &e), 0);
	jw_init(&w, &A, 0);
	ck_assert_int_eq(px_embed_encode_openai(&r, pstr("u"), 0, &w, &e), 0);
	ck_str(w.buf, "{\"model\":\"u\",\"input\":[\"a\",\"b\"],"
	    "\"encoding_format\":\"float\",\"dimensions\":2}");
}
END_TEST

/* An OpenAI answer converted for a Gemini client of n inputs. */
static char *
o2g(size_t n, int batch, const char *body, long long *t, struct px_err *e)
{
	static const char one[] = "{\"content\":{\"parts\":[{\"text\":\"x\"}]}}";
	char req[512], *p = req;
	struct px_embed_req r;
	struct jw w;
	size_t i;

	if (batch) {
		p += sprintf(p, "{\"requests\":[");
		for (i = 0; i < n; i++)
			p += sprintf(p, "%s%s", i ? "," : "", one);
		strcpy(p, "]}");
	} else {
		strcpy(req, one);
	}
	ck_assert_int_eq(px_embed_decode_gemini_request(&A, req, strlen(req),
	    batch, pstr("c"), &r, e), 0);
	jw_init(&w, &A, 0);
	memset(e, 0, sizeof *e);
	if (px_embed_encode_gemini_answer(&A, &r, batch, body, strlen(body),
	    &w, t, e) < 0)
		return NULL;
	return w.buf;
}

START_TEST(t_gemini_answer)
{
	struct px_err e;
	long long t = 99;

	/* numbers copied as written */
	ck_str(o2g(1, 0, "{\n \"object\": \"list\",\n \"data\": [{\"object\": "
	    "\"embedding\", \"index\": 0, \"embedding\": [0.0130, -2E-3, -0, 1e+2,"
	    " 0.10000000149011612]}],\"model\":\"text-embedding-3-small\","
	    "\"usage\":{\"prompt_tokens\":5,\"total_tokens\":5}}", &t, &e),
	    "{\"embedding\":{\"values\":[0.0130,-2E-3,-0,1e+2,0.10000000149011612]}}");
	ck_assert_int_eq(t, 5);
	/* ordered by index; no usage: -1 */
	ck_str(o2g(3, 1, "{\"data\":[{\"index\":2,\"embedding\":[3]},"
	    "{\"index\":0,\"embedding\":[1,1.5]},{\"index\":1,\"embedding\":[]}]}",
	    &t, &e),
	    "{\"embeddings\":[{\"values\":[1,1.5]},{\"values\":[]},{\"values\":[3]}]}");
	ck_assert_int_eq(t, -1);
	/* no index: by position; a batch of one is still a list */
	ck_str(o2g(1, 1, "{\"data\":[{\"embedding\":[2.5]}],\"usage\":"
	    "{\"prompt_tokens\":-4}}", &t, &e),
	    "{\"embeddings\":[{\"values\":[2.5]}]}");
	ck_assert_int_eq(t, -1);
}
END_TEST

static const struct { size_t n; int batch; const char *body, *msg; } gbad_answers[] = {
	{ 1, 0, "", "invalid JSON at byte 0" },
	{ 1, 0, "[]", "not a JSON object" },
	{ 1, 0, "{}", "no \"data\" array" },
	{ 1, 0, "{\"data\":{}}", "no \"data\" array" },
	{ 1, 0, "{\"data\":[]}", "0 embeddings for 1 inputs" },
	{ 2, 1, "{\"data\":[{\"embedding\":[1]}]}", "1 embeddings for 2 inputs" },
	{ 1, 0, "{\"data\":[5]}", "embedding 0 is not an object" },
	{ 1, 0, "{\"data\":[{\"index\":\"0\",\"embedding\":[1]}]}", "bad \"index\"" },
	{ 1, 0, "{\"data\":[{\"index\":0.5,\"embedding\":[1]}]}", "bad \"index\"" },
	{ 1, 0, "{\"data\":[{\"index\":1,\"embedding\":[1]}]}", "index 1 out of range" },
	{ 1, 0, "{\"data\":[{\"index\":-1,\"embedding\":[1]}]}", "index -1 out of range" },
	{ 2, 1, "{\"data\":[{\"index\":1,\"embedding\":[1]},{\"embedding\":[2]}]}", "index 1 out of range or repeated" },
	{ 1, 0, "{\"data\":[{\"index\":0}]}", "no float \"embedding\"" },
	{ 1, 0, "{\"data\":[{\"index\":0,\"embedding\":\"AACAPw==\"}]}", "no float \"embedding\"" },
	{ 1, 0, "{\"data\":[{\"embedding\":[1,null]}]}", "not a number" },
	{ 2, 1, "{\"data\":[{\"embedding\":[1]},{\"embedding\":[\"2\"]}]}", "embedding 1 has a value" },
};

START_TEST(t_gemini_answer_errors)
{
	struct px_err e;
	long long t = 7;

	ck_assert_ptr_null(o2g(gbad_answers[_i].n, gbad_answers[_i].batch,
	    gbad_answers[_i].body, &t, &e));
	ck_assert_int_eq(e.status, 502);
	ck_assert_msg(strstr(e.msg, gbad_answers[_i].msg) != NULL,
	    "%s: '%s' lacks '%s'", gbad_answers[_i].body, e.msg,
	    gbad_answers[_i].msg);
	ck_assert_int_eq(t, -1);
}
END_TEST

/* ------------------------------------------------------------ counts */

START_TEST(t_count_unwrap)
{
	struct px_str in;
	struct px_err e;
	const char *b = "{\"contents\":[{\"parts\":[{\"text\":\"x\"}]}]}";
	const char *w = "{\"generateContentRequest\": {\"model\":\"models/m\",\"contents\":[]} }";

	ck_assert_int_eq(px_count_unwrap_gemini(&A, b, strlen(b), &in, &e), 0);
	ck_assert_ptr_eq(in.p, b);
	ck_assert_uint_eq(in.n, strlen(b));
	ck_assert_int_eq(px_count_unwrap_gemini(&A, w, strlen(w), &in, &e), 0);
	ck_assert_int_eq((int)in.n, (int)strlen("{\"model\":\"models/m\",\"contents\":[]}"));
	ck_assert_int_eq(memcmp(in.p, "{\"model\":\"models/m\",\"contents\":[]}", in.n), 0);
	ck_assert_int_eq(px_count_unwrap_gemini(&A, "{\"generateContentRequest\":[]}", 29, &in, &e), -1);
	ck_assert_int_eq(e.status, 400);
	ck_assert_int_eq(px_count_unwrap_gemini(&A, "{", 1, &in, &e), -1);
	ck_assert_int_eq(e.status, 400);
}
END_TEST

static char *
count_req(enum px_fmt from, const char *body, enum px_fmt to,
          const char *model, struct px_err *e)
{
	struct ir_request req;
	struct px_str m = { model, strlen(model) };
	struct jw w;

	ck_assert_msg(px_decode_request(from, &A, body, strlen(body), &req, e) == 0,
	    "decode: %s", e->msg);
	jw_init(&w, &A, 0);
	if (px_count_encode_request(to, &A, &req, m, &w, e) < 0)
		return NULL;
	return w.buf;
}

START_TEST(t_count_requests)
{
	struct px_err e;

	/* Gemini -> Anthropic: generation options dropped */
	ck_str(count_req(PX_FMT_GEMINI,
	    "{\"systemInstruction\":{\"parts\":[{\"text\":\"S\"}]},"
	    "\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"Hi\"}]}],"
	    "\"generationConfig\":{\"maxOutputTokens\":10,\"temperature\":0.5,"
	    "\"stopSequences\":[\"x\"]}}", PX_FMT_ANTHROPIC, "claude-x", &e),
	    "{\"model\":\"claude-x\",\"system\":\"S\",\"messages\":[{\"role\":"
	    "\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Hi\"}]}]}");
	/* Anthropic -> Gemini: wrapped, model named */
	ck_str(count_req(PX_FMT_ANTHROPIC,
	    "{\"model\":\"a\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}",
	    PX_FMT_GEMINI, "models/g-1", &e),
	    "{\"generateContentRequest\":{\"model\":\"models/g-1\",\"contents\":"
	    "[{\"role\":\"user\",\"parts\":[{\"text\":\"Hi\"}]}]}}");
	/* no counting endpoint in the OpenAI formats */
	ck_assert_ptr_null(count_req(PX_FMT_ANTHROPIC,
	    "{\"model\":\"a\",\"messages\":[]}", PX_FMT_CHAT, "g", &e));
	ck_assert_int_eq(e.status, 400);
}
END_TEST

static char *
count_resp(enum px_fmt up, enum px_fmt client, const char *body,
           long long *t, struct px_err *e)
{
	struct jw w;

	jw_init(&w, &A, 0);
	memset(e, 0, sizeof *e);
	if (px_count_convert_response(up, client, &A, body, strlen(body), &w, t, e) < 0)
		return NULL;
	return w.buf;
}

START_TEST(t_count_responses)
{
	struct px_err e;
	long long t = -5;

	ck_str(count_resp(PX_FMT_ANTHROPIC, PX_FMT_GEMINI, "{\"input_tokens\":403}", &t, &e),
	    "{\"totalTokens\":403}");
	ck_assert_int_eq(t, 403);
	ck_str(count_resp(PX_FMT_GEMINI, PX_FMT_ANTHROPIC,
	    "{\"totalTokens\": 31, \"promptTokensDetails\": [{\"modality\": \"TEXT\", \"tokenCount\": 31}]}",
	    &t, &e), "{\"input_tokens\":31}");
	/* proto3 JSON omits a zero count */
	ck_str(count_resp(PX_FMT_GEMINI, PX_FMT_ANTHROPIC, "{}", &t, &e),
	    "{\"input_tokens\":0}");
	ck_assert_int_eq(t, 0);
	ck_assert_ptr_null(count_resp(PX_FMT_ANTHROPIC, PX_FMT_GEMINI, "{}", &t, &e));
	ck_assert_int_eq(e.status, 502);
	ck_assert_ptr_null(count_resp(PX_FMT_ANTHROPIC, PX_FMT_GEMINI, "{\"input_tokens\":-1}", &t, &e));
	ck_assert_ptr_null(count_resp(PX_FMT_ANTHROPIC, PX_FMT_GEMINI, "{\"input_tokens\":1.5}", &t, &e));
	ck_assert_ptr_null(count_resp(PX_FMT_GEMINI, PX_FMT_ANTHROPIC, "{\"totalTokens\":\"3\"}", &t, &e));
	ck_assert_int_eq(e.status, 502);
	ck_assert_ptr_null(count_resp(PX_FMT_GEMINI, PX_FMT_ANTHROPIC, "[1]", &t, &e));
	ck_assert_ptr_null(count_resp(PX_FMT_CHAT, PX_FMT_ANTHROPIC, "{\"input_tokens\":1}", &t, &e));
	ck_assert_int_eq(e.status, 502);
}
END_TEST

START_TEST(t_text_bytes)
{
	struct ir_request req;
	struct px_err e;
	const char *b = "{\"model\":\"m\",\"system\":\"abc\",\"messages\":["
	    "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"hello\"},"
	    "{\"type\":\"image\",\"source\":{\"type\":\"base64\",\"media_type\":\"image/png\",\"data\":\"AAAA\"}}]},"
	    "{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_use\",\"id\":\"t1\",\"name\":\"fn\",\"input\":{\"a\":1}}]},"
	    "{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"t1\",\"content\":\"ok\"}]}],"
	    "\"tools\":[{\"name\":\"fn\",\"description\":\"d\",\"input_schema\":{}}]}";

	ck_assert_int_eq(px_decode_request(PX_FMT_ANTHROPIC, &A, b, strlen(b), &req, &e), 0);
	/* abc 3 + hello 5 + call fn 2 + {"a":1} 7 + result: its call's name
	 * fn 2 + ok 2 + tool fn 2 + d 1 + {} 2; the image is not text */
	ck_assert_uint_eq(px_request_text_bytes(&req), 26);
}
END_TEST

/* ------------------------------------------------------------ robustness */

/* Every decoder on one input: no crash, 0 or a clean -1 with a reason. */
static void
feed_all(const char *p, size_t n)
{
	static const char *const reqs[] = {
		"{\"model\":\"c\",\"input\":\"a\"}",
		"{\"model\":\"c\",\"input\":[\"a\",\"b\"],\"encoding_format\":\"base64\"}",
	};
	static const char *const greqs[] = {
		"{\"content\":{\"parts\":[{\"text\":\"a\"}]}}",
		"{\"requests\":[{\"content\":{\"parts\":[{\"text\":\"a\"}]}},"
		"{\"content\":{\"parts\":[{\"text\":\"b\"}]}}]}",
	};
	struct px_arena a;
	struct px_embed_req r;
	struct px_err e;
	struct px_str in;
	struct jw w;
	long long t;
	size_t k;
	int rc;

	px_arena_init(&a, 1u << 20);
	memset(&e, 0, sizeof e);
	rc = px_embed_decode_request(&a, p, n, &r, &e);
	ck_assert(rc == 0 || (rc == -1 && e.msg[0] && (e.status == 400 || e.status == 413)));
	if (rc == 0) {
		jw_init(&w, &a, 1u << 16);
		e.msg[0] = 0;
		rc = px_embed_encode_gemini(&r, pstr("m"), &w, &e);
		ck_assert(rc == 0 || e.msg[0]);
	}
	for (k = 0; k < 2; k++) {
		ck_assert_int_eq(px_embed_decode_request(&a, reqs[k], strlen(reqs[k]), &r, &e), 0);
		jw_init(&w, &a, 1u << 16);
		e.msg[0] = 0;
		rc = px_embed_decode_gemini(&a, &r, p, n, &w, &t, &e);
		ck_assert(rc == 0 || (rc == -1 && e.msg[0] && (e.status == 502 || e.status == 413)));
	}
	/* Gemini clients: rewrite, decode + OpenAI encode, answer; what
	 * succeeds is JSON */
	for (k = 0; k < 2; k++) {
		jw_init(&w, &a, 1u << 20);
		e.msg[0] = 0;
		rc = px_embed_gemini_rewrite(&a, p, n, (int)k, pstr("m"), &w, &e);
		ck_assert(rc == 0 || (rc == -1 && e.msg[0] && (e.status == 400 || e.status == 413)));
		if (rc == 0)
			ck_assert(json_parse(&a, w.buf ? w.buf : "", w.len, 0, NULL) != NULL);
		e.msg[0] = 0;
		rc = px_embed_decode_gemini_request(&a, p, n, (int)k, pstr("c"), &r, &e);
		ck_assert(rc == 0 || (rc == -1 && e.msg[0] && (e.status == 400 || e.status == 413)));
		if (rc == 0) {
			jw_init(&w, &a, 1u << 20);
			ck_assert_int_eq(px_embed_encode_openai(&r, pstr("u"), (int)k, &w, &e), 0);
			ck_assert(json_parse(&a, w.buf, w.len, 0, NULL) != NULL);
		}
		ck_assert_int_eq(px_embed_decode_gemini_request(&a, greqs[k],
		    strlen(greqs[k]), (int)k, pstr("c"), &r, &e), 0);
		jw_init(&w, &a, 1u << 20);
		e.msg[0] = 0;
		rc = px_embed_encode_gemini_answer(&a, &r, (int)k, p, n, &w, &t, &e);
		ck_assert(rc == 0 || (rc == -1 && e.msg[0] && (e.status == 502 || e.status == 413)));
		if (rc == 0)
			ck_assert(json_parse(&a, w.buf, w.len, 0, NULL) != NULL);
	}
	e.msg[0] = 0;
	rc = px_count_unwrap_gemini(&a, p, n, &in, &e);
	ck_assert(rc == 0 || e.msg[0]);
	if (rc == 0)
		ck_assert(in.p >= p && in.p + in.n <= p + n);
	for (k = 0; k < 2; k++) {
		jw_init(&w, &a, 4096);
		e.msg[0] = 0;
		rc = px_count_convert_response(k ? PX_FMT_GEMINI : PX_FMT_ANTHROPIC,
		    k ? PX_FMT_ANTHROPIC : PX_FMT_GEMINI, &a, p, n, &w, &t, &e);
		ck_assert(rc == 0 || (rc == -1 && e.msg[0]));
	}
	px_arena_free(&a);
}

START_TEST(t_truncated_and_garbage)
{
	static const char *const seeds[] = {
		"{\"model\":\"text-embedding-3-small\",\"input\":[\"hello\",\"w\\u00f6rld\"],"
		"\"encoding_format\":\"base64\",\"dimensions\":8,\"user\":\"u\"}",
		"{\"model\":\"m\",\"input\":[[1,2,3],[4]]}",
		"{\n  \"embedding\": {\n    \"values\": [\n      0.25,\n      -1e-3\n    ]\n  }\n}\n",
		"{\"embeddings\":[{\"values\":[1,2]},{\"values\":[3.5]}],"
		"\"usageMetadata\":{\"promptTokenCount\":4}}",
		"{\"generateContentRequest\":{\"model\":\"models/x\",\"contents\":[]}}",
		"{\"input_tokens\":12}",
		"{\"totalTokens\":12,\"cachedContentTokenCount\":3}",
		"{\"model\":\"models/x\",\"content\":{\"parts\":[{\"text\":\"h\\u00e9\"},"
		"{\"text\":\"b\"}]},\"taskType\":\"RETRIEVAL_DOCUMENT\",\"title\":\"t\","
		"\"outputDimensionality\":8}",
		"{\"requests\":[{\"model\":\"models/x\",\"content\":{\"parts\":"
		"[{\"text\":\"a\"}]},\"outputDimensionality\":3},{\"content\":{\"parts\":"
		"[{\"text\":\"b\"}]},\"outputDimensionality\":3}]}",
		"{\"object\":\"list\",\"data\":[{\"object\":\"embedding\",\"index\":1,"
		"\"embedding\":[0.5,-1e-3]},{\"index\":0,\"embedding\":[2]}],"
		"\"model\":\"m\",\"usage\":{\"prompt_tokens\":3,\"total_tokens\":3}}",
	};
	static const char junk[] = { '\0', '"', '\\', '[', '{', '}', ']', ',',
	    ':', '-', 'e', '9', '\xff', '\xc3' };
	size_t s, cut, i, j;

	for (s = 0; s < sizeof seeds / sizeof seeds[0]; s++) {
		size_t n = strlen(seeds[s]);
		char *buf = malloc(n + 1);
		/* every prefix, in a buffer that ends at a guard page */
		for (cut = 0; cut <= n; cut++) {
			struct guard g;
			feed_all(guard_copy(&g, seeds[s], cut), cut);
			guard_free(&g);
		}
		/* every byte replaced by each junk byte */
		for (i = 0; i < n; i++) {
			for (j = 0; j < sizeof junk; j++) {
				struct guard g;
				memcpy(buf, seeds[s], n);
				buf[i] = junk[j];
				feed_all(guard_copy(&g, buf, n), n);
				guard_free(&g);
			}
		}
		free(buf);
	}
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("embed");
	TCase *tc;

	tc = tcase_create("embeddings");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, t_decode_shapes);
	tcase_add_loop_test(tc, t_decode_errors, 0, (int)(sizeof bad / sizeof bad[0]));
	tcase_add_test(tc, t_decode_too_many);
	tcase_add_test(tc, t_encode_gemini);
	tcase_add_test(tc, t_answer_float);
	tcase_add_test(tc, t_answer_base64);
	tcase_add_loop_test(tc, t_answer_errors, 0, (int)(sizeof bad_answers / sizeof bad_answers[0]));
	suite_add_tcase(s, tc);

	tc = tcase_create("gemini_clients");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, t_gemini_rewrite);
	tcase_add_test(tc, t_gemini_to_openai);
	tcase_add_loop_test(tc, t_gemini_request_errors, 0, (int)(sizeof gbad / sizeof gbad[0]));
	tcase_add_test(tc, t_gemini_request_too_many);
	tcase_add_test(tc, t_encode_openai_tokens);
	tcase_add_test(tc, t_gemini_answer);
	tcase_add_loop_test(tc, t_gemini_answer_errors, 0, (int)(sizeof gbad_answers / sizeof gbad_answers[0]));
	suite_add_tcase(s, tc);

	tc = tcase_create("counts");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, t_count_unwrap);
	tcase_add_test(tc, t_count_requests);
	tcase_add_test(tc, t_count_responses);
	tcase_add_test(tc, t_text_bytes);
	suite_add_tcase(s, tc);

	tc = tcase_create("robustness");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, t_truncated_and_garbage);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(suite());
	int nf;

	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
