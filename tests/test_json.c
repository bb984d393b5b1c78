/*
 * test_json.c - parser conformance (JSONTestSuite-style y_/n_ vectors
 * compiled in as byte arrays), exact error positions, raw spans, limits
 * (depth, arena cap), number conversion, and the writer byte for byte.
 * Every parser input is copied against a PROT_NONE guard page, so reading
 * one byte past src+n crashes the test.
 */
#include <check.h>
#include <dirent.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "testutil.h"

#ifndef FIXTURE_DIR
#define FIXTURE_DIR "tests/fixtures"
#endif

/* Parse from a guard page; *g must be released with guard_free(). */
static struct json *
gparse(struct px_arena *a, struct guard *g, const char *s, size_t n,
    unsigned flags, struct json_err *e)
{
	const char *p;

	p = guard_copy(g, s, n);
	return json_parse(a, p, n, flags, e);
}

/* Compact re-serialisation of v into a malloc'd string. */
static char *
compact(const struct json *v, size_t *n)
{
	struct px_arena a;
	struct jw w;
	char *s;

	px_arena_init(&a, 0);
	jw_init(&w, &a, 0);
	jw_value(&w, v);
	ck_assert_int_eq(w.err, 0);
	s = malloc(w.len + 1);
	memcpy(s, w.buf != NULL ? w.buf : "", w.len);
	s[w.len] = 0;
	*n = w.len;
	px_arena_free(&a);
	return s;
}

/* ------------------------------------------------------------ vectors */

struct jcase {
	const char *name;
	const char *in;
	size_t len;
	unsigned flags;
	int code;             /* JSON_OK or the expected error */
	size_t pos;           /* expected error position */
	const char *out;      /* expected compact form (JSON_OK); NULL: same */
};

#define C   JSON_F_COMMENTS
#define Y(name, in, out)            { name, in, sizeof(in) - 1, 0, 0, 0, out }
#define N(name, in, code, pos)      { name, in, sizeof(in) - 1, 0, code, pos, NULL }
#define YC(name, in, out)           { name, in, sizeof(in) - 1, C, 0, 0, out }
#define NC(name, in, code, pos)     { name, in, sizeof(in) - 1, C, code, pos, NULL }

#define SYN JSON_ERR_SYNTAX
#define END JSON_ERR_EOF
#define UTF JSON_ERR_UTF8
#define ESC JSON_ERR_ESCAPE
#define NUM JSON_ERR_NUMBER
#define TRL JSON_ERR_TRAILING

