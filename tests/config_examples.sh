#!/bin/sh
# config_examples.sh BIN - the shipped example config and every complete
# config in README.md pass `BIN check-config` as they are, so neither can rot.
#
# README configs are the ```json blocks whose first line is "{" and that
# have "providers" (fragments such as a lone "prices" object are not
# configs). Each file runs in an environment holding only PATH and the
# variables it names as "env:NAME", each set to a distinct dummy value
# ("example-NAME": two keys of one pool must differ); the values are never
# used, as check-config contacts no upstream. "env:" references in
# whole-line // comments are not counted. llmproxy.example.json is also
# checked without those variables: it must fail, naming every one of them
# (its providers take their secrets from the environment, never from the
# file).
set -eu
bin=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

# the variables FILE names as "env:NAME" (outside whole-line // comments)
envvars() {
	sed 's|^[[:space:]]*//.*||' "$1" | grep -oE '"env:[A-Za-z_][A-Za-z0-9_]*"' |
	    tr -d '"' | cut -c5- | sort -u
}

# check FILE LABEL: check-config with the file's env: variables set
check() {
	vars=$(envvars "$1")
	envs=""
	for v in $vars; do
		envs="$envs $v=example-$v"
	done
	# shellcheck disable=SC2086
	if env -i PATH="$PATH" $envs "$bin" check-config -c "$1" > "$tmp/out" 2>&1 &&
	    grep -q '^config OK$' "$tmp/out"; then
		echo "config check: $2: OK ($(echo $vars | wc -w) variables: $(echo $vars))"
	else
		echo "config check: $2 fails check-config:" >&2
		cat "$tmp/out" >&2
		fail=1
	fi
}

check llmproxy.example.json llmproxy.example.json

# the example without its variables: one error per variable, each named
vars=$(envvars llmproxy.example.json)
[ -n "$vars" ] || { echo "config check: llmproxy.example.json names no env: variable" >&2; fail=1; }
if env -i PATH="$PATH" "$bin" check-config -c llmproxy.example.json > "$tmp/out" 2>&1; then
	echo "config check: llmproxy.example.json passes without its variables" >&2
	fail=1
fi
for v in $vars; do
	grep -q "environment variable $v is not set" "$tmp/out" ||
	    { echo "config check: no error names the unset $v:" >&2; cat "$tmp/out" >&2; fail=1; }
done

# README.md: each complete config block into its own file
awk -v dir="$tmp" '
	/^```json$/ { inb = 1; n = 0; next }
	inb && /^```$/ {
		inb = 0
		if (first == "{" && body ~ /"providers"/) {
			k++
			f = dir "/readme" k ".json"
			printf "%s", body > f
			close(f)
			print k ": README.md line " start
		}
		body = ""; next
	}
	inb {
		if (n++ == 0) { first = $0; start = NR }
		body = body $0 "\n"
	}' README.md > "$tmp/blocks"
[ -s "$tmp/blocks" ] || { echo "config check: README.md has no complete config block" >&2; fail=1; }
while IFS= read -r line; do
	k=${line%%:*}
	check "$tmp/readme$k.json" "${line#*: }"
done < "$tmp/blocks"
exit $fail
