#!/bin/sh
# Compile and run the C example under "Embedding the conversion core" in
# README.md against the conversion core alone, and check that it prints what
# the README says it prints. Usage: readme_example.sh OUTDIR CC CFLAGS...
set -eu
out=$1; cc=$2; shift 2
sect='/^## Embedding the conversion core/'
awk "$sect"'{s=1} s&&/^```c$/{p=1;next} p&&/^```$/{exit} p' README.md > "$out/readme_example.c"
awk "$sect"'{s=1} s&&/^It prints:/{t=1} t&&/^```/{if(p)exit; p=1;next} p' README.md > "$out/readme_example.expected"
n=$(wc -l < "$out/readme_example.c")
[ "$n" -gt 0 ] || { echo "readme example: no C block found" >&2; exit 1; }
[ -s "$out/readme_example.expected" ] || { echo "readme example: no 'It prints:' block" >&2; exit 1; }
$cc "$@" -I. -o "$out/readme_example" "$out/readme_example.c" \
    json.c sse.c convert.c convert_chat.c convert_responses.c convert_anthropic.c convert_gemini.c \
    convert_cli.c
"$out/readme_example" > "$out/readme_example.out"
if ! cmp -s "$out/readme_example.expected" "$out/readme_example.out"; then
	echo "readme example: output differs from README" >&2
	diff "$out/readme_example.expected" "$out/readme_example.out" >&2 || true
	exit 1
fi
echo "readme example: $n lines, compiles with only the conversion core, output matches README"