static const struct jcase cases[] = {
	/* ---- y_: must be accepted */
	Y("y_array_empty", "[]", NULL),
	Y("y_array_empty_ws", " [ ] ", "[]"),
	Y("y_array_nested", "[[[]],[]]", NULL),
	Y("y_array_mixed", "[1, \"a\" ,true,false,null,{},[]]",
	    "[1,\"a\",true,false,null,{},[]]"),
	Y("y_array_ws_everywhere", "\t\r\n [ \t1 \r\n, 2\n]\n", "[1,2]"),
	Y("y_object_empty", "{}", NULL),
	Y("y_object_basic", "{ \"a\" : 1 }", "{\"a\":1}"),
	Y("y_object_duplicate_keys", "{\"a\":1,\"a\":2}", NULL),
	Y("y_object_empty_key", "{\"\":0}", NULL),
	Y("y_object_nested", "{\"a\":{\"b\":[{\"c\":null}]}}", NULL),
	Y("y_object_escaped_key", "{\"\\u0061\\n\":1}", "{\"a\\n\":1}"),
	Y("y_number_zero", "0", NULL),
	Y("y_number_minus_zero", "-0", NULL),
	Y("y_number_zero_frac", "0.0", NULL),
	Y("y_number_exp", "1e10", NULL),
	Y("y_number_exp_caps_plus", "1E+2", NULL),
	Y("y_number_exp_minus", "-1.5e-300", NULL),
	Y("y_number_exp_leading_zero", "1e007", NULL),
	Y("y_number_huge_int", "123456789012345678901234567890", NULL),
	Y("y_number_huge_exp", "1E400", NULL),
	Y("y_number_tiny", "-1e-99999", NULL),
	Y("y_number_after_space", " 7 ", "7"),
	Y("y_number_in_array", "[-0.5,0e0,0E-0]", NULL),
	Y("y_string_empty", "\"\"", NULL),
	Y("y_string_escapes", "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"",
	    "\"\\\"\\\\/\\b\\f\\n\\r\\t\""),
	Y("y_string_u_escapes", "\"\\u0041\\u00e9\\u20AC\"",
	    "\"A\xC3\xA9\xE2\x82\xAC\""),
	Y("y_string_surrogate_pair", "\"\\ud83d\\ude00\"",
	    "\"\xF0\x9F\x98\x80\""),
	Y("y_string_surrogate_pair_caps", "\"\\uD834\\uDD1E\"",
	    "\"\xF0\x9D\x84\x9E\""),
	Y("y_string_max_pair", "\"\\udbff\\udfff\"", "\"\xF4\x8F\xBF\xBF\""),
	Y("y_string_u0000", "\"a\\u0000b\"", "\"a\\u0000b\""),
	Y("y_string_u001f", "\"\\u001F\"", "\"\\u001f\""),
	Y("y_string_utf8", "\"\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\"", NULL),
	Y("y_string_utf8_max", "\"\xF4\x8F\xBF\xBF\"", NULL),
	Y("y_string_utf8_min_3", "\"\xE0\xA0\x80\"", NULL),
	Y("y_string_utf8_min_4", "\"\xF0\x90\x80\x80\"", NULL),
	Y("y_string_utf8_before_surrogates", "\"\xED\x9F\xBF\"", NULL),
	Y("y_string_nonchar_fffe", "\"\xEF\xBF\xBE\"", NULL),
	Y("y_string_del", "\"\x7F\"", NULL),
	Y("y_string_u2028_raw", "\"\xE2\x80\xA8\xE2\x80\xA9\"",
	    "\"\\u2028\\u2029\""),
	Y("y_string_u2028_escaped", "\"\\u2028\"", "\"\\u2028\""),
	Y("y_string_slash_raw", "\"/\"", NULL),
	Y("y_string_comment_like", "\"/* // */\"", NULL),
	Y("y_literal_true", "true", NULL),
	Y("y_literal_false", " false", "false"),
	Y("y_literal_null", "null ", "null"),
	Y("y_string_top", "\"x\"", NULL),

	/* ---- n_: structure */
	N("n_empty", "", END, 0),
	N("n_ws_only", " \n ", END, 3),
	N("n_array_trailing_comma", "[1,]", SYN, 3),
	N("n_object_trailing_comma", "{\"a\":1,}", SYN, 7),
	N("n_array_leading_comma", "[,1]", SYN, 1),
	N("n_array_double_comma", "[1,,2]", SYN, 3),
	N("n_array_only_comma", "[,]", SYN, 1),
	N("n_array_unclosed", "[1", END, 2),
	N("n_array_unclosed_comma", "[1,", END, 3),
	N("n_array_unclosed_empty", "[", END, 1),
	N("n_array_missing_comma", "[1 2]", SYN, 3),
	N("n_array_colon", "[\"a\":1]", SYN, 4),
	N("n_array_close_object", "[1}", SYN, 2),
	N("n_object_close_array", "{\"a\":1]", SYN, 6),
	N("n_object_missing_colon", "{\"a\" 1}", SYN, 5),
	N("n_object_comma_for_colon", "{\"a\",1}", SYN, 4),
	N("n_object_unquoted_key", "{a:1}", SYN, 1),
	N("n_object_single_quote", "{'a':1}", SYN, 1),
	N("n_object_number_key", "{1:1}", SYN, 1),
	N("n_object_missing_value", "{\"a\":}", SYN, 5),
	N("n_object_unclosed", "{\"a\":1", END, 6),
	N("n_object_key_eof", "{\"a\"", END, 4),
	N("n_object_two_colons", "{\"a\"::1}", SYN, 5),
	N("n_object_leading_comma", "{,\"a\":1}", SYN, 1),
	N("n_unopened_array", "]", SYN, 0),
	N("n_unopened_object", "}", SYN, 0),
	N("n_trailing_garbage", "[1]x", TRL, 3),
	N("n_two_values", "1 2", TRL, 2),
	N("n_two_arrays", "[][]", TRL, 2),
	N("n_trailing_nul", "[1]\0", TRL, 3),
	N("n_nul_in_array", "[\0]", SYN, 1),
	N("n_comment_strict_line", "[1]//x", TRL, 3),
	N("n_comment_strict_block", "/*x*/[1]", SYN, 0),
	N("n_ws_vertical_tab", "\v[1]", SYN, 0),
	N("n_ws_formfeed", "[\f1]", SYN, 1),
	N("n_ws_nbsp", "\xC2\xA0[1]", SYN, 0),
	N("n_bom", "\xEF\xBB\xBF{}", SYN, 0),
	/* ---- n_: literals */
	N("n_literal_true_trunc", "tru", END, 3),
	N("n_literal_null_trunc", "[nul", END, 4),
	N("n_literal_bad", "trve", SYN, 0),
	N("n_literal_caps", "True", SYN, 0),
	N("n_literal_trailing", "truex", TRL, 4),
	N("n_literal_in_array_bad", "[nulx]", SYN, 1),
	/* ---- n_: numbers */
	N("n_number_leading_zero", "01", NUM, 1),
	N("n_number_neg_leading_zero", "-01", NUM, 2),
	N("n_number_leading_zeros_arr", "[00]", NUM, 2),
	N("n_number_dot_end", "1.", NUM, 2),
	N("n_number_dot_start", ".5", SYN, 0),
	N("n_number_minus", "-", NUM, 1),
	N("n_number_minus_space", "- 1", NUM, 1),
	N("n_number_plus", "+1", SYN, 0),
	N("n_number_e", "1e", NUM, 2),
	N("n_number_e_sign", "1e+", NUM, 3),
	N("n_number_dot_e", "1.e3", NUM, 2),
	N("n_number_e_dot", "1e1.5", TRL, 3),
	N("n_number_hex", "0x1", TRL, 1),
	N("n_number_infinity", "Infinity", SYN, 0),
	N("n_number_neg_infinity", "-Infinity", NUM, 1),
	N("n_number_nan", "NaN", SYN, 0),
	N("n_number_in_array_dot", "[1.]", NUM, 3),
	N("n_number_minus_dot", "-.5", NUM, 1),
	N("n_number_two_dots", "1.2.3", TRL, 3),
	N("n_number_comma_decimal", "[1,5.]", NUM, 5),
	/* ---- n_: strings and escapes */
	N("n_string_unterminated", "\"abc", END, 4),
	N("n_string_single_quote", "'a'", SYN, 0),
	N("n_string_ctrl_01", "\"a\x01\"", SYN, 2),
	N("n_string_newline", "\"a\nb\"", SYN, 2),
	N("n_string_tab", "\"\t\"", SYN, 1),
	N("n_string_nul", "\"\0\"", SYN, 1),
	N("n_string_bad_escape", "\"\\x\"", ESC, 1),
	N("n_string_escape_apostrophe", "\"\\'\"", ESC, 1),
	N("n_string_escape_eof", "\"\\", END, 2),
	N("n_string_u_short", "\"\\u12\"", ESC, 1),
	N("n_string_u_eof", "\"\\u12", END, 5),
	N("n_string_u_bad_hex", "\"\\u12G4\"", ESC, 1),
	N("n_string_U_caps", "\"\\U0041\"", ESC, 1),
	N("n_string_lone_high", "\"\\ud800\"", ESC, 1),
	N("n_string_lone_low", "\"\\udc00\"", ESC, 1),
	N("n_string_lone_low_later", "\"ab\\uDFFF\"", ESC, 3),
	N("n_string_high_high", "\"\\ud800\\ud800\"", ESC, 1),
	N("n_string_high_then_char", "\"\\ud800x\"", ESC, 1),
	N("n_string_high_then_esc_n", "\"\\ud800\\n\"", ESC, 1),
	N("n_string_high_then_bmp", "\"\\ud800\\u0041\"", ESC, 1),
	N("n_string_high_eof", "\"\\ud800", END, 7),
	N("n_string_high_bs_eof", "\"\\ud800\\", END, 8),
	N("n_string_high_bad_hex", "\"\\ud800\\uZZZZ\"", ESC, 7),
	N("n_string_low_high", "\"\\udc00\\ud800\"", ESC, 1),
	/* ---- n_: UTF-8 */
	N("n_utf8_overlong_c0", "\"\xC0\x80\"", UTF, 1),
	N("n_utf8_overlong_c1", "\"\xC1\xBF\"", UTF, 1),
	N("n_utf8_overlong_e0", "\"\xE0\x80\xAF\"", UTF, 1),
	N("n_utf8_overlong_e0_9f", "\"\xE0\x9F\xBF\"", UTF, 1),
	N("n_utf8_overlong_f0", "\"\xF0\x80\x80\xAF\"", UTF, 1),
	N("n_utf8_surrogate_high", "\"\xED\xA0\x80\"", UTF, 1),
	N("n_utf8_surrogate_low", "\"\xED\xBF\xBF\"", UTF, 1),
	N("n_utf8_surrogate_pair", "\"\xED\xA0\xBD\xED\xB8\x80\"", UTF, 1),
	N("n_utf8_too_big", "\"\xF4\x90\x80\x80\"", UTF, 1),
	N("n_utf8_f5", "\"\xF5\x80\x80\x80\"", UTF, 1),
	N("n_utf8_ff", "\"a\xFF\"", UTF, 2),
	N("n_utf8_lone_continuation", "\"\x80\"", UTF, 1),
	N("n_utf8_truncated_2", "\"\xC3\"", UTF, 1),
	N("n_utf8_truncated_3", "\"\xE2\x82\"", UTF, 1),
	N("n_utf8_truncated_4", "\"\xF0\x9F\x98\"", UTF, 1),
	N("n_utf8_truncated_eof", "\"\xE2\x82", END, 3),
	N("n_utf8_bad_second", "\"a\xC3\x28\"", UTF, 2),
	N("n_utf8_bad_third", "\"\xE2\x82\x28\"", UTF, 1),
	N("n_utf8_in_key", "{\"\xC0\xAF\":1}", UTF, 2),
	N("n_utf8_outside_string", "\xC3\xA9", SYN, 0),

	/* ---- comments mode (config files) */
	YC("c_line", "// c\n[1, // x\n 2]", "[1,2]"),
	YC("c_block", "/* a */ {\"a\" /*b*/ : /*c*/ 1 /*d*/}", "{\"a\":1}"),
	YC("c_block_stars", "/***/1/**/", "1"),
	YC("c_trailing_comma_array", "[1,2,]", "[1,2]"),
	YC("c_trailing_comma_object", "{\"a\":1, }", "{\"a\":1}"),
	YC("c_trailing_comma_comment", "[1 , /* x */ ]", "[1]"),
	YC("c_line_at_eof", "[1]// end", "[1]"),
	YC("c_line_crlf", "[1, // x\r\n2]", "[1,2]"),
	YC("c_in_string", "[\"// not /* a */ comment\"]", NULL),
	YC("c_nested_value", "{\"a\":[/*x*/{}/*y*/,]}", "{\"a\":[{}]}"),
	YC("c_plain_json", "{\"a\":[1,2]}", NULL),
	NC("c_only_comma", "[,]", SYN, 1),
	NC("c_double_trailing", "[1,,]", SYN, 3),
	NC("c_object_trailing_only", "{,}", SYN, 1),
	NC("c_unterminated_block", "[1 /* x", END, 7),
	NC("c_unterminated_block_star", "/*/", END, 3),
	NC("c_slash_alone_end", "[1]/", TRL, 3),
	NC("c_slash_other", "/x", SYN, 0),
	NC("c_comment_only", "/* x */", END, 7),
	NC("c_line_only", "// x", END, 4),
	NC("c_hash_comment", "# x\n1", SYN, 0),
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

START_TEST(t_vector)
{
	const struct jcase *c = &cases[_i];
	struct px_arena a;
	struct guard g;
	struct json_err e;
	struct json *v, *v2;
	const char *want;
	char *out, *out2;
	size_t n, n2;

	px_arena_init(&a, 0);
	v = gparse(&a, &g, c->in, c->len, c->flags, &e);
	if (c->code != JSON_OK) {
		ck_assert_msg(v == NULL, "%s: accepted", c->name);
		ck_assert_msg(e.code == c->code && e.pos == c->pos,
		    "%s: code %d pos %zu (%s), want code %d pos %zu", c->name,
		    e.code, e.pos, e.msg, c->code, c->pos);
		ck_assert(e.msg != NULL && e.msg[0] != 0);
		goto done;
	}
	ck_assert_msg(v != NULL, "%s: rejected: code %d pos %zu %s", c->name,
	    e.code, e.pos, e.msg);
	ck_assert_int_eq(e.code, JSON_OK);
	/* the root's raw span is the input without surrounding whitespace */
	ck_assert(v->raw >= g.p && v->raw + v->rawlen <= g.p + c->len);
	if (!(c->flags & C)) {
		for (n = 0; g.p + n < v->raw; n++)
			ck_assert(strchr(" \t\r\n", g.p[n]) != NULL);
		for (n = (size_t)(v->raw + v->rawlen - g.p); n < c->len; n++)
			ck_assert(strchr(" \t\r\n", g.p[n]) != NULL);
	}
	out = compact(v, &n);
	want = c->out != NULL ? c->out : c->in;
	ck_assert_msg(n == strlen(want) && memcmp(out, want, n) == 0,
	    "%s: got %s want %s", c->name, out, want);
	/* the compact form is strict JSON and a fixed point */
	v2 = json_parse(&a, out, n, 0, &e);
	ck_assert_msg(v2 != NULL, "%s: reparse: %s", c->name, e.msg);
	out2 = compact(v2, &n2);
	ck_assert(n2 == n && memcmp(out, out2, n) == 0);
	free(out);
	free(out2);
done:
	guard_free(&g);
	px_arena_free(&a);
}
END_TEST

/* Every proper prefix of every vector, from a guard page: no over-read, and
 * an error (if any) is reported within the prefix. */
START_TEST(t_vector_prefixes)
{
	const struct jcase *c = &cases[_i];
	struct px_arena a;
	struct guard g;
	struct json_err e;
	struct json *v;
	size_t k;
	int bad;

	bad = 0;
	for (k = 0; k < c->len; k++) {
		px_arena_init(&a, 0);
		v = gparse(&a, &g, c->in, k, c->flags, &e);
		if (v == NULL && (e.pos > k || e.code == JSON_OK))
			bad = 1;
		guard_free(&g);
		px_arena_free(&a);
		if (bad)
			ck_abort_msg("%s: prefix %zu: pos %zu", c->name, k, e.pos);
	}
}
END_TEST

START_TEST(t_error_messages)
{
	static const struct { const char *in, *msg; } m[] = {
		{ "{\"a\" 1}", "expected ':'" },
		{ "[1 2]", "expected ',' or ']'" },
		{ "{\"a\":1 2}", "expected ',' or '}'" },
		{ "{1:2}", "expected string key" },
		{ "[", "unexpected end of input" },
		{ "01", "leading zero" },
		{ "\"\\ud800\"", "lone surrogate" },
		{ "\"\xC0\x80\"", "invalid UTF-8" },
		{ "1 1", "unexpected data after value" },
		{ "?", "expected value" },
	};
	struct px_arena a;
	struct json_err e;
	size_t i;

	px_arena_init(&a, 0);
	for (i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		ck_assert_ptr_null(json_parse(&a, m[i].in, strlen(m[i].in), 0,
		    &e));
		ck_assert_str_eq(e.msg, m[i].msg);
	}
	/* err may be NULL */
	ck_assert_ptr_null(json_parse(&a, "[", 1, 0, NULL));
	ck_assert_ptr_nonnull(json_parse(&a, "[]", 2, 0, NULL));
	/* src NULL with n == 0 is an empty input */
	ck_assert_ptr_null(json_parse(&a, NULL, 0, 0, &e));
	ck_assert_int_eq(e.code, JSON_ERR_EOF);
	px_arena_free(&a);
}
END_TEST

/* ------------------------------------------------------------ DOM */

START_TEST(t_raw_spans)
{
	static const char in[] =
	    "  {\"a\" : [1, \"x\\n\" , -2.5e1 ] , \"b\":{ } ,\"c\":true}  ";
	struct px_arena a;
	struct guard g;
	struct json_err e;
	struct json *v, *arr, *el;

	px_arena_init(&a, 0);
	v = gparse(&a, &g, in, sizeof(in) - 1, 0, &e);
	ck_assert_ptr_nonnull(v);
	ck_assert_int_eq(v->type, JSON_OBJECT);
	ck_assert_uint_eq(v->len, 3);
	ck_assert_uint_eq((size_t)(v->raw - g.p), 2);
	ck_assert_uint_eq(v->rawlen, sizeof(in) - 1 - 4);
	ck_assert_ptr_null(v->key);

	arr = json_get(v, "a");
	ck_assert_ptr_nonnull(arr);
	ck_assert_str_eq(arr->key, "a");
	ck_assert_uint_eq(arr->keylen, 1);
	ck_assert_uint_eq(arr->len, 3);
	ck_assert(json_eq(arr->raw, arr->rawlen, "[1, \"x\\n\" , -2.5e1 ]"));
	el = json_at(arr, 1);
	ck_assert(json_eq(el->raw, el->rawlen, "\"x\\n\""));
	ck_assert(json_eq(el->s, el->n, "x\n"));
	ck_assert_int_eq(el->s[el->n], 0);
	ck_assert_ptr_null(el->key);
	el = json_at(arr, 2);
	ck_assert_int_eq(el->type, JSON_NUMBER);
	ck_assert(json_eq(el->raw, el->rawlen, "-2.5e1"));
	ck_assert(el->s == el->raw && el->n == el->rawlen);
	ck_assert_ptr_null(json_at(arr, 3));
	el = json_get(v, "b");
	ck_assert(json_eq(el->raw, el->rawlen, "{ }"));
	ck_assert_uint_eq(el->len, 0);
	ck_assert_ptr_null(el->child);
	el = json_get(v, "c");
	ck_assert(json_eq(el->raw, el->rawlen, "true"));
	ck_assert_ptr_null(el->next);
	guard_free(&g);
	px_arena_free(&a);
}
END_TEST

START_TEST(t_accessors)
{
	static const char in[] = "{\"s\":\"h\\u00e9\",\"n\":42,\"f\":1.5,"
	    "\"t\":true,\"F\":false,\"z\":null,\"a\":[10,20],"
	    "\"k\\u0000x\":1,\"s\":\"second\"}";
	struct px_arena a;
	struct json *v;
	const char *s;
	size_t n;
	long long i;
	double d;
	int b;

	px_arena_init(&a, 0);
	v = json_parse(&a, in, sizeof(in) - 1, 0, NULL);
	ck_assert_ptr_nonnull(v);
	/* first match wins */
	ck_assert(json_str(json_get(v, "s"), &s, &n));
	ck_assert(n == 3 && memcmp(s, "h\xC3\xA9", 3) == 0);
	ck_assert_str_eq(json_get_str(v, "s", NULL), "h\xC3\xA9");
	ck_assert_ptr_null(json_get_str(v, "n", &n));
	ck_assert_ptr_null(json_get_str(v, "missing", &n));
	ck_assert(json_int(json_get(v, "n"), &i) && i == 42);
	ck_assert(!json_int(json_get(v, "f"), &i));
	ck_assert(json_num(json_get(v, "f"), &d) && d == 1.5);
	ck_assert(json_num(json_get(v, "n"), &d) && d == 42.0);
	ck_assert(!json_num(json_get(v, "s"), &d));
	ck_assert(json_bool(json_get(v, "t"), &b) && b == 1);
	ck_assert(json_bool(json_get(v, "F"), &b) && b == 0);
	ck_assert(!json_bool(json_get(v, "z"), &b));
	ck_assert_int_eq(json_get(v, "z")->type, JSON_NULL);
	ck_assert(!json_str(json_get(v, "n"), &s, &n));
	ck_assert(json_int(json_at(json_get(v, "a"), 1), &i) && i == 20);
	ck_assert_ptr_null(json_at(json_get(v, "a"), 2));
	ck_assert_ptr_null(json_at(v, 0));              /* not an array */
	ck_assert_ptr_null(json_get(json_get(v, "a"), "x"));
	/* a key with an embedded NUL matches neither "k" nor "kx" */
	ck_assert_ptr_null(json_get(v, "k"));
	ck_assert_ptr_null(json_get(v, "kx"));
	ck_assert_uint_eq(json_at(json_get(v, "a"), 0)->next
	    == json_at(json_get(v, "a"), 1), 1);
	/* NULL-safe for chaining */
	ck_assert_ptr_null(json_get(NULL, "a"));
	ck_assert_ptr_null(json_at(NULL, 0));
	ck_assert(!json_str(NULL, &s, &n));
	ck_assert(!json_int(NULL, &i));
	ck_assert(!json_bool(NULL, &b));
	ck_assert_ptr_null(json_get_str(NULL, "s", NULL));
	ck_assert(json_eq("abc", 3, "abc"));
	ck_assert(!json_eq("abc", 2, "abc"));
	ck_assert(!json_eq("abd", 3, "abc"));
	ck_assert(json_eq("", 0, ""));
	ck_assert(json_eq(NULL, 0, ""));
	px_arena_free(&a);
}
END_TEST

START_TEST(t_string_nul)
{
	struct px_arena a;
	struct json *v;

	px_arena_init(&a, 0);
	v = json_parse(&a, "\"a\\u0000b\"", 10, 0, NULL);
	ck_assert_ptr_nonnull(v);
	ck_assert_uint_eq(v->n, 3);
	ck_assert(memcmp(v->s, "a\0b", 4) == 0);      /* plus the NUL */
	px_arena_free(&a);
}
END_TEST

/* ------------------------------------------------------------ limits */

static char *
nest(const char *open, const char *mid, const char *close, size_t depth,
    size_t *n)
{
	size_t lo, lm, lc, i, k;
	char *s;

	lo = strlen(open);
	lm = strlen(mid);
	lc = strlen(close);
	s = malloc(depth * (lo + lc) + lm + 1);
	k = 0;
	for (i = 0; i < depth; i++, k += lo)
		memcpy(s + k, open, lo);
	memcpy(s + k, mid, lm);
	k += lm;
	for (i = 0; i < depth; i++, k += lc)
		memcpy(s + k, close, lc);
	s[k] = 0;
	*n = k;
	return s;
}

START_TEST(t_depth)
{
	static const struct { const char *o, *m, *c; size_t olen; } k[] = {
		{ "[", "", "]", 1 },
		{ "[", "1", "]", 1 },
		{ "{\"a\":", "0", "}", 5 },
		{ "[{\"k\":", "0", "}]", 6 },   /* two levels per step */
	};
	struct px_arena a;
	struct guard g;
	struct json_err e;
	struct json *v;
	char *s, *out;
	size_t i, n, d;

	for (i = 0; i < sizeof(k) / sizeof(k[0]); i++) {
		d = i == 3 ? JSON_MAX_DEPTH / 2 : JSON_MAX_DEPTH;
		if (i == 3 && JSON_MAX_DEPTH % 2 != 0)
			continue;
		px_arena_init(&a, 0);
		s = nest(k[i].o, k[i].m, k[i].c, d, &n);
		v = gparse(&a, &g, s, n, 0, &e);
		ck_assert_msg(v != NULL, "pattern %zu at the limit: %s", i, e.msg);
		out = compact(v, &n);
		ck_assert_str_eq(out, s);
		free(out);
		guard_free(&g);
		free(s);

		/* one level more: JSON_ERR_DEPTH at the offending bracket */
		s = nest(k[i].o, k[i].m, k[i].c, d + 1, &n);
		v = gparse(&a, &g, s, n, 0, &e);
		ck_assert_ptr_null(v);
		ck_assert_int_eq(e.code, JSON_ERR_DEPTH);
		/* bracket JSON_MAX_DEPTH + 1 opens step d */
		ck_assert_uint_eq(e.pos, d * k[i].olen);
		guard_free(&g);
		free(s);
		px_arena_free(&a);
	}
	/* far deeper input fails the same way, without recursing further */
	px_arena_init(&a, 0);
	s = nest("[", "", "]", 100000, &n);
	ck_assert_ptr_null(json_parse(&a, s, n, 0, &e));
	ck_assert_int_eq(e.code, JSON_ERR_DEPTH);
	ck_assert_uint_eq(e.pos, JSON_MAX_DEPTH);
	free(s);
	px_arena_free(&a);
}
END_TEST

/* A build of a fair-sized document under every arena cap: success with the
 * same output, or a clean JSON_ERR_NOMEM; never more than cap bytes. */
START_TEST(t_nomem)
{
	struct px_arena a, big;
	struct json_err e;
	struct json *v;
	char *ref, *out, *doc;
	size_t reflen, n, cap, len, i;
	int ok, fails;

	doc = malloc(200000);
	len = 0;
	len += (size_t)sprintf(doc + len, "{\"items\":[");
	for (i = 0; i < 3000; i++)
		len += (size_t)sprintf(doc + len, "%s{\"id\":%zu,\"name\":"
		    "\"item \\u00e9 %zu\",\"ok\":true}", i ? "," : "", i, i);
	len += (size_t)sprintf(doc + len, "]}");

	px_arena_init(&big, 0);
	v = json_parse(&big, doc, len, 0, &e);
	ck_assert_ptr_nonnull(v);
	ref = compact(v, &reflen);
	px_arena_free(&big);

	ok = fails = 0;
	for (cap = 1; cap < 2 * 1024 * 1024; cap = cap * 5 / 4 + 7) {
		px_arena_init(&a, cap);
		v = json_parse(&a, doc, len, 0, &e);
		ck_assert_uint_le(a.total, cap);
		if (v == NULL) {
			ck_assert_int_eq(e.code, JSON_ERR_NOMEM);
			ck_assert_uint_le(e.pos, len);
			fails++;
		} else {
			out = compact(v, &n);
			ck_assert(n == reflen && memcmp(out, ref, n) == 0);
			free(out);
			ok++;
		}
		px_arena_free(&a);
		ck_assert_uint_eq(a.total, 0);
		ck_assert_uint_eq(a.cap, cap);
	}
	ck_assert_int_gt(ok, 0);
	ck_assert_int_gt(fails, 0);

	/* tiny cap: the very first node fails, at position 0 */
	px_arena_init(&a, 64);
	ck_assert_ptr_null(json_parse(&a, "[1]", 3, 0, &e));
	ck_assert_int_eq(e.code, JSON_ERR_NOMEM);
	ck_assert_uint_eq(e.pos, 0);
	px_arena_free(&a);
	free(ref);
	free(doc);
}
END_TEST

START_TEST(t_arena)
{
	struct px_arena a;
	char *p[2000], *s;
	size_t i, j;

	px_arena_init(&a, 0);
	for (i = 0; i < 2000; i++) {
		p[i] = px_arena_alloc(&a, i % 97 + 1);
		ck_assert_ptr_nonnull(p[i]);
		ck_assert_uint_eq((uintptr_t)p[i] % 16, 0);
		memset(p[i], (int)(i & 0xff), i % 97 + 1);
	}
	/* a big block does not disturb the rest */
	s = px_arena_alloc(&a, 3 * ARENA_BLOCK_MIN);
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq((uintptr_t)s % 16, 0);
	memset(s, 0x5a, 3 * ARENA_BLOCK_MIN);
	for (i = 0; i < 2000; i++)
		for (j = 0; j < i % 97 + 1; j++)
			if ((unsigned char)p[i][j] != (i & 0xff))
				ck_abort_msg("arena corrupted at %zu", i);
	s = px_arena_strndup(&a, "hello world", 5);
	ck_assert_str_eq(s, "hello");
	s = px_arena_strndup(&a, "", 0);
	ck_assert_str_eq(s, "");
	ck_assert_ptr_nonnull(px_arena_alloc(&a, 0));
	ck_assert_ptr_null(px_arena_alloc(&a, SIZE_MAX));
	ck_assert_ptr_null(px_arena_alloc(&a, SIZE_MAX / 2));
	px_arena_free(&a);
	ck_assert_ptr_null(a.head);
	ck_assert_uint_eq(a.total, 0);

	/* reusable after free, and the cap holds */
	px_arena_init(&a, 4096);
	ck_assert_ptr_nonnull(px_arena_alloc(&a, 1000));
	ck_assert_ptr_nonnull(px_arena_alloc(&a, 1000));
	ck_assert_ptr_null(px_arena_alloc(&a, 4096));
	ck_assert_uint_le(a.total, 4096);
	px_arena_free(&a);
	ck_assert_ptr_nonnull(px_arena_alloc(&a, 1000));
	ck_assert_uint_le(a.total, 4096);
	px_arena_free(&a);
}
END_TEST

/* ------------------------------------------------------------ numbers */

START_TEST(t_json_int)
{
	static const struct { const char *in; int ok; long long v; } t[] = {
		{ "0", 1, 0 }, { "-0", 1, 0 }, { "7", 1, 7 }, { "-12", 1, -12 },
		{ "9223372036854775807", 1, LLONG_MAX },
		{ "-9223372036854775808", 1, LLONG_MIN },
		{ "9223372036854775808", 0, 0 },
		{ "-9223372036854775809", 0, 0 },
		{ "18446744073709551616", 0, 0 },
		{ "99999999999999999999999", 0, 0 },
		{ "1.0", 1, 1 }, { "1.50e1", 1, 15 }, { "1e3", 1, 1000 },
		{ "100e-2", 1, 1 }, { "12e-1", 0, 0 }, { "1.5", 0, 0 },
		{ "0.1", 0, 0 }, { "1e18", 1, 1000000000000000000LL },
		{ "1e19", 0, 0 }, { "-9.223372036854775808e18", 1, LLONG_MIN },
		{ "0e99999999999999", 1, 0 }, { "0.000", 1, 0 },
		{ "1e-99999999999", 0, 0 }, { "5e99999999999", 0, 0 },
		{ "000", 1, 0 },  /* not grammar-valid, but must not crash */
		{ "00012", 1, 12 },
	};
	struct json v;
	long long out;
	size_t i;
	int ok;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		memset(&v, 0, sizeof(v));
		v.type = JSON_NUMBER;
		v.s = t[i].in;
		v.n = strlen(t[i].in);
		out = 12345;
		ok = json_int(&v, &out);
		ck_assert_msg(ok == t[i].ok && (!ok || out == t[i].v),
		    "%s: ok %d value %lld", t[i].in, ok, out);
	}
	v.type = JSON_STRING;
	ck_assert(!json_int(&v, &out));
}
END_TEST

