/*
 * test_decode.c - the request decoders' rule: every field they read is
 * carried as the client sent it or refused with a 400 that names it; a
 * number is never clamped, defaulted or dropped, a value of the wrong type
 * or an unknown enum value never skipped (README, "Refused and forwarded
 * fields"). Each case is one body, its client format, the target it is
 * converted for, and the exact result: the converted body, or
 * "ERROR <status>: <message>".
 *
 * Also the undefined behaviour a request could reach over HTTP: ids and
 * names that are {NULL, 0} reaching memcpy/memcmp in the history repair
 * and in Gemini's call pairing. Those tests abort under UBSan
 * (make SAN=1 build-san/test_decode) without the fixes.
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

static const struct dcase {
	enum px_fmt from, to;
	const char *body, *want;
} cases[] = {
	/* numbers are forwarded as written, whatever the target's range */
	{ PX_FMT_CHAT, PX_FMT_ANTHROPIC,
	  "{\"model\":\"m\",\"temperature\":1e38,\"messages\":[{\"role\":"
	  "\"user\",\"content\":\"q\"}]}",
	  "{\"model\":\"u\",\"max_tokens\":32000,\"messages\":[{\"role\":"
	  "\"user\",\"content\":[{\"type\":\"text\",\"text\":\"q\"}]}],\""
	  "temperature\":1e38}" },
	{ PX_FMT_CHAT, PX_FMT_ANTHROPIC,
	  "{\"model\":\"m\",\"temperature\":1.5,\"top_p\":0.5e0,\"message"
	  "s\":[{\"role\":\"user\",\"content\":\"q\"}]}",
	  "{\"model\":\"u\",\"max_tokens\":32000,\"messages\":[{\"role\":"
	  "\"user\",\"content\":[{\"type\":\"text\",\"text\":\"q\"}]}],\""
	  "temperature\":1.5}" },
	{ PX_FMT_CHAT, PX_FMT_GEMINI,
	  "{\"model\":\"m\",\"temperature\":2.50,\"top_k\":40.0,\"seed\":"
	  "-1,\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}",
	  "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"q\"}]"
	  "}],\"generationConfig\":{\"temperature\":2.50,\"topK\":40.0,\""
	  "seed\":-1}}" },
	/* an integral value is an integer */
	{ PX_FMT_CHAT, PX_FMT_ANTHROPIC,
	  "{\"model\":\"m\",\"max_tokens\":2.0,\"messages\":[{\"role\":\""
	  "user\",\"content\":\"q\"}]}",
	  "{\"model\":\"u\",\"max_tokens\":2,\"messages\":[{\"role\":\"us"
	  "er\",\"content\":[{\"type\":\"text\",\"text\":\"q\"}]}]}" },
	/* null is unset */
	{ PX_FMT_CHAT, PX_FMT_ANTHROPIC,
	  "{\"model\":\"m\",\"max_tokens\":null,\"temperature\":null,\"me"
	  "ssages\":[{\"role\":\"user\",\"content\":\"q\"}]}",
	  "{\"model\":\"u\",\"max_tokens\":32000,\"messages\":[{\"role\":"
	  "\"user\",\"content\":[{\"type\":\"text\",\"text\":\"q\"}]}]}" },
	{ PX_FMT_CHAT, PX_FMT_ANTHROPIC,
	  "{\"model\":\"m\",\"max_tokens\":9007199254740992,\"messages\":"
	  "[{\"role\":\"user\",\"content\":\"q\"}]}",
	  "{\"model\":\"u\",\"max_tokens\":9007199254740992,\"messages\":"
	  "[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":"
	  "\"q\"}]}]}" },
	/* refused: out of range, wrong type */
	{ PX_FMT_CHAT, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"temperature\":1e999,\"messages\":[{\"role\""
	  ":\"user\",\"content\":\"q\"}]}",
	  "ERROR 400: temperature must be a number within the range of a "
	  "double" },
	{ PX_FMT_CHAT, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"temperature\":-1e400,\"messages\":[{\"role"
	  "\":\"user\",\"content\":\"q\"}]}",
	  "ERROR 400: temperature must be a number within the range of a "
	  "double" },
	{ PX_FMT_CHAT, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"temperature\":\"0.5\",\"messages\":[{\"role"
	  "\":\"user\",\"content\":\"q\"}]}",
	  "ERROR 400: temperature must be a number" },
	{ PX_FMT_CHAT, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"top_p\":true,\"messages\":[{\"role\":\"user"
	  "\",\"content\":\"q\"}]}",
	  "ERROR 400: top_p must be a number" },
	{ PX_FMT_CHAT, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"top_k\":[40],\"messages\":[{\"role\":\"user"
	  "\",\"content\":\"q\"}]}",
	  "ERROR 400: top_k must be a number" },
	{ PX_FMT_CHAT, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"presence_penalty\":{},\"messages\":[{\"role"
	  "\":\"user\",\"content\":\"q\"}]}",
	  "ERROR 400: presence_penalty must be a number" },
	{ PX_FMT_CHAT, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"frequency_penalty\":\"0\",\"messages\":[{\""
	  "role\":\"user\",\"content\":\"q\"}]}",
	  "ERROR 400: frequency_penalty must be a number" },
	{ PX_FMT_CHAT, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"seed\":\"42\",\"messages\":[{\"role\":\"use"
	  "r\",\"content\":\"q\"}]}",
	  "ERROR 400: seed must be a number" },
	{ PX_FMT_CHAT, PX_FMT_ANTHROPIC,
	  "{\"model\":\"m\",\"max_tokens\":1e999999,\"messages\":[{\"role"
	  "\":\"user\",\"content\":\"q\"}]}",
	  "ERROR 400: max_tokens must be an integer between 1 and 2^53" },
	{ PX_FMT_CHAT, PX_FMT_ANTHROPIC,
	  "{\"model\":\"m\",\"max_tokens\":18446744073709551616,\"message"
	  "s\":[{\"role\":\"user\",\"content\":\"q\"}]}",
	  "ERROR 400: max_tokens must be an integer between 1 and 2^53" },
	{ PX_FMT_CHAT, PX_FMT_ANTHROPIC,
	  "{\"model\":\"m\",\"max_tokens\":9007199254740993,\"messages\":"
	  "[{\"role\":\"user\",\"content\":\"q\"}]}",
	  "ERROR 400: max_tokens must be an integer between 1 and 2^53" },
	{ PX_FMT_CHAT, PX_FMT_ANTHROPIC,
	  "{\"model\":\"m\",\"max_tokens\":0,\"messages\":[{\"role\":\"us"
	  "er\",\"content\":\"q\"}]}",
	  "ERROR 400: max_tokens must be an integer between 1 and 2^53" },
	{ PX_FMT_CHAT, PX_FMT_ANTHROPIC,
	  "{\"model\":\"m\",\"max_tokens\":-5,\"messages\":[{\"role\":\"u"
	  "ser\",\"content\":\"q\"}]}",
	  "ERROR 400: max_tokens must be an integer between 1 and 2^53" },
	{ PX_FMT_CHAT, PX_FMT_ANTHROPIC,
	  "{\"model\":\"m\",\"max_tokens\":2.5,\"messages\":[{\"role\":\""
	  "user\",\"content\":\"q\"}]}",
	  "ERROR 400: max_tokens must be an integer between 1 and 2^53" },
	{ PX_FMT_CHAT, PX_FMT_ANTHROPIC,
	  "{\"model\":\"m\",\"max_tokens\":\"100\",\"messages\":[{\"role"
	  "\":\"user\",\"content\":\"q\"}]}",
	  "ERROR 400: max_tokens must be an integer between 1 and 2^53" },
	{ PX_FMT_CHAT, PX_FMT_ANTHROPIC,
	  "{\"model\":\"m\",\"max_completion_tokens\":1e20,\"max_tokens\""
	  ":5,\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}",
	  "ERROR 400: max_completion_tokens must be an integer between 1 "
	  "and 2^53" },
	{ PX_FMT_CHAT, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"n\":2.5,\"messages\":[{\"role\":\"user\",\""
	  "content\":\"q\"}]}",
	  "ERROR 400: n must be an integer between 1 and 2^53" },
	{ PX_FMT_CHAT, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"n\":0,\"messages\":[{\"role\":\"user\",\"co"
	  "ntent\":\"q\"}]}",
	  "ERROR 400: n must be an integer between 1 and 2^53" },
	{ PX_FMT_CHAT, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"reasoning\":{\"max_tokens\":-1},\"messages"
	  "\":[{\"role\":\"user\",\"content\":\"q\"}]}",
	  "ERROR 400: reasoning.max_tokens must be an integer between 0 a"
	  "nd 2^53" },
	{ PX_FMT_CHAT, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"reasoning\":\"high\",\"messages\":[{\"role"
	  "\":\"user\",\"content\":\"q\"}]}",
	  "ERROR 400: reasoning must be an object" },
	{ PX_FMT_CHAT, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"reasoning_effort\":\"ultra\",\"messages\":["
	  "{\"role\":\"user\",\"content\":\"q\"}]}",
	  "ERROR 400: reasoning_effort must be 'none', 'minimal', 'low', "
	  "'medium', 'high' or 'xhigh'" },
	{ PX_FMT_CHAT, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"reasoning\":{\"effort\":5},\"messages\":[{"
	  "\"role\":\"user\",\"content\":\"q\"}]}",
	  "ERROR 400: reasoning.effort must be 'none', 'minimal', 'low', "
	  "'medium', 'high' or 'xhigh'" },
	{ PX_FMT_CHAT, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"stream\":\"true\",\"messages\":[{\"role\":"
	  "\"user\",\"content\":\"q\"}]}",
	  "ERROR 400: stream must be a boolean" },
	{ PX_FMT_CHAT, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"stream_options\":true,\"messages\":[{\"role"
	  "\":\"user\",\"content\":\"q\"}]}",
	  "ERROR 400: stream_options must be an object" },
	{ PX_FMT_CHAT, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"stream_options\":{\"include_usage\":1},\"me"
	  "ssages\":[{\"role\":\"user\",\"content\":\"q\"}]}",
	  "ERROR 400: stream_options.include_usage must be a boolean" },
	{ PX_FMT_CHAT, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"parallel_tool_calls\":1,\"messages\":[{\"ro"
	  "le\":\"user\",\"content\":\"q\"}]}",
	  "ERROR 400: parallel_tool_calls must be a boolean" },
	{ PX_FMT_CHAT, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"store\":\"no\",\"messages\":[{\"role\":\"us"
	  "er\",\"content\":\"q\"}]}",
	  "ERROR 400: store must be a boolean" },
	{ PX_FMT_CHAT, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"user\":42,\"messages\":[{\"role\":\"user\","
	  "\"content\":\"q\"}]}",
	  "ERROR 400: user must be a string" },
	{ PX_FMT_CHAT, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"stop\":[\"a\",1],\"messages\":[{\"role\":\""
	  "user\",\"content\":\"q\"}]}",
	  "ERROR 400: stop must be a string or an array of strings" },
	{ PX_FMT_CHAT, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"stop\":5,\"messages\":[{\"role\":\"user\","
	  "\"content\":\"q\"}]}",
	  "ERROR 400: stop must be a string or an array of strings" },
	{ PX_FMT_CHAT, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"tool_choice\":\"any\",\"messages\":[{\"role"
	  "\":\"user\",\"content\":\"q\"}]}",
	  "ERROR 400: tool_choice must be 'none', 'auto' or 'required'" },
	{ PX_FMT_CHAT, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"tool_choice\":{\"type\":\"function\"},\"mes"
	  "sages\":[{\"role\":\"user\",\"content\":\"q\"}]}",
	  "ERROR 400: tool_choice must be 'none', 'auto', 'required' or {"
	  "\"type\":\"function\",\"function\":{\"name\":...}}" },
	{ PX_FMT_CHAT, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"tool_choice\":7,\"messages\":[{\"role\":\"u"
	  "ser\",\"content\":\"q\"}]}",
	  "ERROR 400: tool_choice must be 'none', 'auto', 'required' or {"
	  "\"type\":\"function\",\"function\":{\"name\":...}}" },
	{ PX_FMT_CHAT, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"response_format\":{\"type\":\"yaml\"},\"mes"
	  "sages\":[{\"role\":\"user\",\"content\":\"q\"}]}",
	  "ERROR 400: response_format.type must be 'text', 'json_object' "
	  "or 'json_schema'" },
	{ PX_FMT_CHAT, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"response_format\":{},\"messages\":[{\"role"
	  "\":\"user\",\"content\":\"q\"}]}",
	  "ERROR 400: response_format.type must be 'text', 'json_object' "
	  "or 'json_schema'" },
	{ PX_FMT_CHAT, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"response_format\":\"json_object\",\"message"
	  "s\":[{\"role\":\"user\",\"content\":\"q\"}]}",
	  "ERROR 400: response_format must be an object" },
	{ PX_FMT_CHAT, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"response_format\":{\"type\":\"json_schema\""
	  "},\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}",
	  "ERROR 400: response_format.json_schema must be an object" },
	{ PX_FMT_CHAT, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"response_format\":{\"type\":\"json_schema\""
	  ",\"json_schema\":{\"name\":\"x\",\"schema\":\"{}\"}},\"message"
	  "s\":[{\"role\":\"user\",\"content\":\"q\"}]}",
	  "ERROR 400: response_format.json_schema.schema must be an objec"
	  "t" },
	{ PX_FMT_CHAT, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"tools\":{},\"messages\":[{\"role\":\"user\""
	  ",\"content\":\"q\"}]}",
	  "ERROR 400: tools must be an array" },
	{ PX_FMT_CHAT, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"tools\":[5],\"messages\":[{\"role\":\"user"
	  "\",\"content\":\"q\"}]}",
	  "ERROR 400: tools[0] must be an object" },
	{ PX_FMT_CHAT, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"tools\":[{\"type\":\"function\"}],\"message"
	  "s\":[{\"role\":\"user\",\"content\":\"q\"}]}",
	  "ERROR 400: tools[0].function must be an object" },
	{ PX_FMT_CHAT, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"tools\":[{\"type\":\"function\",\"function"
	  "\":{\"name\":\"f\",\"parameters\":\"{}\"}}],\"messages\":[{\"r"
	  "ole\":\"user\",\"content\":\"q\"}]}",
	  "ERROR 400: tools[0].function.parameters must be an object" },
	{ PX_FMT_CHAT, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"tools\":[{\"type\":\"function\",\"function"
	  "\":{\"name\":\"f\",\"strict\":\"yes\"}}],\"messages\":[{\"role"
	  "\":\"user\",\"content\":\"q\"}]}",
	  "ERROR 400: tools[0].function.strict must be a boolean" },
	{ PX_FMT_CHAT, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"tools\":[{\"type\":\"function\",\"function"
	  "\":{\"name\":7}}],\"messages\":[{\"role\":\"user\",\"content\""
	  ":\"q\"}]}",
	  "ERROR 400: tools[0].function.name must be a string" },
	/* messages */
	{ PX_FMT_CHAT, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"messages\":[5]}",
	  "ERROR 400: messages[0] must be an object" },
	{ PX_FMT_CHAT, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":"
	  "\"a\"},{\"role\":\"assistant\",\"content\":\"b\"},{\"role\":\""
	  "user\",\"content\":5}]}",
	  "ERROR 400: messages[2].content must be a string or an array of"
	  " content parts" },
	{ PX_FMT_CHAT, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":"
	  "{\"type\":\"text\",\"text\":\"x\"}}]}",
	  "ERROR 400: messages[0].content must be a string or an array of"
	  " content parts" },
	{ PX_FMT_CHAT, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":"
	  "[7]}]}",
	  "ERROR 400: messages[0].content[0] must be a content part objec"
	  "t" },
	{ PX_FMT_CHAT, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":"
	  "[{\"type\":\"text\",\"text\":5}]}]}",
	  "ERROR 400: messages[0].content[0].text must be a string" },
	{ PX_FMT_CHAT, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":"
	  "[{\"type\":\"input_audio\",\"input_audio\":{\"data\":\"AA\",\""
	  "format\":\"wav\"}}]}]}",
	  "ERROR 400: messages[0].content[0]: content part type 'input_au"
	  "dio' cannot be converted" },
	{ PX_FMT_CHAT, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":"
	  "[{\"type\":\"image_url\",\"image_url\":{}}]}]}",
	  "ERROR 400: messages[0].content[0].image_url.url must be a URL" },
	{ PX_FMT_CHAT, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":"
	  "[{\"type\":\"file\",\"file\":{\"filename\":\"a.pdf\"}}]}]}",
	  "ERROR 400: messages[0].content[0].file needs file_data or file"
	  "_id" },
	{ PX_FMT_CHAT, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content"
	  "\":[{\"type\":\"image_url\",\"image_url\":\"data:image/png;bas"
	  "e64,AA\"}]}]}",
	  "ERROR 400: messages[0].content[0]: a system message can only h"
	  "old text" },
	{ PX_FMT_CHAT, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":"
	  "\"q\"},{\"role\":\"developer\",\"content\":7}]}",
	  "ERROR 400: messages[1].content must be a string or an array of"
	  " content parts" },
	{ PX_FMT_CHAT, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"messages\":[{\"role\":\"tool\",\"tool_call_"
	  "id\":\"c\",\"content\":{\"a\":1}}]}",
	  "ERROR 400: messages[0].content must be a string or an array of"
	  " content parts" },
	{ PX_FMT_CHAT, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"messages\":[{\"role\":\"tool\",\"tool_call_"
	  "id\":5,\"content\":\"r\"}]}",
	  "ERROR 400: messages[0].tool_call_id must be a string" },
	{ PX_FMT_CHAT, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"messages\":[{\"role\":\"assistant\",\"tool_"
	  "calls\":{\"id\":\"x\"}}]}",
	  "ERROR 400: messages[0].tool_calls must be an array" },
	{ PX_FMT_CHAT, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"messages\":[{\"role\":\"assistant\",\"tool_"
	  "calls\":[{\"type\":\"custom\",\"custom\":{\"name\":\"f\",\"inp"
	  "ut\":\"x\"}}]}]}",
	  "ERROR 400: messages[0].tool_calls[0] must be a function call ("
	  "{\"type\":\"function\",\"function\":{...}})" },
	{ PX_FMT_CHAT, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"messages\":[{\"role\":\"assistant\",\"tool_"
	  "calls\":[{\"id\":\"c\",\"type\":\"function\",\"function\":{\"n"
	  "ame\":\"f\",\"arguments\":{\"a\":1}}}]}]}",
	  "ERROR 400: messages[0].tool_calls[0].function.arguments must b"
	  "e a string" },
	{ PX_FMT_CHAT, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"messages\":[{\"role\":\"assistant\",\"conte"
	  "nt\":null,\"function_call\":{\"name\":\"f\",\"arguments\":\"{}"
	  "\"}}]}",
	  "ERROR 400: messages[0].function_call (legacy function calling)"
	  " cannot be converted; send tool_calls" },
	{ PX_FMT_CHAT, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"messages\":[{\"role\":\"assistant\",\"conte"
	  "nt\":\"a\",\"reasoning_content\":5}]}",
	  "ERROR 400: messages[0].reasoning_content must be a string" },
	{ PX_FMT_CHAT, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"messages\":[{\"role\":\"assistant\",\"conte"
	  "nt\":\"a\",\"refusal\":false}]}",
	  "ERROR 400: messages[0].refusal must be a string" },
	/* legacy completions */
	{ PX_FMT_COMPLETIONS, PX_FMT_ANTHROPIC,
	  "{\"model\":\"m\",\"prompt\":\"p\",\"max_tokens\":1844674407370"
	  "9551616}",
	  "ERROR 400: max_tokens must be an integer between 1 and 2^53" },
	{ PX_FMT_COMPLETIONS, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"prompt\":\"p\",\"max_tokens\":0}",
	  "ERROR 400: max_tokens must be an integer between 1 and 2^53" },
	{ PX_FMT_COMPLETIONS, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"prompt\":\"p\",\"best_of\":2.5}",
	  "ERROR 400: best_of must be an integer between 1 and 2^53" },
	{ PX_FMT_COMPLETIONS, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"prompt\":\"p\",\"n\":0}",
	  "ERROR 400: n must be an integer between 1 and 2^53" },
	{ PX_FMT_COMPLETIONS, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"prompt\":\"p\",\"echo\":\"yes\"}",
	  "ERROR 400: echo must be a boolean" },
	{ PX_FMT_COMPLETIONS, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"prompt\":\"p\",\"temperature\":\"hot\"}",
	  "ERROR 400: temperature must be a number" },
	{ PX_FMT_COMPLETIONS, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"prompt\":\"p\",\"stream\":1}",
	  "ERROR 400: stream must be a boolean" },
	/* responses */
	{ PX_FMT_RESPONSES, PX_FMT_ANTHROPIC,
	  "{\"model\":\"m\",\"input\":\"q\",\"temperature\":1.5,\"max_out"
	  "put_tokens\":7.0}",
	  "{\"model\":\"u\",\"max_tokens\":7,\"messages\":[{\"role\":\"us"
	  "er\",\"content\":[{\"type\":\"text\",\"text\":\"q\"}]}],\"temp"
	  "erature\":1.5}" },
	{ PX_FMT_RESPONSES, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"input\":\"q\",\"max_output_tokens\":1e99999"
	  "9}",
	  "ERROR 400: max_output_tokens must be an integer between 1 and "
	  "2^53" },
	{ PX_FMT_RESPONSES, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"input\":\"q\",\"max_output_tokens\":-1}",
	  "ERROR 400: max_output_tokens must be an integer between 1 and "
	  "2^53" },
	{ PX_FMT_RESPONSES, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"input\":\"q\",\"temperature\":true}",
	  "ERROR 400: temperature must be a number" },
	{ PX_FMT_RESPONSES, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"input\":\"q\",\"top_p\":1e309}",
	  "ERROR 400: top_p must be a number within the range of a double" },
	{ PX_FMT_RESPONSES, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"input\":\"q\",\"stream\":\"yes\"}",
	  "ERROR 400: stream must be a boolean" },
	{ PX_FMT_RESPONSES, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"input\":\"q\",\"store\":\"no\"}",
	  "ERROR 400: store must be a boolean" },
	{ PX_FMT_RESPONSES, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"input\":\"q\",\"user\":1}",
	  "ERROR 400: user must be a string" },
	{ PX_FMT_RESPONSES, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"input\":\"q\",\"previous_response_id\":1}",
	  "ERROR 400: previous_response_id must be a string" },
	{ PX_FMT_RESPONSES, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"input\":\"q\",\"parallel_tool_calls\":\"no"
	  "\"}",
	  "ERROR 400: parallel_tool_calls must be a boolean" },
	{ PX_FMT_RESPONSES, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"input\":\"q\",\"instructions\":[\"a\"]}",
	  "ERROR 400: instructions must be a string" },
	{ PX_FMT_RESPONSES, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"input\":\"q\",\"tools\":{\"type\":\"functio"
	  "n\"}}",
	  "ERROR 400: tools must be an array" },
	{ PX_FMT_RESPONSES, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"input\":\"q\",\"tools\":[{\"type\":\"functi"
	  "on\",\"name\":\"f\",\"parameters\":[]}]}",
	  "ERROR 400: tools[0].parameters must be an object" },
	{ PX_FMT_RESPONSES, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"input\":\"q\",\"tools\":[{\"type\":\"namesp"
	  "ace\",\"name\":\"ns\",\"tools\":{}}]}",
	  "ERROR 400: tools[0].tools must be an array" },
	{ PX_FMT_RESPONSES, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"input\":\"q\",\"tool_choice\":\"any\"}",
	  "ERROR 400: tool_choice must be 'auto', 'none' or 'required'" },
	{ PX_FMT_RESPONSES, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"input\":\"q\",\"tool_choice\":{\"type\":\"f"
	  "unction\"}}",
	  "ERROR 400: tool_choice.name must be a tool name" },
	{ PX_FMT_RESPONSES, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"input\":\"q\",\"tool_choice\":{\"type\":\"a"
	  "llowed_tools\",\"mode\":\"auto\",\"tools\":[]}}",
	  "ERROR 400: tool_choice type 'allowed_tools' cannot be converte"
	  "d" },
	{ PX_FMT_RESPONSES, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"input\":\"q\",\"reasoning\":{\"effort\":\"m"
	  "ax\"}}",
	  "ERROR 400: reasoning.effort must be 'none', 'minimal', 'low', "
	  "'medium', 'high' or 'xhigh'" },
	{ PX_FMT_RESPONSES, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"input\":\"q\",\"reasoning\":\"high\"}",
	  "ERROR 400: reasoning must be an object" },
	{ PX_FMT_RESPONSES, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"input\":\"q\",\"text\":{\"format\":{\"type"
	  "\":\"yaml\"}}}",
	  "ERROR 400: text.format.type must be 'text', 'json_object' or '"
	  "json_schema'" },
	{ PX_FMT_RESPONSES, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"input\":\"q\",\"text\":{\"format\":{\"type"
	  "\":\"json_schema\",\"schema\":true}}}",
	  "ERROR 400: text.format.schema must be an object" },
	{ PX_FMT_RESPONSES, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"input\":[5]}",
	  "ERROR 400: input[0] must be an object" },
	{ PX_FMT_RESPONSES, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"input\":[{\"role\":5,\"content\":\"x\"}]}",
	  "ERROR 400: input[0].role must be a string" },
	{ PX_FMT_RESPONSES, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"input\":[{\"type\":5,\"content\":\"x\"}]}",
	  "ERROR 400: input[0].type must be a string" },
	{ PX_FMT_RESPONSES, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"input\":[{\"type\":\"message\",\"role\":\"u"
	  "ser\",\"content\":7}]}",
	  "ERROR 400: input[0].content must be a string or an array of co"
	  "ntent parts" },
	{ PX_FMT_RESPONSES, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"input\":[{\"type\":\"message\",\"role\":\"u"
	  "ser\"}]}",
	  "ERROR 400: input[0].content must be a string or an array of co"
	  "ntent parts" },
	{ PX_FMT_RESPONSES, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"input\":[{\"role\":\"user\",\"content\":[5]"
	  "}]}",
	  "ERROR 400: input[0].content[0] must be an object" },
	{ PX_FMT_RESPONSES, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"input\":[{\"role\":\"user\",\"content\":[{"
	  "\"type\":\"input_text\",\"text\":5}]}]}",
	  "ERROR 400: input[0].content[0].text must be a string" },
	{ PX_FMT_RESPONSES, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"input\":[{\"role\":\"user\",\"content\":[{"
	  "\"type\":\"input_audio\"}]}]}",
	  "ERROR 400: input[0].content[0]: content part type 'input_audio"
	  "' cannot be converted" },
	{ PX_FMT_RESPONSES, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"input\":[{\"role\":\"user\",\"content\":[{"
	  "\"type\":\"input_image\",\"image_url\":7}]}]}",
	  "ERROR 400: input[0].content[0].image_url must be a string" },
	{ PX_FMT_RESPONSES, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"input\":[{\"role\":\"developer\",\"content"
	  "\":[{\"type\":\"input_image\",\"image_url\":\"data:image/png;b"
	  "ase64,AA\"}]}]}",
	  "ERROR 400: input[0].content: a developer message can only hold"
	  " text" },
	{ PX_FMT_RESPONSES, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"input\":[{\"type\":\"function_call\",\"call"
	  "_id\":\"c\",\"name\":\"f\",\"arguments\":{\"a\":1}}]}",
	  "ERROR 400: input[0].arguments must be a string" },
	{ PX_FMT_RESPONSES, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"input\":[{\"type\":\"function_call\",\"call"
	  "_id\":7,\"name\":\"f\",\"arguments\":\"{}\"}]}",
	  "ERROR 400: input[0].call_id must be a string" },
	{ PX_FMT_RESPONSES, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"input\":[{\"type\":\"function_call_output\""
	  ",\"call_id\":\"c\",\"output\":7}]}",
	  "ERROR 400: input[0].output must be a string or an array of con"
	  "tent parts" },
	{ PX_FMT_RESPONSES, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"input\":[{\"type\":\"custom_tool_call\",\"c"
	  "all_id\":\"c\",\"name\":\"f\",\"input\":{}}]}",
	  "ERROR 400: input[0].input must be a string" },
	{ PX_FMT_RESPONSES, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"input\":[{\"type\":\"reasoning\",\"summary"
	  "\":\"x\"}]}",
	  "ERROR 400: input[0].summary must be an array" },
	{ PX_FMT_RESPONSES, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"input\":[{\"type\":\"reasoning\",\"summary"
	  "\":[{\"type\":\"summary_text\",\"text\":5}]}]}",
	  "ERROR 400: input[0].summary[0].text must be a string" },
	{ PX_FMT_RESPONSES, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"input\":[{\"type\":\"web_search_call\",\"id"
	  "\":\"ws_1\"}]}",
	  "ERROR 400: input[0]: input item type 'web_search_call' cannot "
	  "be converted" },
	/* anthropic */
	{ PX_FMT_ANTHROPIC, PX_FMT_GEMINI,
	  "{\"model\":\"m\",\"max_tokens\":100,\"temperature\":1.5,\"top_"
	  "k\":5,\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}",
	  "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"q\"}]"
	  "}],\"generationConfig\":{\"temperature\":1.5,\"topK\":5,\"maxO"
	  "utputTokens\":100}}" },
	{ PX_FMT_ANTHROPIC, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"max_tokens\":1e999999,\"messages\":[{\"role"
	  "\":\"user\",\"content\":\"q\"}]}",
	  "ERROR 400: max_tokens must be an integer between 1 and 2^53" },
	{ PX_FMT_ANTHROPIC, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"max_tokens\":0,\"messages\":[{\"role\":\"us"
	  "er\",\"content\":\"q\"}]}",
	  "ERROR 400: max_tokens must be an integer between 1 and 2^53" },
	{ PX_FMT_ANTHROPIC, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"max_tokens\":100,\"temperature\":\"1\",\"me"
	  "ssages\":[{\"role\":\"user\",\"content\":\"q\"}]}",
	  "ERROR 400: temperature must be a number" },
	{ PX_FMT_ANTHROPIC, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"max_tokens\":100,\"top_k\":1e400,\"messages"
	  "\":[{\"role\":\"user\",\"content\":\"q\"}]}",
	  "ERROR 400: top_k must be a number within the range of a double" },
	{ PX_FMT_ANTHROPIC, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"max_tokens\":100,\"stream\":\"true\",\"mess"
	  "ages\":[{\"role\":\"user\",\"content\":\"q\"}]}",
	  "ERROR 400: stream must be a boolean" },
	{ PX_FMT_ANTHROPIC, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"max_tokens\":100,\"stop_sequences\":\"x\","
	  "\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}",
	  "ERROR 400: stop_sequences must be an array of strings" },
	{ PX_FMT_ANTHROPIC, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"max_tokens\":100,\"stop_sequences\":[\"x\","
	  "1],\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}",
	  "ERROR 400: stop_sequences must be an array of strings" },
	{ PX_FMT_ANTHROPIC, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"max_tokens\":100,\"metadata\":{\"user_id\":"
	  "5},\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}",
	  "ERROR 400: metadata.user_id must be a string" },
	{ PX_FMT_ANTHROPIC, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"max_tokens\":100,\"metadata\":\"u\",\"messa"
	  "ges\":[{\"role\":\"user\",\"content\":\"q\"}]}",
	  "ERROR 400: metadata must be an object" },
	{ PX_FMT_ANTHROPIC, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"max_tokens\":100,\"system\":5,\"messages\":"
	  "[{\"role\":\"user\",\"content\":\"q\"}]}",
	  "ERROR 400: system must be a string or an array of text blocks" },
	{ PX_FMT_ANTHROPIC, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"max_tokens\":100,\"system\":[{\"type\":\"im"
	  "age\"}],\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}",
	  "ERROR 400: system[0] must be a text block" },
	{ PX_FMT_ANTHROPIC, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"max_tokens\":100,\"system\":[{\"type\":\"te"
	  "xt\",\"text\":5}],\"messages\":[{\"role\":\"user\",\"content\""
	  ":\"q\"}]}",
	  "ERROR 400: system[0].text must be a string" },
	{ PX_FMT_ANTHROPIC, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"max_tokens\":100,\"tools\":{},\"messages\":"
	  "[{\"role\":\"user\",\"content\":\"q\"}]}",
	  "ERROR 400: tools must be an array" },
	{ PX_FMT_ANTHROPIC, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"max_tokens\":100,\"tools\":[{\"name\":\"f\""
	  ",\"input_schema\":\"{}\"}],\"messages\":[{\"role\":\"user\",\""
	  "content\":\"q\"}]}",
	  "ERROR 400: tools[0].input_schema must be an object" },
	{ PX_FMT_ANTHROPIC, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"max_tokens\":100,\"tool_choice\":\"auto\","
	  "\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}",
	  "ERROR 400: tool_choice must be an object" },
	{ PX_FMT_ANTHROPIC, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"max_tokens\":100,\"tool_choice\":{\"type\":"
	  "\"required\"},\"messages\":[{\"role\":\"user\",\"content\":\"q"
	  "\"}]}",
	  "ERROR 400: tool_choice.type must be 'auto', 'any', 'none' or '"
	  "tool'" },
	{ PX_FMT_ANTHROPIC, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"max_tokens\":100,\"tool_choice\":{\"type\":"
	  "\"tool\"},\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]"
	  "}",
	  "ERROR 400: tool_choice.name must be a tool name" },
	{ PX_FMT_ANTHROPIC, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"max_tokens\":100,\"tool_choice\":{\"type\":"
	  "\"auto\",\"disable_parallel_tool_use\":\"yes\"},\"messages\":["
	  "{\"role\":\"user\",\"content\":\"q\"}]}",
	  "ERROR 400: tool_choice.disable_parallel_tool_use must be a boo"
	  "lean" },
	{ PX_FMT_ANTHROPIC, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"max_tokens\":100,\"thinking\":{\"type\":\"e"
	  "nabled\"},\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]"
	  "}",
	  "ERROR 400: thinking.budget_tokens must be an integer between 1"
	  " and 2^53" },
	{ PX_FMT_ANTHROPIC, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"max_tokens\":100,\"thinking\":{\"type\":\"e"
	  "nabled\",\"budget_tokens\":1e999},\"messages\":[{\"role\":\"us"
	  "er\",\"content\":\"q\"}]}",
	  "ERROR 400: thinking.budget_tokens must be an integer between 1"
	  " and 2^53" },
	{ PX_FMT_ANTHROPIC, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"max_tokens\":100,\"thinking\":{\"type\":\"o"
	  "n\"},\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}",
	  "ERROR 400: thinking.type must be 'enabled', 'disabled' or 'ada"
	  "ptive'" },
	{ PX_FMT_ANTHROPIC, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"max_tokens\":100,\"thinking\":true,\"messag"
	  "es\":[{\"role\":\"user\",\"content\":\"q\"}]}",
	  "ERROR 400: thinking must be an object" },
	{ PX_FMT_ANTHROPIC, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"max_tokens\":100,\"output_config\":{\"effor"
	  "t\":\"ultra\"},\"messages\":[{\"role\":\"user\",\"content\":\""
	  "q\"}]}",
	  "ERROR 400: output_config.effort must be 'low', 'medium', 'high"
	  "' or 'max'" },
	{ PX_FMT_ANTHROPIC, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"max_tokens\":100,\"output_config\":{\"forma"
	  "t\":{\"type\":\"json_object\"}},\"messages\":[{\"role\":\"user"
	  "\",\"content\":\"q\"}]}",
	  "ERROR 400: output_config.format must be {\"type\":\"json_schem"
	  "a\",\"schema\":{...}}" },
	{ PX_FMT_ANTHROPIC, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"max_tokens\":100,\"messages\":[{\"role\":\""
	  "user\",\"content\":\"a\"},{\"role\":\"user\",\"content\":7}]}",
	  "ERROR 400: messages[1].content must be a string or an array of"
	  " content blocks" },
	{ PX_FMT_ANTHROPIC, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"max_tokens\":100,\"messages\":[{\"role\":\""
	  "user\",\"content\":[5]}]}",
	  "ERROR 400: messages[0].content[0] must be a content block obje"
	  "ct" },
	{ PX_FMT_ANTHROPIC, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"max_tokens\":100,\"messages\":[{\"role\":\""
	  "user\",\"content\":[{\"type\":\"text\",\"text\":5}]}]}",
	  "ERROR 400: messages[0].content[0].text must be a string" },
	{ PX_FMT_ANTHROPIC, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"max_tokens\":100,\"messages\":[{\"role\":\""
	  "assistant\",\"content\":[{\"type\":\"server_tool_use\",\"id\":"
	  "\"x\",\"name\":\"web_search\",\"input\":{}}]}]}",
	  "ERROR 400: messages[0].content[0]: block type 'server_tool_use"
	  "' cannot be converted" },
	{ PX_FMT_ANTHROPIC, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"max_tokens\":100,\"messages\":[{\"role\":\""
	  "assistant\",\"content\":[{\"type\":\"tool_use\",\"id\":\"x\","
	  "\"name\":\"f\",\"input\":\"{}\"}]}]}",
	  "ERROR 400: messages[0].content[0].input must be an object" },
	{ PX_FMT_ANTHROPIC, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"max_tokens\":100,\"messages\":[{\"role\":\""
	  "assistant\",\"content\":[{\"type\":\"thinking\",\"thinking\":"
	  "\"t\",\"signature\":5}]}]}",
	  "ERROR 400: messages[0].content[0].signature must be a string" },
	{ PX_FMT_ANTHROPIC, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"max_tokens\":100,\"messages\":[{\"role\":\""
	  "assistant\",\"content\":[{\"type\":\"tool_result\",\"tool_use_"
	  "id\":\"x\"}]}]}",
	  "ERROR 400: messages[0].content[0]: a tool_result block belongs"
	  " in a user message" },
	{ PX_FMT_ANTHROPIC, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"max_tokens\":100,\"messages\":[{\"role\":\""
	  "user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":"
	  "\"x\",\"content\":{\"a\":1}}]}]}",
	  "ERROR 400: messages[0].content[0].content must be a string or "
	  "an array of content blocks" },
	{ PX_FMT_ANTHROPIC, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"max_tokens\":100,\"messages\":[{\"role\":\""
	  "user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":"
	  "\"x\",\"content\":[{\"type\":\"search_result\"}]}]}]}",
	  "ERROR 400: messages[0].content[0].content[0]: block type 'sear"
	  "ch_result' cannot be converted" },
	{ PX_FMT_ANTHROPIC, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"max_tokens\":100,\"messages\":[{\"role\":\""
	  "user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":"
	  "\"x\",\"is_error\":\"yes\"}]}]}",
	  "ERROR 400: messages[0].content[0].is_error must be a boolean" },
	{ PX_FMT_ANTHROPIC, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"max_tokens\":100,\"messages\":[{\"role\":\""
	  "user\",\"content\":[{\"type\":\"image\",\"source\":{\"type\":"
	  "\"zip\"}}]}]}",
	  "ERROR 400: messages[0].content[0].source: source type 'zip' ca"
	  "nnot be converted" },
	{ PX_FMT_ANTHROPIC, PX_FMT_CHAT,
	  "{\"model\":\"m\",\"max_tokens\":100,\"messages\":[{\"role\":\""
	  "user\",\"content\":[{\"type\":\"image\"}]}]}",
	  "ERROR 400: messages[0].content[0].source must be an object" },
	/* gemini */
	{ PX_FMT_GEMINI, PX_FMT_ANTHROPIC,
	  "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"q\"}]"
	  "}],\"generationConfig\":{\"temperature\":1e38,\"topK\":40.0,\""
	  "maxOutputTokens\":10}}",
	  "{\"model\":\"u\",\"max_tokens\":10,\"messages\":[{\"role\":\"u"
	  "ser\",\"content\":[{\"type\":\"text\",\"text\":\"q\"}]}],\"tem"
	  "perature\":1e38,\"top_k\":40.0}" },
	{ PX_FMT_GEMINI, PX_FMT_CHAT,
	  "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"q\"}]"
	  "}],\"generationConfig\":{\"maxOutputTokens\":1e999999}}",
	  "ERROR 400: generationConfig.maxOutputTokens must be an integer"
	  " between 1 and 2^53" },
	{ PX_FMT_GEMINI, PX_FMT_CHAT,
	  "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"q\"}]"
	  "}],\"generationConfig\":{\"maxOutputTokens\":\"10\"}}",
	  "ERROR 400: generationConfig.maxOutputTokens must be an integer"
	  " between 1 and 2^53" },
	{ PX_FMT_GEMINI, PX_FMT_CHAT,
	  "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"q\"}]"
	  "}],\"generationConfig\":{\"temperature\":\"1\"}}",
	  "ERROR 400: generationConfig.temperature must be a number" },
	{ PX_FMT_GEMINI, PX_FMT_CHAT,
	  "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"q\"}]"
	  "}],\"generationConfig\":{\"candidateCount\":0}}",
	  "ERROR 400: generationConfig.candidateCount must be an integer "
	  "between 1 and 2^53" },
	{ PX_FMT_GEMINI, PX_FMT_CHAT,
	  "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"q\"}]"
	  "}],\"generationConfig\":{\"stopSequences\":[\"a\",null]}}",
	  "ERROR 400: generationConfig.stopSequences must be an array of "
	  "strings" },
	{ PX_FMT_GEMINI, PX_FMT_CHAT,
	  "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"q\"}]"
	  "}],\"generationConfig\":{\"responseMimeType\":\"text/x.enum\","
	  "\"responseSchema\":{\"type\":\"STRING\",\"enum\":[\"a\"]}}}",
	  "ERROR 400: generationConfig.responseMimeType must be 'text/pla"
	  "in' or 'application/json'" },
	{ PX_FMT_GEMINI, PX_FMT_CHAT,
	  "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"q\"}]"
	  "}],\"generationConfig\":{\"responseSchema\":{\"type\":\"OBJECT"
	  "\"}}}",
	  "ERROR 400: generationConfig.responseSchema needs responseMimeT"
	  "ype 'application/json'" },
	{ PX_FMT_GEMINI, PX_FMT_CHAT,
	  "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"q\"}]"
	  "}],\"generationConfig\":{\"responseMimeType\":\"application/js"
	  "on\",\"responseJsonSchema\":\"{}\"}}",
	  "ERROR 400: generationConfig.responseJsonSchema must be an obje"
	  "ct" },
	{ PX_FMT_GEMINI, PX_FMT_CHAT,
	  "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"q\"}]"
	  "}],\"generationConfig\":{\"thinkingConfig\":{\"thinkingBudget"
	  "\":-2}}}",
	  "ERROR 400: generationConfig.thinkingConfig.thinkingBudget must"
	  " be an integer between -1 and 2^53" },
	{ PX_FMT_GEMINI, PX_FMT_CHAT,
	  "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"q\"}]"
	  "}],\"generationConfig\":{\"thinkingConfig\":{\"thinkingLevel\""
	  ":\"ULTRA\"}}}",
	  "ERROR 400: generationConfig.thinkingConfig.thinkingLevel must "
	  "be 'MINIMAL', 'LOW', 'MEDIUM' or 'HIGH'" },
	{ PX_FMT_GEMINI, PX_FMT_CHAT,
	  "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"q\"}]"
	  "}],\"generationConfig\":{\"thinkingConfig\":{\"includeThoughts"
	  "\":\"yes\"}}}",
	  "ERROR 400: generationConfig.thinkingConfig.includeThoughts mus"
	  "t be a boolean" },
	{ PX_FMT_GEMINI, PX_FMT_CHAT,
	  "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"q\"}]"
	  "}],\"generationConfig\":[]}",
	  "ERROR 400: generationConfig must be an object" },
	{ PX_FMT_GEMINI, PX_FMT_CHAT,
	  "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"q\"}]"
	  "}],\"generation_config\":{\"topP\":true}}",
	  "ERROR 400: generation_config.topP must be a number" },
	{ PX_FMT_GEMINI, PX_FMT_CHAT,
	  "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"q\"}]"
	  "}],\"tools\":{\"functionDeclarations\":[]}}",
	  "ERROR 400: tools must be an array" },
	{ PX_FMT_GEMINI, PX_FMT_CHAT,
	  "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"q\"}]"
	  "}],\"tools\":[{\"functionDeclarations\":{}}]}",
	  "ERROR 400: tools[0].functionDeclarations must be an array" },
	{ PX_FMT_GEMINI, PX_FMT_CHAT,
	  "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"q\"}]"
	  "}],\"tools\":[{\"functionDeclarations\":[{\"name\":\"f\",\"par"
	  "ameters\":\"x\"}]}]}",
	  "ERROR 400: tools[0].functionDeclarations[0].parameters must be"
	  " an object" },
	{ PX_FMT_GEMINI, PX_FMT_CHAT,
	  "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"q\"}]"
	  "}],\"tools\":[{\"functionDeclarations\":[{\"name\":\"f\"}],\"g"
	  "oogleSearch\":{}}]}",
	  "ERROR 400: tools[0]: functionDeclarations cannot be converted "
	  "together with another tool in the same entry" },
	{ PX_FMT_GEMINI, PX_FMT_CHAT,
	  "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"q\"}]"
	  "}],\"tools\":[{\"functionDeclarations\":[{\"name\":\"f\"},{\"n"
	  "ame\":\"g\"},{\"name\":\"h\"}]}],\"toolConfig\":{\"functionCal"
	  "lingConfig\":{\"mode\":\"ANY\",\"allowedFunctionNames\":[\"f\""
	  ",\"g\"]}}}",
	  "ERROR 400: toolConfig.functionCallingConfig.allowedFunctionNam"
	  "es cannot be converted unless it names one function (with mode"
	  " ANY) or all of them" },
	{ PX_FMT_GEMINI, PX_FMT_CHAT,
	  "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"q\"}]"
	  "}],\"tools\":[{\"functionDeclarations\":[{\"name\":\"f\"},{\"n"
	  "ame\":\"g\"}]}],\"toolConfig\":{\"functionCallingConfig\":{\"m"
	  "ode\":\"ANY\",\"allowedFunctionNames\":[\"g\",\"f\"]}}}",
	  "{\"model\":\"u\",\"messages\":[{\"role\":\"user\",\"content\":"
	  "\"q\"}],\"tools\":[{\"type\":\"function\",\"function\":{\"name"
	  "\":\"f\",\"parameters\":{\"type\":\"object\",\"properties\":{}"
	  "}}},{\"type\":\"function\",\"function\":{\"name\":\"g\",\"para"
	  "meters\":{\"type\":\"object\",\"properties\":{}}}}],\"tool_cho"
	  "ice\":\"required\"}" },
	{ PX_FMT_GEMINI, PX_FMT_CHAT,
	  "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"q\"}]"
	  "}],\"toolConfig\":{\"functionCallingConfig\":{\"mode\":\"SOMET"
	  "IMES\"}}}",
	  "ERROR 400: toolConfig.functionCallingConfig.mode must be 'MODE"
	  "_UNSPECIFIED', 'AUTO', 'VALIDATED', 'NONE' or 'ANY'" },
	{ PX_FMT_GEMINI, PX_FMT_CHAT,
	  "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"q\"}]"
	  "}],\"toolConfig\":{\"functionCallingConfig\":{\"mode\":\"ANY\""
	  ",\"allowedFunctionNames\":\"f\"}}}",
	  "ERROR 400: toolConfig.functionCallingConfig.allowedFunctionNam"
	  "es must be an array of strings" },
	{ PX_FMT_GEMINI, PX_FMT_CHAT,
	  "{\"systemInstruction\":{\"parts\":[{\"inlineData\":{\"mimeType"
	  "\":\"image/png\",\"data\":\"AA\"}}]},\"contents\":[{\"role\":"
	  "\"user\",\"parts\":[{\"text\":\"q\"}]}]}",
	  "ERROR 400: systemInstruction.parts[0] must be a text part" },
	{ PX_FMT_GEMINI, PX_FMT_CHAT,
	  "{\"systemInstruction\":[\"x\"],\"contents\":[{\"role\":\"user"
	  "\",\"parts\":[{\"text\":\"q\"}]}]}",
	  "ERROR 400: systemInstruction must be an object with text parts" },
	{ PX_FMT_GEMINI, PX_FMT_CHAT,
	  "{\"contents\":[5]}",
	  "ERROR 400: contents[0] must be an object" },
	{ PX_FMT_GEMINI, PX_FMT_CHAT,
	  "{\"contents\":[{\"role\":7,\"parts\":[]}]}",
	  "ERROR 400: contents[0].role must be a string" },
	{ PX_FMT_GEMINI, PX_FMT_CHAT,
	  "{\"contents\":[{\"role\":\"user\",\"parts\":{\"text\":\"x\"}}]"
	  "}",
	  "ERROR 400: contents[0].parts must be an array" },
	{ PX_FMT_GEMINI, PX_FMT_CHAT,
	  "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":5}]}]}",
	  "ERROR 400: contents[0].parts[0].text must be a string" },
	{ PX_FMT_GEMINI, PX_FMT_CHAT,
	  "{\"contents\":[{\"role\":\"user\",\"parts\":[7]}]}",
	  "ERROR 400: contents[0].parts[0] must be an object" },
	{ PX_FMT_GEMINI, PX_FMT_CHAT,
	  "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"inlineData\":"
	  "\"x\"}]}]}",
	  "ERROR 400: contents[0].parts[0].inlineData must be an object" },
	{ PX_FMT_GEMINI, PX_FMT_CHAT,
	  "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"functionRespon"
	  "se\":\"x\"}]}]}",
	  "ERROR 400: contents[0].parts[0].functionResponse must be an ob"
	  "ject" },
	{ PX_FMT_GEMINI, PX_FMT_CHAT,
	  "{\"contents\":[{\"role\":\"model\",\"parts\":[{\"functionCall"
	  "\":{\"name\":\"f\",\"args\":\"{}\"}}]}]}",
	  "ERROR 400: contents[0].parts[0].functionCall.args must be an o"
	  "bject" },
	{ PX_FMT_GEMINI, PX_FMT_CHAT,
	  "{\"contents\":[{\"role\":\"model\",\"parts\":[{\"text\":\"a\","
	  "\"thought\":\"yes\"}]}]}",
	  "ERROR 400: contents[0].parts[0].thought must be a boolean" },
	{ PX_FMT_GEMINI, PX_FMT_CHAT,
	  "{\"contents\":[{\"role\":\"model\",\"parts\":[{\"text\":\"a\","
	  "\"thoughtSignature\":5}]}]}",
	  "ERROR 400: contents[0].parts[0].thoughtSignature must be a str"
	  "ing" },
};
#define NCASES (sizeof cases / sizeof cases[0])

