/*
 * test_decode.c - the request decoders: undefined behaviour a request could
 * reach over HTTP, ids and names that are {NULL, 0} reaching memcpy/memcmp
 * in the history repair and in Gemini's call pairing. Those tests abort
 * under UBSan (make SAN=1 build-san/test_decode) without the fixes.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert_int.h"
#include "testutil.h"

/* Convert body from -> to; malloc'd result (see the file comment). */
static char *
conv(enum px_fmt from, enum px_fmt to, const char *body)
{
	struct px_arena a;
	struct ir_request req;
	struct px_err err;
	struct guard g;
	struct jw w;
	char *in, *r;
	size_t n = strlen(body);

	px_set_deterministic(1700000000);
	px_arena_init(&a, 0);
	memset(&err, 0, sizeof err);
	jw_init(&w, &a, 1u << 20);
	in = guard_copy(&g, body, n);
	if (px_decode_request(from, &a, in, n, &req, &err) != 0 ||
	    px_encode_request(to, &req, px_str_c("u"), &w, &err) != 0) {
		r = malloc(300);
		ck_assert_ptr_nonnull(r);
		snprintf(r, 300, "ERROR %d: %s", err.status, err.msg);
	} else {
		ck_assert(!w.err);
		r = strdup(w.buf);
		ck_assert_ptr_nonnull(r);
	}
	px_arena_free(&a);
	guard_free(&g);
	return r;
}

/* every target of one client body */
static void
expect_all(enum px_fmt from, const char *body,
           const char *const want[PX_FMT_COUNT])
{
	char *out;
	int t;

	for (t = 0; t < PX_FMT_COUNT; t++) {
		out = conv(from, (enum px_fmt)t, body);
		ck_assert_msg(strcmp(out, want[t]) == 0, "to %s:\n%s\nwant %s",
		    px_fmt_name((enum px_fmt)t), out, want[t]);
		free(out);
	}
}

/*
 * A Chat conversation that starts with a tool message without
 * tool_call_id: the orphan result's line is built with memcpy from the
 * empty id (NULL, 0), undefined behaviour that UBSan stops on.
 */
START_TEST(t_ub_orphan_without_id)
{
	static const char *const want[PX_FMT_COUNT] = {
	    "{\"model\":\"u\",\"messages\":[{\"role\":\"user\",\"content\":"
	    "[{\"type\":\"text\",\"text\":\"Result of tool call , whose cal"
	    "l is not in this conversation:\"},{\"type\":\"text\",\"text\":"
	    "\"r\"}]},{\"role\":\"user\",\"content\":\"q\"}]}",
	    "{\"model\":\"u\",\"input\":[{\"type\":\"message\",\"role\":\"u"
	    "ser\",\"content\":[{\"type\":\"input_text\",\"text\":\"Result "
	    "of tool call , whose call is not in this conversation:\"},{\"t"
	    "ype\":\"input_text\",\"text\":\"r\"}]},{\"type\":\"message\","
	    "\"role\":\"user\",\"content\":[{\"type\":\"input_text\",\"text"
	    "\":\"q\"}]}]}",
	    "{\"model\":\"u\",\"max_tokens\":32000,\"messages\":[{\"role\":"
	    "\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Result of "
	    "tool call , whose call is not in this conversation:\"},{\"type"
	    "\":\"text\",\"text\":\"r\"},{\"type\":\"text\",\"text\":\"q\"}"
	    "]}]}",
	    "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"Resul"
	    "t of tool call , whose call is not in this conversation:\"},{"
	    "\"text\":\"r\"},{\"text\":\"q\"}]}]}"
	};

	expect_all(PX_FMT_CHAT,
	    "{\"model\":\"m\",\"messages\":[{\"role\":\"tool\",\"content\":"
	    "\"r\"},{\"role\":\"user\",\"content\":\"q\"}]}", want);
}
END_TEST

/*
 * Gemini function calls without a name: counting the calls of a name and
 * pairing a response by name compared two empty names with memcmp(NULL,
 * NULL, 0).
 */
START_TEST(t_ub_gemini_unnamed_calls)
{
	static const char *const want[PX_FMT_COUNT] = {
	    "{\"model\":\"u\",\"messages\":[{\"role\":\"user\",\"content\":"
	    "\"q\"},{\"role\":\"assistant\",\"content\":null,\"tool_calls\""
	    ":[{\"id\":\"call__0\",\"type\":\"function\",\"function\":{\"na"
	    "me\":\"\",\"arguments\":\"{}\"}},{\"id\":\"call__1\",\"type\":"
	    "\"function\",\"function\":{\"name\":\"\",\"arguments\":\"{}\"}"
	    "}]},{\"role\":\"tool\",\"tool_call_id\":\"call__0\",\"content"
	    "\":\"r\"},{\"role\":\"tool\",\"tool_call_id\":\"call__1\",\"co"
	    "ntent\":\"Error: No result was recorded for this tool call.\"}"
	    "]}",
	    "{\"model\":\"u\",\"input\":[{\"type\":\"message\",\"role\":\"u"
	    "ser\",\"content\":[{\"type\":\"input_text\",\"text\":\"q\"}]},"
	    "{\"type\":\"function_call\",\"call_id\":\"call__0\",\"name\":"
	    "\"\",\"arguments\":\"{}\"},{\"type\":\"function_call\",\"call_"
	    "id\":\"call__1\",\"name\":\"\",\"arguments\":\"{}\"},{\"type\""
	    ":\"function_call_output\",\"call_id\":\"call__0\",\"output\":"
	    "\"r\"},{\"type\":\"function_call_output\",\"call_id\":\"call__"
	    "1\",\"output\":\"Error: No result was recorded for this tool c"
	    "all.\"}]}",
	    "{\"model\":\"u\",\"max_tokens\":32000,\"messages\":[{\"role\":"
	    "\"user\",\"content\":[{\"type\":\"text\",\"text\":\"q\"}]},{\""
	    "role\":\"assistant\",\"content\":[{\"type\":\"tool_use\",\"id"
	    "\":\"call__0\",\"name\":\"\",\"input\":{}},{\"type\":\"tool_us"
	    "e\",\"id\":\"call__1\",\"name\":\"\",\"input\":{}}]},{\"role\""
	    ":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id"
	    "\":\"call__0\",\"content\":\"r\"},{\"type\":\"tool_result\",\""
	    "tool_use_id\":\"call__1\",\"content\":\"No result was recorded"
	    " for this tool call.\",\"is_error\":true}]}]}",
	    "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"q\"}]"
	    "},{\"role\":\"model\",\"parts\":[{\"functionCall\":{\"name\":"
	    "\"\",\"args\":{}}},{\"functionCall\":{\"name\":\"\",\"args\":{"
	    "}}}]},{\"role\":\"user\",\"parts\":[{\"functionResponse\":{\"n"
	    "ame\":\"\",\"response\":{\"result\":\"r\"}}},{\"functionRespon"
	    "se\":{\"name\":\"\",\"response\":{\"error\":\"No result was re"
	    "corded for this tool call.\"}}}]}]}"
	};

	expect_all(PX_FMT_GEMINI,
	    "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"q\"}]"
	    "},{\"role\":\"model\",\"parts\":[{\"functionCall\":{}},{\"func"
	    "tionCall\":{}}]},{\"role\":\"user\",\"parts\":[{\"functionResp"
	    "onse\":{\"response\":{\"result\":\"r\"}}}]}]}", want);
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("decode");
	TCase *tc;

	tc = tcase_create("ub");
	tcase_add_test(tc, t_ub_orphan_without_id);
	tcase_add_test(tc, t_ub_gemini_unnamed_calls);
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