static void
num_check(const char *text)
{
	struct px_arena a;
	struct json *v;
	double d, want;

	px_arena_init(&a, 0);
	v = json_parse(&a, text, strlen(text), 0, NULL);
	ck_assert_msg(v != NULL, "%.60s", text);
	ck_assert_msg(v->n == strlen(text) && memcmp(v->s, text, v->n) == 0,
	    "number text not kept exact");
	ck_assert(json_num(v, &d));
	want = strtod(text, NULL);
	ck_assert_msg(memcmp(&d, &want, sizeof(d)) == 0,
	    "%.60s: %.17g != %.17g", text, d, want);
	px_arena_free(&a);
}

START_TEST(t_json_num)
{
	static const char *const t[] = {
		"0", "-0", "1", "-1", "0.1", "1e300", "1e400", "-1e400",
		"1e-400", "4.9406564584124654e-324", "2.4703282292062327e-324",
		"2.4703282292062328e-324", "1.7976931348623157e308",
		"1.7976931348623158e308", "123456789012345678901234567890",
		"0.30000000000000004", "9007199254740993", "1E+2", "-2.5e-3",
		"0.000000000000000000000000000000000000000001e42",
		"100000000000000000000000000000000000000000000e-44",
	};
	char big[4096];
	size_t i, k;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		num_check(t[i]);
	/* halfway case decided by a digit far beyond 767 significant ones:
	 * 2^53 + 1 rounds to even, 2^53 + 1 + tiny rounds up */
	k = (size_t)sprintf(big, "9007199254740993");
	memset(big + k, '0', 1500);
	k += 1500;
	strcpy(big + k, "1");
	num_check(big);
	strcpy(big + k, "0e-1500");
	num_check(big);
	/* long fraction with exponent */
	k = (size_t)sprintf(big, "0.");
	memset(big + k, '3', 2000);
	strcpy(big + k + 2000, "e-5");
	num_check(big);
	/* pseudo-random doubles through %.17g */
	srand(7);
	for (i = 0; i < 2000; i++) {
		double x = ((double)rand() / RAND_MAX - 0.5)
		    * pow(10.0, (double)(rand() % 600 - 300));
		sprintf(big, "%.17g", x);
		num_check(big);
	}
}
END_TEST