START_TEST(t_fields)
{
	const struct dcase *c = &cases[_i];
	char *out = conv(c->from, c->to, c->body);

	ck_assert_msg(strcmp(out, c->want) == 0, "%s -> %s\n%s\n-> %s\nwant %s",
	    px_fmt_name(c->from), px_fmt_name(c->to), c->body, out, c->want);
	free(out);
}
END_TEST

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

/* The typed field helpers themselves: return codes and untouched *out. */
START_TEST(t_helpers)
{
	static const char *const names[] = { "a", "b", "c", NULL };
	static const char doc[] = "{\"n\":null,\"i\":3.0,\"s\":\"x\","
	    "\"t\":true,\"e\":\"c\",\"big\":1e400}";
	struct px_arena a;
	struct json *root;
	struct px_err err;
	struct ir_num num;
	struct px_str s = { "keep", 4 };
	long long ll = 7;
	int b = 5, k = 9;

	px_arena_init(&a, 0);
	root = json_parse(&a, doc, strlen(doc), 0, NULL);
	ck_assert_ptr_nonnull(root);
	/* absent and null: 0, *out untouched */
	ck_assert_int_eq(px_dec_int(json_get(root, "zz"), NULL, "zz", 1, 9,
	    &ll, &err), 0);
	ck_assert_int_eq(px_dec_int(json_get(root, "n"), NULL, "n", 1, 9, &ll,
	    &err), 0);
	ck_assert_int_eq(ll, 7);
	ck_assert_int_eq(px_dec_bool(json_get(root, "n"), NULL, "n", &b, &err),
	    0);
	ck_assert_int_eq(px_dec_str(json_get(root, "n"), NULL, "n", &s, &err),
	    0);
	ck_assert(px_str_eq(s, "keep"));
	/* the right type: 1 */
	ck_assert_int_eq(px_dec_int(json_get(root, "i"), NULL, "i", 1, 9, &ll,
	    &err), 1);
	ck_assert_int_eq(ll, 3);
	ck_assert_int_eq(px_dec_str(json_get(root, "s"), "o", "s", &s, &err),
	    1);
	ck_assert(px_str_eq(s, "x"));
	ck_assert_int_eq(px_dec_bool(json_get(root, "t"), NULL, "t", &b, &err),
	    1);
	ck_assert_int_eq(b, 1);
	ck_assert_int_eq(px_dec_enum(json_get(root, "e"), NULL, "e", names, &k,
	    &err), 1);
	ck_assert_int_eq(k, 2);
	/* anything else: -1, a 400 naming "<at>.<key>", *out untouched */
	ck_assert_int_eq(px_dec_int(json_get(root, "i"), "x[1]", "i", 4,
	    PX_INT_MAX, &ll, &err), -1);
	ck_assert_int_eq(err.status, 400);
	ck_assert_str_eq(err.msg, "x[1].i must be an integer between 4 and 2^53");
	ck_assert_int_eq(ll, 3);
	ck_assert_int_eq(px_dec_int(json_get(root, "i"), NULL, "i", -1, 2, &ll,
	    &err), -1);
	ck_assert_str_eq(err.msg, "i must be an integer between -1 and 2");
	ck_assert_int_eq(px_dec_num(json_get(root, "big"), "g", NULL, &num,
	    &err), -1);
	ck_assert_str_eq(err.msg, "g must be a number within the range of a "
	    "double");
	ck_assert_int_eq(px_dec_num(json_get(root, "s"), NULL, "s", &num,
	    &err), -1);
	ck_assert_str_eq(err.msg, "s must be a number");
	ck_assert_int_eq(px_dec_bool(json_get(root, "s"), NULL, "s", &b, &err),
	    -1);
	ck_assert_str_eq(err.msg, "s must be a boolean");
	ck_assert_int_eq(px_dec_str(json_get(root, "t"), NULL, "t", &s, &err),
	    -1);
	ck_assert_str_eq(err.msg, "t must be a string");
	ck_assert_int_eq(px_dec_enum(json_get(root, "s"), NULL, "e", names, &k,
	    &err), -1);
	ck_assert_str_eq(err.msg, "e must be 'a', 'b' or 'c'");
	ck_assert_int_eq(k, 2);
	px_arena_free(&a);
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("decode");
	TCase *tc = tcase_create("fields");

	tcase_add_loop_test(tc, t_fields, 0, NCASES);
	tcase_add_test(tc, t_helpers);
	suite_add_tcase(s, tc);
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