/* ------------------------------------------------------------ writer */

static void
want_out(const struct jw *w, const char *want)
{
	ck_assert_int_eq(w->err, 0);
	ck_assert_msg(w->len == strlen(want) && memcmp(w->buf, want, w->len) == 0,
	    "got %.*s want %s", (int)w->len, w->buf, want);
	ck_assert_int_eq(w->buf[w->len], 0);
}

START_TEST(t_writer_basic)
{
	struct px_arena a;
	struct jw w;

	px_arena_init(&a, 0);
	jw_init(&w, &a, 0);
	ck_assert_ptr_null(w.buf);
	jw_obj(&w);
	jw_kcstr(&w, "model", "m1");
	jw_key(&w, "messages");
	jw_arr(&w);
	jw_obj(&w);
	jw_kstr(&w, "role", "user", 4);
	jw_knull(&w, "name");
	jw_obj_end(&w);
	jw_int(&w, 1);
	jw_arr(&w);
	jw_arr_end(&w);
	jw_obj(&w);
	jw_obj_end(&w);
	jw_arr_end(&w);
	jw_kint(&w, "n", -3);
	jw_kbool(&w, "stream", 1);
	jw_kbool(&w, "x", 0);
	jw_kraw(&w, "raw", "{\"a\": [1]}", 10);
	jw_keyn(&w, "k\0y", 3);
	jw_bool(&w, 1);
	jw_obj_end(&w);
	want_out(&w, "{\"model\":\"m1\",\"messages\":[{\"role\":\"user\","
	    "\"name\":null},1,[],{}],\"n\":-3,\"stream\":true,\"x\":false,"
	    "\"raw\":{\"a\": [1]},\"k\\u0000y\":true}");
	ck_assert_int_eq(w.depth, 0);

	/* jw_reset keeps the storage */
	{
		char *keep = w.buf;
		jw_reset(&w);
		ck_assert_uint_eq(w.len, 0);
		jw_arr(&w);
		jw_raw(&w, "1", 1);
		jw_raw(&w, "{}", 2);
		jw_null(&w);
		jw_arr_end(&w);
		want_out(&w, "[1,{},null]");
		ck_assert_ptr_eq(w.buf, keep);
	}

	/* jw_put: raw bytes, no comma logic (SSE framing) */
	jw_reset(&w);
	jw_put(&w, "data: ", 6);
	jw_obj(&w);
	jw_kint(&w, "a", 1);
	jw_obj_end(&w);
	jw_puts(&w, "\n\n");
	jw_put(&w, "data: ", 6);
	jw_arr(&w);
	jw_arr_end(&w);
	jw_puts(&w, "\n\n");
	want_out(&w, "data: {\"a\":1}\n\ndata: []\n\n");

	/* top-level values get no commas */
	jw_reset(&w);
	jw_int(&w, 1);
	jw_int(&w, 2);
	jw_cstr(&w, "x");
	want_out(&w, "12\"x\"");

	/* ints */
	jw_reset(&w);
	jw_arr(&w);
	jw_int(&w, 0);
	jw_int(&w, LLONG_MIN);
	jw_int(&w, LLONG_MAX);
	jw_arr_end(&w);
	want_out(&w, "[0,-9223372036854775808,9223372036854775807]");

	/* a string value built piecewise (tool call arguments) */
	jw_reset(&w);
	jw_obj(&w);
	jw_kint(&w, "i", 0);
	jw_key(&w, "arguments");
	jw_raw(&w, "\"", 1);
	jw_escaped(&w, "{\"city\":", 8);
	jw_escaped(&w, "\"Paris\"}", 8);
	jw_put(&w, "\"", 1);
	jw_kint(&w, "n", 1);
	jw_obj_end(&w);
	want_out(&w, "{\"i\":0,\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\","
	    "\"n\":1}");
	px_arena_free(&a);
}
END_TEST

START_TEST(t_writer_escapes)
{
	static const char in[] = "q\" b\\ n\n r\r t\t b\b f\f \x01\x1f\x7f"
	    " \xC3\xA9 \xF0\x9F\x98\x80 \xE2\x80\xA8\xE2\x80\xA9 /";
	struct px_arena a;
	struct jw w;

	px_arena_init(&a, 0);
	jw_init(&w, &a, 0);
	jw_str(&w, in, sizeof(in) - 1);
	want_out(&w, "\"q\\\" b\\\\ n\\n r\\r t\\t b\\b f\\f \\u0001\\u001f\x7f"
	    " \xC3\xA9 \xF0\x9F\x98\x80 \\u2028\\u2029 /\"");
	/* embedded NUL: n is authoritative */
	jw_reset(&w);
	jw_str(&w, "a\0b", 3);
	want_out(&w, "\"a\\u0000b\"");
	/* bytes that are not UTF-8 become U+FFFD, one each */
	jw_reset(&w);
	jw_str(&w, "a\xFF" "b\xC0\x80" "c\xED\xA0\x80" "d\xE2\x82", 12);
	want_out(&w, "\"a\\ufffdb\\ufffd\\ufffdc\\ufffd\\ufffd\\ufffdd"
	    "\\ufffd\\ufffd\"");
	/* jw_escaped: contents only */
	jw_reset(&w);
	jw_escaped(&w, "say \"hi\"\n", 9);
	want_out(&w, "say \\\"hi\\\"\\n");
	/* empty string */
	jw_reset(&w);
	jw_str(&w, "", 0);
	jw_cstr(&w, "");
	want_out(&w, "\"\"\"\"");
	px_arena_free(&a);
}
END_TEST

START_TEST(t_writer_double)
{
	static const struct { double v; const char *s; } t[] = {
		{ 0.1, "0.1" }, { 1e300, "1e+300" }, { -0.0, "-0" },
		{ 0.0, "0" }, { 3.0, "3" }, { -42.0, "-42" }, { 100.0, "100" },
		{ 1.0 / 3.0, "0.3333333333333333" }, { 2.0 / 3.0,
		"0.6666666666666666" }, { 0.1 + 0.2, "0.30000000000000004" },
		{ 1e21, "1e+21" }, { 123456789012.0, "123456789012" },
		{ 5e-324, "4.94065645841247e-324" },
		{ DBL_MAX, "1.7976931348623157e+308" },
		{ 9007199254740993.0, "9007199254740992" }, { 0.7, "0.7" },
		{ 1.5e-7, "1.5e-07" }, { 0.5, "0.5" },
	};
	struct px_arena a;
	struct jw w;
	size_t i;
	double back;

	px_arena_init(&a, 0);
	jw_init(&w, &a, 0);
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		jw_reset(&w);
		jw_double(&w, t[i].v);
		want_out(&w, t[i].s);
		back = strtod(w.buf, NULL);
		ck_assert(memcmp(&back, &t[i].v, sizeof(back)) == 0);
	}
	jw_reset(&w);
	jw_arr(&w);
	jw_double(&w, NAN);
	jw_double(&w, INFINITY);
	jw_double(&w, -INFINITY);
	jw_double(&w, 2.5);
	jw_arr_end(&w);
	want_out(&w, "[null,null,null,2.5]");
	px_arena_free(&a);
}
END_TEST

START_TEST(t_writer_limits)
{
	struct px_arena a;
	struct jw w;
	char fb[16];
	char *keep;
	size_t i;

	/* capped arena writer: overflow sets err and drops the rest */
	px_arena_init(&a, 0);
	jw_init(&w, &a, 10);
	jw_arr(&w);
	jw_cstr(&w, "abcdef");
	ck_assert_int_eq(w.err, 0);
	ck_assert_uint_eq(w.len, 9);
	jw_int(&w, 1);                  /* ",1" : the comma fits, 1 not */
	ck_assert_int_ne(w.err, 0);
	ck_assert_uint_eq(w.len, 10);
	jw_arr_end(&w);
	ck_assert_uint_eq(w.len, 10);
	ck_assert_uint_le(w.len, w.max);
	jw_reset(&w);
	ck_assert_int_eq(w.err, 0);
	jw_put(&w, "0123456789", 10);   /* exactly max */
	ck_assert_int_eq(w.err, 0);
	want_out(&w, "0123456789");
	jw_put(&w, "x", 1);
	ck_assert_int_ne(w.err, 0);

	/* growth by doubling: long output, correct and NUL-terminated */
	jw_init(&w, &a, 0);
	jw_arr(&w);
	for (i = 0; i < 20000; i++)
		jw_int(&w, (long long)i);
	jw_arr_end(&w);
	ck_assert_int_eq(w.err, 0);
	ck_assert_int_eq(w.buf[w.len], 0);
	ck_assert(strncmp(w.buf, "[0,1,2,", 7) == 0);
	ck_assert(strcmp(w.buf + w.len - 12, "19998,19999]") == 0);
	px_arena_free(&a);

	/* arena cap exhausted while growing: err, not a crash */
	px_arena_init(&a, 8192);
	jw_init(&w, &a, 0);
	for (i = 0; i < 10000 && !w.err; i++)
		jw_cstr(&w, "0123456789");
	ck_assert_int_ne(w.err, 0);
	ck_assert_uint_le(a.total, 8192);
	px_arena_free(&a);

	/* fixed buffer */
	jw_init_fixed(&w, fb, sizeof(fb));
	jw_obj(&w);
	jw_kint(&w, "a", 1);
	jw_obj_end(&w);
	want_out(&w, "{\"a\":1}");
	keep = w.buf;
	jw_reset(&w);
	ck_assert_ptr_eq(w.buf, keep);
	jw_put(&w, "0123456789abcdef", 16);      /* fills it exactly */
	ck_assert_int_eq(w.err, 0);
	ck_assert_uint_eq(w.len, 16);
	ck_assert(memcmp(fb, "0123456789abcdef", 16) == 0);
	jw_put(&w, "x", 1);
	ck_assert_int_ne(w.err, 0);
	ck_assert_uint_eq(w.len, 16);
	jw_reset(&w);
	jw_cstr(&w, "0123456789abcdefgh");
	ck_assert_int_ne(w.err, 0);
	ck_assert_uint_le(w.len, 16);
}
END_TEST

START_TEST(t_writer_misuse)
{
	struct px_arena a;
	struct jw w;
	int i;

	px_arena_init(&a, 0);
	jw_init(&w, &a, 0);

	jw_key(&w, "a");                        /* key at top level */
	ck_assert_int_ne(w.err, 0);
	jw_reset(&w);
	jw_arr(&w);
	jw_key(&w, "a");                        /* key in an array */
	ck_assert_int_ne(w.err, 0);
	jw_reset(&w);
	jw_obj(&w);
	jw_int(&w, 1);                          /* value without key */
	ck_assert_int_ne(w.err, 0);
	jw_reset(&w);
	jw_obj(&w);
	jw_key(&w, "a");
	jw_key(&w, "b");                        /* key after key */
	ck_assert_int_ne(w.err, 0);
	jw_reset(&w);
	jw_obj(&w);
	jw_key(&w, "a");
	jw_obj_end(&w);                         /* close after a key */
	ck_assert_int_ne(w.err, 0);
	jw_reset(&w);
	jw_arr(&w);
	jw_obj_end(&w);                         /* mismatched close */
	ck_assert_int_ne(w.err, 0);
	jw_reset(&w);
	jw_arr_end(&w);                         /* extra close */
	ck_assert_int_ne(w.err, 0);
	jw_reset(&w);
	jw_value(&w, NULL);
	ck_assert_int_ne(w.err, 0);

	/* exactly JSON_MAX_DEPTH levels are fine, one more is not */
	jw_reset(&w);
	for (i = 0; i < JSON_MAX_DEPTH; i++)
		jw_arr(&w);
	ck_assert_int_eq(w.err, 0);
	jw_arr(&w);
	ck_assert_int_ne(w.err, 0);
	jw_reset(&w);
	for (i = 0; i < JSON_MAX_DEPTH; i++)
		jw_arr(&w);
	for (i = 0; i < JSON_MAX_DEPTH; i++)
		jw_arr_end(&w);
	ck_assert_int_eq(w.err, 0);
	ck_assert_uint_eq(w.len, 2 * JSON_MAX_DEPTH);
	px_arena_free(&a);
}
END_TEST

/* ------------------------------------------------------------ round trip */

START_TEST(t_roundtrip)
{
	static const struct { const char *in, *out; } t[] = {
		{ " { \"a\" : [ 1 , 2.50 , -0 , 1E5 ] , \"b\" : { } } ",
		  "{\"a\":[1,2.50,-0,1E5],\"b\":{}}" },
		{ "[\"\\u00e9\\ud83d\\ude00\\/\", \"\\u007f\"]",
		  "[\"\xC3\xA9\xF0\x9F\x98\x80/\",\"\x7f\"]" },
		{ "{\"k\\\"ey\":\"v\\\\\"}", "{\"k\\\"ey\":\"v\\\\\"}" },
		{ "[123456789012345678901234567890.123456789e-5]",
		  "[123456789012345678901234567890.123456789e-5]" },
		{ "{\"a\":{\"b\":{\"c\":[[],[{}]]}}}",
		  "{\"a\":{\"b\":{\"c\":[[],[{}]]}}}" },
	};
	struct px_arena a;
	struct json *v;
	char *out;
	size_t i, n;

	px_arena_init(&a, 0);
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		v = json_parse(&a, t[i].in, strlen(t[i].in), 0, NULL);
		ck_assert_ptr_nonnull(v);
		out = compact(v, &n);
		ck_assert_str_eq(out, t[i].out);
		free(out);
	}
	px_arena_free(&a);
}
END_TEST

/* ------------------------------------------------------------ strings */

/*
 * One special piece placed in a string body of plain filler: what the
 * parser must make of it (decoded bytes, or an error at an offset within
 * the piece), and what the writer must make of the raw bytes.
 */
struct piece {
	const char *name;
	const char *src;              /* as it appears in the JSON text */
	const char *dec;              /* decoded; NULL: an error */
	size_t declen;
	int code;                     /* error code when dec == NULL */
	size_t off;                   /* error offset within src */
};

static const struct piece pieces[] = {
	{ "esc_n", "\\n", "\n", 1, 0, 0 },
	{ "esc_quote", "\\\"", "\"", 1, 0, 0 },
	{ "esc_bs", "\\\\", "\\", 1, 0, 0 },
	{ "esc_slash", "\\/", "/", 1, 0, 0 },
	{ "esc_u_e9", "\\u00e9", "\xC3\xA9", 2, 0, 0 },
	{ "esc_u_nul", "\\u0000", "\0", 1, 0, 0 },
	{ "esc_u_pair", "\\ud83d\\ude00", "\xF0\x9F\x98\x80", 4, 0, 0 },
	{ "esc_u_2028", "\\u2028", "\xE2\x80\xA8", 3, 0, 0 },
	{ "utf8_2", "\xC3\xA9", "\xC3\xA9", 2, 0, 0 },
	{ "utf8_3", "\xE4\xBD\xA0", "\xE4\xBD\xA0", 3, 0, 0 },
	{ "utf8_3_e0", "\xE0\xA0\x80", "\xE0\xA0\x80", 3, 0, 0 },
	{ "utf8_3_ed", "\xED\x9F\xBF", "\xED\x9F\xBF", 3, 0, 0 },
	{ "utf8_4", "\xF0\x9F\x98\x80", "\xF0\x9F\x98\x80", 4, 0, 0 },
	{ "utf8_cjk_run", "\xE4\xBD\xA0\xE5\xA5\xBD\xE4\xB8\x96",
	    "\xE4\xBD\xA0\xE5\xA5\xBD\xE4\xB8\x96", 9, 0, 0 },
	{ "del", "\x7F", "\x7F", 1, 0, 0 },
	{ "ctrl_01", "\x01", NULL, 0, JSON_ERR_SYNTAX, 0 },
	{ "ctrl_1f", "\x1F", NULL, 0, JSON_ERR_SYNTAX, 0 },
	{ "ctrl_nl", "\n", NULL, 0, JSON_ERR_SYNTAX, 0 },
	{ "bad_ff", "\xFF", NULL, 0, JSON_ERR_UTF8, 0 },
	{ "bad_cont", "\x80", NULL, 0, JSON_ERR_UTF8, 0 },
	{ "bad_c0", "\xC0\x80", NULL, 0, JSON_ERR_UTF8, 0 },
	{ "bad_surrogate", "\xED\xA0\x80", NULL, 0, JSON_ERR_UTF8, 0 },
	{ "bad_trunc_3", "\xE4\xBD" "a", NULL, 0, JSON_ERR_UTF8, 0 },
	{ "bad_after_good", "\xC3\xA9\xE4\x28", NULL, 0, JSON_ERR_UTF8, 2 },
	{ "bad_escape", "\\x", NULL, 0, JSON_ERR_ESCAPE, 0 },
	{ "bad_lone_low", "\\udc00", NULL, 0, JSON_ERR_ESCAPE, 0 },
	{ "bad_hex", "\\u12g4", NULL, 0, JSON_ERR_ESCAPE, 0 },
};
#define NPIECES (sizeof(pieces) / sizeof(pieces[0]))

/* Filler with every plain class: letters, digits, space, punctuation. */
static char
filler(size_t i)
{
	static const char f[] = "ab c1/~'{";

	return f[i % (sizeof(f) - 1)];
}

/*
 * Parse doc (n bytes) whose only string starts at byte q (its opening
 * quote), containing body = filler[0..i) piece filler[i..len); check the
 * decoded value or the error. The input is copied against a guard page
 * when it ends with the string (where an over-read would go past the end),
 * else into an exactly sized malloc block (which ASan guards).
 */
static void
check_piece(struct px_arena *a, const char *doc, size_t n, size_t q,
    const struct piece *pc, size_t len, size_t i, const char *what)
{
	struct guard g;
	struct json_err e;
	struct json *v;
	char want[128], *copy;
	size_t k, wl;

	copy = NULL;
	if (doc[n - 1] == '"') {
		v = gparse(a, &g, doc, n, 0, &e);
	} else {
		copy = malloc(n);
		memcpy(copy, doc, n);
		g.map = NULL;
		g.p = copy;
		v = json_parse(a, copy, n, 0, &e);
	}
	if (pc->dec == NULL) {
		ck_assert_msg(v == NULL && e.code == pc->code
		    && e.pos == q + 1 + i + pc->off,
		    "%s %s len %zu at %zu: code %d pos %zu (%s), want %d at %zu",
		    what, pc->name, len, i, e.code, e.pos, e.msg, pc->code,
		    q + 1 + i + pc->off);
		goto done;
	}
	ck_assert_msg(v != NULL, "%s %s len %zu at %zu: %s at %zu", what,
	    pc->name, len, i, e.msg, e.pos);
	if (v->type == JSON_ARRAY)
		v = v->child;
	wl = 0;
	for (k = 0; k < i; k++)
		want[wl++] = filler(k);
	memcpy(want + wl, pc->dec, pc->declen);
	wl += pc->declen;
	for (k = i; k < len; k++)
		want[wl++] = filler(k);
	ck_assert_int_eq(v->type, JSON_STRING);
	ck_assert_msg(v->n == wl && memcmp(v->s, want, wl) == 0 && v->s[wl] == 0,
	    "%s %s len %zu at %zu: decoded wrong", what, pc->name, len, i);
	ck_assert_uint_eq((size_t)(v->raw - g.p), q);
done:
	if (copy != NULL)
		free(copy);
	else
		guard_free(&g);
}

/* body of length len (filler) with piece p inserted at i, into out */
static size_t
piece_body(char *out, const struct piece *pc, size_t len, size_t i)
{
	size_t k, n, sl;

	n = 0;
	for (k = 0; k < i; k++)
		out[n++] = filler(k);
	sl = strlen(pc->src);
	memcpy(out + n, pc->src, sl);
	n += sl;
	for (k = i; k < len; k++)
		out[n++] = filler(k);
	return n;
}

/*
 * Every piece at every position of bodies of every length 0..40, so that
 * it falls on every offset of the eight- and sixteen-byte words the
 * scanner reads, in three layouts: the string alone (it ends the input,
 * against the guard page), in an array followed by 0..17 more bytes, and
 * after a prefix that shifts it by 1..7 bytes.
 */
START_TEST(t_str_every_position)
{
	const struct piece *pc = &pieces[_i];
	struct px_arena a;
	char doc[256];
	size_t len, i, n, bl, t;

	px_arena_init(&a, 0);
	for (len = 0; len <= 40; len++) {
		for (i = 0; i <= len; i++) {
			/* alone */
			doc[0] = '"';
			bl = piece_body(doc + 1, pc, len, i);
			doc[1 + bl] = '"';
			check_piece(&a, doc, bl + 2, 0, pc, len, i, "alone");
			/* in an array, then trailing whitespace */
			for (t = 0; t <= 17; t++) {
				n = 0;
				doc[n++] = '[';
				doc[n++] = '"';
				n += piece_body(doc + n, pc, len, i);
				doc[n++] = '"';
				doc[n++] = ']';
				memset(doc + n, ' ', t);
				n += t;
				check_piece(&a, doc, n, 1, pc, len, i, "array");
			}
			/* shifted */
			for (t = 1; t < 8; t++) {
				memset(doc, ' ', t);
				n = t;
				doc[n++] = '"';
				n += piece_body(doc + n, pc, len, i);
				doc[n++] = '"';
				doc[n++] = ' ';
				check_piece(&a, doc, n, t, pc, len, i, "shifted");
			}
			px_arena_free(&a);
		}
	}
}
END_TEST

/*
 * Strings decode into the free space at the end of the arena's current
 * block, or, when they do not fit there, into their own allocation. Fill
 * the block up to every point of its last 300 bytes and parse an array of
 * strings after it: values right whichever way each string went, and the
 * allocation made before intact.
 */
START_TEST(t_str_arena_tail)
{
	static const char doc[] = "[\"0123456789abcdef\\n\xC3\xA9\","
	    "\"\",\"x\",\"\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\","
	    "\"a longer string that is forty-two bytes..\","
	    "\"\xE4\xBD\xA0\xE5\xA5\xBD\xE4\xB8\x96\xE7\x95\x8C\\t\\\"\"]";
	static const char *const want[] = { "0123456789abcdef\n\xC3\xA9", "",
	    "x", "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9",
	    "a longer string that is forty-two bytes..",
	    "\xE4\xBD\xA0\xE5\xA5\xBD\xE4\xB8\x96\xE7\x95\x8C\t\"" };
	struct px_arena a;
	struct guard g;
	struct json_err e;
	struct json *v, *el;
	unsigned char *fill;
	size_t k, i, fl;

	for (k = 0; k < 300; k++) {
		px_arena_init(&a, 0);
		fl = ARENA_BLOCK_MIN - 16 - k;
		fill = px_arena_alloc(&a, fl);
		ck_assert_ptr_nonnull(fill);
		memset(fill, 0xA5, fl);
		v = gparse(&a, &g, doc, sizeof(doc) - 1, 0, &e);
		ck_assert_msg(v != NULL, "fill %zu: %s", fl, e.msg);
		ck_assert_uint_eq(v->len, 6);
		for (i = 0, el = v->child; el != NULL; el = el->next, i++)
			ck_assert_msg(el->n == strlen(want[i])
			    && memcmp(el->s, want[i], el->n) == 0
			    && el->s[el->n] == 0, "fill %zu: string %zu", fl, i);
		for (i = 0; i < fl; i++)
			if (fill[i] != 0xA5)
				ck_abort_msg("fill %zu: byte %zu overwritten", fl, i);
		/* an error met while the string is decoded in place */
		ck_assert_ptr_null(json_parse(&a, "[\"abc\",\"de\\q\"]", 14, 0,
		    &e));
		ck_assert_int_eq(e.code, JSON_ERR_ESCAPE);
		ck_assert_uint_eq(e.pos, 10);
		guard_free(&g);
		px_arena_free(&a);
	}
}
END_TEST

/* Long strings: longer than any arena block's free space, errors far in,
 * and the cap: a string that cannot be stored is NOMEM, but an invalid one
 * is reported as invalid whatever the cap. */
START_TEST(t_str_long)
{
	static const char *const bits[] = { "plain text ", "\\n", "\\\"",
	    "\xC3\xA9", "\xE4\xBD\xA0", "\xF0\x9F\x98\x80", "\\u00e9",
	    "\\ud83d\\ude00", "\\\\", "x" };
	static const char *const dec[] = { "plain text ", "\n", "\"",
	    "\xC3\xA9", "\xE4\xBD\xA0", "\xF0\x9F\x98\x80", "\xC3\xA9",
	    "\xF0\x9F\x98\x80", "\\", "x" };
	static const size_t sizes[] = { 1000, 5000, 16 * 1024, 70000, 1500000 };
	struct px_arena a;
	struct guard g;
	struct json_err e;
	struct json *v;
	char *src, *want;
	size_t si, n, wl, k, r, sl;

	for (si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
		src = malloc(sizes[si] * 2 + 64);
		want = malloc(sizes[si] * 2 + 64);
		n = wl = 0;
		src[n++] = '"';
		for (r = 7; n < sizes[si]; r = r * 1103515245 + 12345) {
			k = (r >> 16) % (sizeof(bits) / sizeof(bits[0]));
			sl = strlen(bits[k]);
			memcpy(src + n, bits[k], sl);
			n += sl;
			memcpy(want + wl, dec[k], strlen(dec[k]));
			wl += strlen(dec[k]);
		}
		memcpy(src + n, "ab\"", 3);   /* the b gets replaced below */
		n += 3;
		memcpy(want + wl, "ab", 2);
		wl += 2;

		px_arena_init(&a, 0);
		v = gparse(&a, &g, src, n, 0, &e);
		ck_assert_msg(v != NULL, "%zu: %s at %zu", sizes[si], e.msg,
		    e.pos);
		ck_assert(v->n == wl && memcmp(v->s, want, wl) == 0
		    && v->s[wl] == 0);
		ck_assert_uint_eq(v->rawlen, n);
		guard_free(&g);
		/* the same after another value took most of a block */
		ck_assert_ptr_nonnull(px_arena_alloc(&a, 12345));
		v = json_parse(&a, src, n, 0, &e);
		ck_assert(v != NULL && v->n == wl && memcmp(v->s, want, wl) == 0);

		/* a cap below what the string needs: NOMEM at its start */
		px_arena_free(&a);
		px_arena_init(&a, wl / 2 + 200);
		ck_assert_ptr_null(json_parse(&a, src, n, 0, &e));
		ck_assert_int_eq(e.code, JSON_ERR_NOMEM);
		ck_assert_uint_eq(e.pos, 0);
		ck_assert_uint_le(a.total, a.cap);

		/* an invalid byte near the end: UTF8 there, capped or not */
		src[n - 2] = (char)0xFF;
		ck_assert_ptr_null(json_parse(&a, src, n, 0, &e));
		ck_assert_int_eq(e.code, JSON_ERR_UTF8);
		ck_assert_uint_eq(e.pos, n - 2);
		px_arena_free(&a);
		px_arena_init(&a, 0);
		ck_assert_ptr_null(json_parse(&a, src, n, 0, &e));
		ck_assert_int_eq(e.code, JSON_ERR_UTF8);
		ck_assert_uint_eq(e.pos, n - 2);
		/* unterminated: EOF at the end */
		src[n - 2] = 'b';
		ck_assert_ptr_null(json_parse(&a, src, n - 1, 0, &e));
		ck_assert_int_eq(e.code, JSON_ERR_EOF);
		ck_assert_uint_eq(e.pos, n - 1);
		px_arena_free(&a);
		free(src);
		free(want);
	}
}
END_TEST

/* Every prefix of a string that mixes all the kinds, from a guard page:
 * no over-read, EOF within the prefix (or the error the prefix has). */
START_TEST(t_str_prefixes)
{
	static const char s[] = "\"ab\\n\xC3\xA9 0123456789\\u00e9\xE4\xBD\xA0"
	    "\\ud83d\\ude00\xF0\x9F\x98\x80 abcdefghijklmnop\\\"\\\\x\"";
	struct px_arena a;
	struct guard g;
	struct json_err e;
	size_t k;

	for (k = 0; k < sizeof(s) - 1; k++) {
		px_arena_init(&a, 0);
		ck_assert_ptr_null(gparse(&a, &g, s, k, 0, &e));
		ck_assert_msg(e.pos <= k && (e.code == JSON_ERR_EOF
		    || e.code == JSON_ERR_ESCAPE), "prefix %zu: %d at %zu", k,
		    e.code, e.pos);
		guard_free(&g);
		px_arena_free(&a);
	}
}
END_TEST

/* ------------------------------------------------------------ writer */

/* An independent UTF-8 check: length of the well-formed sequence at p
 * (n bytes available), or 0. */
static size_t
ref_utf8(const unsigned char *p, size_t n)
{
	unsigned long cp;
	size_t k, i;

	if (p[0] < 0x80)
		return 1;
	if ((p[0] & 0xE0) == 0xC0) {
		k = 2;
		cp = p[0] & 0x1Fu;
	} else if ((p[0] & 0xF0) == 0xE0) {
		k = 3;
		cp = p[0] & 0x0Fu;
	} else if ((p[0] & 0xF8) == 0xF0) {
		k = 4;
		cp = p[0] & 0x07u;
	} else {
		return 0;
	}
	if (n < k)
		return 0;
	for (i = 1; i < k; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3Fu);
	}
	if (cp < (k == 2 ? 0x80u : k == 3 ? 0x800u : 0x10000u)
	    || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return k;
}

/* The writer's contract, byte by byte: the escaped form of s[0..n). */
static size_t
ref_escape(const unsigned char *s, size_t n, char *out)
{
	size_t i, k, o;

	o = 0;
	for (i = 0; i < n; i += k) {
		k = ref_utf8(s + i, n - i);
		if (k == 3 && s[i] == 0xE2 && s[i + 1] == 0x80
		    && (s[i + 2] == 0xA8 || s[i + 2] == 0xA9)) {
			o += (size_t)sprintf(out + o, "\\u%04x",
			    s[i + 2] == 0xA8 ? 0x2028u : 0x2029u);
		} else if (k == 0) {
			o += (size_t)sprintf(out + o, "\\ufffd");
			k = 1;
		} else if (k > 1) {
			memcpy(out + o, s + i, k);
			o += k;
		} else if (s[i] == '"' || s[i] == '\\') {
			out[o++] = '\\';
			out[o++] = (char)s[i];
		} else if (s[i] == '\n' || s[i] == '\r' || s[i] == '\t'
		    || s[i] == '\b' || s[i] == '\f') {
			out[o++] = '\\';
			out[o++] = s[i] == '\n' ? 'n' : s[i] == '\r' ? 'r'
			    : s[i] == '\t' ? 't' : s[i] == '\b' ? 'b' : 'f';
		} else if (s[i] < 0x20) {
			o += (size_t)sprintf(out + o, "\\u%04x", s[i]);
		} else {
			out[o++] = (char)s[i];
		}
	}
	return o;
}

/* Raw bytes the writer must treat specially, one per case. */
static const char *const wpieces[] = { "\"", "\\", "\n", "\x01", "\x1f",
	"\x7f", "/", "\xC3\xA9", "\xE4\xBD\xA0", "\xF0\x9F\x98\x80",
	"\xE2\x80\xA8", "\xE2\x80\xA9", "\xFF", "\x80", "\xC0\x80",
	"\xED\xA0\x80", "\xE4\xBD", "\xF4\x90\x80\x80", "\0" };
#define NWPIECES (sizeof(wpieces) / sizeof(wpieces[0]))

/*
 * jw_str against the reference for every piece at every position of
 * strings of length 0..40 (and its input placed against a guard page);
 * valid input reads back byte for byte through json_parse.
 */
START_TEST(t_writer_every_position)
{
	const char *pc = wpieces[_i];
	struct px_arena a;
	struct guard g;
	struct jw w;
	struct json *v;
	char in[64], ref[512];
	size_t len, i, n, pl, rl, k;
	const char *gp;
	int valid;

	pl = pc[0] == 0 ? 1 : strlen(pc);
	px_arena_init(&a, 0);
	jw_init(&w, &a, 0);
	for (len = 0; len <= 40; len++) {
		for (i = 0; i <= len; i++) {
			n = 0;
			for (k = 0; k < i; k++)
				in[n++] = filler(k);
			memcpy(in + n, pc, pl);
			n += pl;
			for (k = i; k < len; k++)
				in[n++] = filler(k);
			gp = guard_copy(&g, in, n);
			ref[0] = '"';
			rl = 1 + ref_escape((const unsigned char *)in, n, ref + 1);
			ref[rl++] = '"';
			jw_reset(&w);
			jw_str(&w, gp, n);
			ck_assert_int_eq(w.err, 0);
			ck_assert_msg(w.len == rl && memcmp(w.buf, ref, rl) == 0,
			    "piece %d len %zu at %zu: got %.*s want %.*s", _i,
			    len, i, (int)w.len, w.buf, (int)rl, ref);
			/* and the same bytes through jw_escaped alone */
			jw_reset(&w);
			jw_escaped(&w, gp, n);
			ck_assert(w.len == rl - 2
			    && memcmp(w.buf, ref + 1, rl - 2) == 0);
			guard_free(&g);
			/* valid UTF-8 round-trips exactly */
			for (k = 0, valid = 1; k < n && valid; k += ref_utf8(
			    (const unsigned char *)in + k, n - k))
				valid = ref_utf8((const unsigned char *)in + k,
				    n - k) > 0;
			if (!valid)
				continue;
			v = json_parse(&a, ref, rl, 0, NULL);
			ck_assert_ptr_nonnull(v);
			ck_assert(v->n == n && memcmp(v->s, in, n) == 0);
		}
	}
	px_arena_free(&a);
}
END_TEST

/* Writing a string piecewise with jw_escaped, split at every point that
 * is not inside a UTF-8 sequence, gives the same bytes as in one go. */
START_TEST(t_writer_split)
{
	static const char s[] = "say \"hi\"\n\tto \xC3\xA9l\xC3\xA8ve \xE4\xBD\xA0"
	    " \\path\\ \x01 0123456789abcdef \xF0\x9F\x98\x80 end\xE2\x80\xA8";
	struct px_arena a;
	struct jw w;
	char whole[512];
	size_t wl, k, n;

	n = sizeof(s) - 1;
	px_arena_init(&a, 0);
	jw_init(&w, &a, 0);
	jw_escaped(&w, s, n);
	ck_assert_int_eq(w.err, 0);
	wl = w.len;
	memcpy(whole, w.buf, wl);
	for (k = 0; k <= n; k++) {
		if (k < n && ((unsigned char)s[k] & 0xC0) == 0x80)
			continue;
		jw_reset(&w);
		jw_escaped(&w, s, k);
		jw_escaped(&w, s + k, n - k);
		ck_assert_msg(w.len == wl && memcmp(w.buf, whole, wl) == 0,
		    "split at %zu", k);
	}
	px_arena_free(&a);
}
END_TEST

/* Long strings out through a writer that grows, and through one that is
 * capped: the output is the reference escaping, or err with a prefix. */
START_TEST(t_writer_long)
{
	struct px_arena a;
	struct jw w;
	unsigned char *s;
	char *ref;
	size_t n, rl, i, max;
	unsigned r;

	n = 300000;
	s = malloc(n);
	ref = malloc(n * 6 + 2);
	for (i = 0, r = 1; i < n; i++) {
		r = r * 1103515245u + 12345u;
		/* mostly text, some of everything else */
		s[i] = (unsigned char)((r >> 16) % 16 == 0 ? (r >> 8) & 0xFF
		    : 'a' + (r >> 20) % 26);
	}
	rl = ref_escape(s, n, ref);
	px_arena_init(&a, 0);
	jw_init(&w, &a, 0);
	jw_escaped(&w, (const char *)s, n);
	ck_assert_int_eq(w.err, 0);
	ck_assert(w.len == rl && memcmp(w.buf, ref, rl) == 0);
	for (max = 1000; max < rl; max = max * 3) {
		jw_init(&w, &a, max);
		jw_escaped(&w, (const char *)s, n);
		ck_assert_int_ne(w.err, 0);
		ck_assert_uint_le(w.len, max);
		ck_assert(memcmp(w.buf, ref, w.len) == 0);
	}
	px_arena_free(&a);
	free(s);
	free(ref);
}
END_TEST

START_TEST(t_writer_int)
{
	static const long long t[] = { 0, 1, -1, 9, -9, 10, -10, 99, 100,
	    12345, -12345, 2147483647LL, -2147483648LL, 4294967296LL,
	    999999999999999999LL, 1000000000000000000LL, -1000000000000000000LL,
	    LLONG_MAX, LLONG_MIN, LLONG_MAX - 1, LLONG_MIN + 1 };
	struct px_arena a;
	struct jw w;
	char want[32];
	long long v;
	size_t i;
	int p;

	px_arena_init(&a, 0);
	jw_init(&w, &a, 0);
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		jw_reset(&w);
		jw_int(&w, t[i]);
		snprintf(want, sizeof(want), "%lld", t[i]);
		want_out(&w, want);
	}
	/* every power of ten and its neighbours, both signs */
	for (p = 0, v = 1; p < 19; p++, v = p < 19 ? v * 10 : v) {
		long long c[6] = { v - 1, v, v + 1, -(v - 1), -v, -(v + 1) };
		for (i = 0; i < 6; i++) {
			jw_reset(&w);
			jw_int(&w, c[i]);
			snprintf(want, sizeof(want), "%lld", c[i]);
			want_out(&w, want);
		}
	}
	px_arena_free(&a);
}
END_TEST

/* ------------------------------------------------------------ (NULL, 0) */

/* Every public function given NULL with a length of 0 (and the writer's
 * C-string arguments NULL): defined behaviour, exact output. Run under
 * UBSan (make build-san/test_json), which rejects memcpy from NULL and
 * arithmetic on NULL. */
START_TEST(t_null_args)
{
	struct px_arena a;
	struct jw w;
	struct json v, *r;
	struct json_err e;
	char *s, fb[4];
	long long ll;
	double d;

	px_arena_init(&a, 0);
	s = px_arena_strndup(&a, NULL, 0);
	ck_assert(s != NULL && s[0] == 0);
	ck_assert_ptr_null(json_parse(&a, NULL, 0, 0, &e));
	ck_assert_int_eq(e.code, JSON_ERR_EOF);
	ck_assert(json_eq(NULL, 0, ""));
	ck_assert(json_eq(NULL, 0, NULL));
	ck_assert(json_eq("", 0, NULL));
	ck_assert(!json_eq("a", 1, NULL));
	r = json_parse(&a, "{\"\":1}", 6, 0, NULL);
	ck_assert_ptr_nonnull(r);
	ck_assert_ptr_null(json_get(r, NULL));
	ck_assert_ptr_null(json_get_str(r, NULL, NULL));

	/* a number or string node with no text */
	memset(&v, 0, sizeof(v));
	v.type = JSON_NUMBER;
	ck_assert(!json_int(&v, &ll));
	ck_assert(!json_num(&v, &d));

	jw_init(&w, &a, 0);
	jw_put(&w, NULL, 0);
	jw_puts(&w, NULL);
	jw_escaped(&w, NULL, 0);
	ck_assert_int_eq(w.err, 0);
	ck_assert_uint_eq(w.len, 0);
	jw_arr(&w);
	jw_str(&w, NULL, 0);
	jw_cstr(&w, NULL);
	jw_raw(&w, NULL, 0);          /* nothing, but the comma */
	jw_str(&w, "x", 1);
	jw_value(&w, &v);             /* the empty number: no text */
	v.type = JSON_STRING;
	jw_value(&w, &v);             /* the empty string */
	jw_arr_end(&w);
	want_out(&w, "[\"\",\"\",,\"x\",,\"\"]");
	jw_reset(&w);
	jw_obj(&w);
	jw_keyn(&w, NULL, 0);
	jw_int(&w, 1);
	jw_key(&w, NULL);
	jw_int(&w, 2);
	jw_kstr(&w, "a", NULL, 0);
	jw_kcstr(&w, NULL, NULL);
	jw_kraw(&w, "r", NULL, 0);
	jw_obj_end(&w);
	want_out(&w, "{\"\":1,\"\":2,\"a\":\"\",\"\":\"\",\"r\":}");

	/* a fixed writer with no buffer at all */
	jw_init_fixed(&w, NULL, 0);
	jw_put(&w, NULL, 0);
	jw_escaped(&w, NULL, 0);
	ck_assert_int_eq(w.err, 0);
	jw_str(&w, NULL, 0);
	ck_assert_int_ne(w.err, 0);
	ck_assert_uint_eq(w.len, 0);
	jw_reset(&w);
	ck_assert_int_eq(w.err, 0);
	/* and a tiny one */
	jw_init_fixed(&w, fb, sizeof(fb));
	jw_str(&w, NULL, 0);
	ck_assert_int_eq(w.err, 0);
	ck_assert(w.len == 2 && memcmp(fb, "\"\"", 3) == 0);
	px_arena_free(&a);
}
END_TEST

/* ------------------------------------------------------------ acct */

START_TEST(t_arena_acct)
{
	struct px_arena a, b;
	size_t acct, i;
	void *p;

	memset(&a, 0xff, sizeof(a));
	px_arena_init(&a, 0);
	ck_assert_ptr_null(a.acct);
	px_arena_init(&b, 40000);
	acct = 0;
	a.acct = &acct;
	b.acct = &acct;
	/* small, growing and one-off large blocks, in both arenas */
	for (i = 0; i < 3000; i++) {
		ck_assert_ptr_nonnull(px_arena_alloc(&a, i % 300 + 1));
		ck_assert_uint_eq(acct, a.total + b.total);
		if (i % 100 == 0) {
			ck_assert_ptr_nonnull(px_arena_alloc(&a,
			    3 * ARENA_BLOCK_MIN));
			ck_assert_uint_eq(acct, a.total + b.total);
		}
		p = px_arena_alloc(&b, 1000);
		if (p == NULL)          /* b's cap: no change when it fails */
			ck_assert_uint_le(b.total, b.cap);
		ck_assert_uint_eq(acct, a.total + b.total);
	}
	ck_assert_uint_gt(b.total, 0);
	ck_assert_ptr_null(px_arena_alloc(&b, 50000));
	ck_assert_uint_eq(acct, a.total + b.total);
	/* the parser's allocations count the same way */
	ck_assert_ptr_nonnull(json_parse(&a, "[\"abc\",{\"k\":[1,2]}]", 19, 0,
	    NULL));
	ck_assert_uint_eq(acct, a.total + b.total);
	px_arena_free(&a);
	ck_assert_uint_eq(acct, b.total);
	/* reuse after free keeps counting (blocks may come from the
	 * per-thread cache) */
	ck_assert_ptr_nonnull(px_arena_alloc(&a, 100));
	ck_assert_ptr_nonnull(px_arena_alloc(&a, 2 * 1024 * 1024));
	ck_assert_uint_eq(acct, a.total + b.total);
	px_arena_free(&b);
	px_arena_free(&a);
	ck_assert_uint_eq(acct, 0);
	ck_assert_ptr_eq(a.acct, &acct);
	/* without acct nothing is counted anywhere */
	px_arena_init(&a, 0);
	ck_assert_ptr_nonnull(px_arena_alloc(&a, 100));
	ck_assert_uint_eq(acct, 0);
	px_arena_free(&a);
}
END_TEST

/* Freed blocks are reused by later arenas of the thread, but never one
 * that would take an arena past its cap. */
START_TEST(t_arena_reuse)
{
	struct px_arena a;
	char *p, *q;
	size_t i;

	px_arena_init(&a, 0);
	p = px_arena_alloc(&a, 100);
	px_arena_free(&a);
	q = px_arena_alloc(&a, 100);
#if ARENA_CACHE_MAX > 0
	ck_assert_ptr_eq(p, q);
#endif
	memset(q, 1, 100);
	px_arena_free(&a);
	/* big blocks in the cache; a small capped arena must not take them */
	px_arena_init(&a, 0);
	for (i = 0; i < 8; i++)
		ck_assert_ptr_nonnull(px_arena_alloc(&a, 200000));
	px_arena_free(&a);
	for (i = 1; i < 40; i++) {
		px_arena_init(&a, i * 1000);
		while (px_arena_alloc(&a, 300) != NULL)
			;
		ck_assert_uint_le(a.total, a.cap);
		px_arena_free(&a);
	}
	/* emptied: the next block is a new one, and freeing twice is fine */
	p = px_arena_alloc(&a, 100);
	px_arena_free(&a);
	px_arena_cache_free();
	px_arena_cache_free();
	q = px_arena_alloc(&a, 100);
	ck_assert_ptr_nonnull(q);
	px_arena_free(&a);
	px_arena_cache_free();
}
END_TEST

/* Every JSON fixture parses strictly from a guard page, and its compact
 * form is a fixed point. */
static char *jfix[64];
static size_t njfix;

START_TEST(t_fixtures)
{
	struct px_arena a;
	struct guard g;
	struct json_err e;
	struct json *v, *v2;
	char path[512], *s, *out, *out2;
	size_t n, on, on2;

	ck_assert_uint_gt(njfix, 0);
	if ((size_t)_i >= njfix)
		return;
	snprintf(path, sizeof(path), "%s/%s", FIXTURE_DIR, jfix[_i]);
	s = read_file(path, &n);
	ck_assert_msg(s != NULL, "%s", path);
	px_arena_init(&a, 0);
	v = gparse(&a, &g, s, n, 0, &e);
	ck_assert_msg(v != NULL, "%s: %d at %zu: %s", jfix[_i], e.code, e.pos,
	    e.msg);
	ck_assert(v->type == JSON_OBJECT || v->type == JSON_ARRAY);
	out = compact(v, &on);
	v2 = json_parse(&a, out, on, 0, &e);
	ck_assert_ptr_nonnull(v2);
	out2 = compact(v2, &on2);
	ck_assert(on == on2 && memcmp(out, out2, on) == 0);
	free(out);
	free(out2);
	guard_free(&g);
	px_arena_free(&a);
	free(s);
}
END_TEST

static void
load_fixture_names(void)
{
	DIR *d;
	struct dirent *de;
	size_t l;

	d = opendir(FIXTURE_DIR);
	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL && njfix < 64) {
		l = strlen(de->d_name);
		if (l > 5 && strcmp(de->d_name + l - 5, ".json") == 0)
			jfix[njfix++] = strdup(de->d_name);
	}
	closedir(d);
}

static Suite *
json_suite(void)
{
	Suite *s;
	TCase *tc;

	s = suite_create("json");
	tc = tcase_create("parse");
	tcase_add_loop_test(tc, t_vector, 0, (int)NCASES);
	tcase_add_loop_test(tc, t_vector_prefixes, 0, (int)NCASES);
	tcase_add_test(tc, t_error_messages);
	tcase_add_test(tc, t_raw_spans);
	tcase_add_test(tc, t_accessors);
	tcase_add_test(tc, t_string_nul);
	suite_add_tcase(s, tc);

	tc = tcase_create("limits");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, t_depth);
	tcase_add_test(tc, t_nomem);
	tcase_add_test(tc, t_arena);
	tcase_add_test(tc, t_arena_acct);
	tcase_add_test(tc, t_arena_reuse);
	tcase_add_test(tc, t_null_args);
	suite_add_tcase(s, tc);

	tc = tcase_create("strings");
	tcase_set_timeout(tc, 300);
	tcase_add_loop_test(tc, t_str_every_position, 0, (int)NPIECES);
	tcase_add_test(tc, t_str_arena_tail);
	tcase_add_test(tc, t_str_long);
	tcase_add_test(tc, t_str_prefixes);
	suite_add_tcase(s, tc);

	tc = tcase_create("numbers");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, t_json_int);
	tcase_add_test(tc, t_json_num);
	suite_add_tcase(s, tc);

	tc = tcase_create("writer");
	tcase_add_test(tc, t_writer_basic);
	tcase_add_test(tc, t_writer_escapes);
	tcase_add_test(tc, t_writer_double);
	tcase_add_test(tc, t_writer_limits);
	tcase_add_test(tc, t_writer_misuse);
	tcase_add_test(tc, t_roundtrip);
	tcase_add_loop_test(tc, t_writer_every_position, 0, (int)NWPIECES);
	tcase_add_test(tc, t_writer_split);
	tcase_add_test(tc, t_writer_long);
	tcase_add_test(tc, t_writer_int);
	suite_add_tcase(s, tc);

	tc = tcase_create("fixtures");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, t_fixtures, 0, njfix > 0 ? (int)njfix : 1);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr;
	int nf;

	load_fixture_names();
	sr = srunner_create(json_suite());
	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	while (njfix > 0)
		free(jfix[--njfix]);
	return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
