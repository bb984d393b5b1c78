#!/bin/sh
# man_check.sh BIN [PAGE] - the man page renders cleanly and says what the
# program does:
#   1. mandoc -Tlint (when installed) and groff -man -Tutf8 -ww (when
#      installed; at least one of them must be) report nothing at all;
#   2. ENVIRONMENT has an entry for every variable the sources read
#      (getenv(), config.c's env() and env_provider() calls);
#   3. SYNOPSIS names every command of `BIN --help`, and OPTIONS every
#      option it lists; --help and README.md name every variable of 2.;
#   4. the version in .TH is the one `BIN --version` prints.
set -eu
bin=$1
page=${2:-llmproxy.1}
fail=0
bad() { echo "man check: $*" >&2; fail=1; }

[ -f "$page" ] || { echo "man check: $page is missing" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

linted=""
if command -v mandoc >/dev/null 2>&1; then
	if ! mandoc -Tlint -Wall "$page" > "$tmp/mandoc" 2>&1 || [ -s "$tmp/mandoc" ]; then
		bad "mandoc -Tlint:"; cat "$tmp/mandoc" >&2
	fi
	linted="$linted mandoc"
fi
if command -v groff >/dev/null 2>&1; then
	if ! groff -man -Tutf8 -ww -z "$page" > "$tmp/groff" 2>&1 || [ -s "$tmp/groff" ]; then
		bad "groff -man -Tutf8 -ww:"; cat "$tmp/groff" >&2
	fi
	linted="$linted groff"
fi
[ -n "$linted" ] || bad "neither mandoc nor groff is installed (scripts/deps.sh check)"

# the text of section $1 of the page, with \- as -
section() {
	awk -v s="$1" '/^\.SH /{p = ($0 == ".SH " s); next} p' "$page" | sed 's/\\-/-/g'
}

# 2. environment variables: every statement (up to ';') that calls getenv,
# env or env_provider, and the upper-case names quoted in it
for f in *.c; do
	tr '\n' ' ' < "$f" | tr ';' '\n' |
	    grep -E '(^|[^A-Za-z0-9_])(getenv|env|env_provider)[[:space:]]*\(' |
	    grep -oE '"[A-Z][A-Z0-9_]*"' | tr -d '"' || true
done | sort -u > "$tmp/vars"
[ -s "$tmp/vars" ] || bad "found no getenv() calls in the sources"
section ENVIRONMENT | awk '/^\.TP/{getline; print}' |
    grep -oE '[A-Z][A-Z0-9_]+' | sort -u > "$tmp/documented"
for v in $(cat "$tmp/vars"); do
	grep -qx "$v" "$tmp/documented" || bad "ENVIRONMENT does not describe $v, which the program reads"
done

# 3. commands and options of --help
"$bin" --help > "$tmp/help"
# ... which, like README.md, names every environment variable too
for v in $(cat "$tmp/vars"); do
	grep -qE "^ +$v( |\$)" "$tmp/help" || bad "--help does not list $v, which the program reads"
	[ ! -f README.md ] || grep -q "\`$v\`" README.md ||
	    bad "README.md does not document \`$v\`, which the program reads"
done
section SYNOPSIS > "$tmp/synopsis"
awk '{for (i = 1; i < NF; i++) if ($i == "llmproxy" && $(i+1) ~ /^[a-z]/) print $(i+1)}' \
    "$tmp/help" | sort -u > "$tmp/commands"
[ -s "$tmp/commands" ] || bad "--help names no command"
for c in $(cat "$tmp/commands"); do
	grep -q "^\.SY \"llmproxy $c" "$tmp/synopsis" || bad "SYNOPSIS lacks the command $c"
done
grep -oE '^ {1,4}-[-a-z]+' "$tmp/help" | tr -d ' ' | sort -u > "$tmp/options"
[ -s "$tmp/options" ] || bad "--help lists no option"
section OPTIONS | awk '/^\.TP/{getline; print}' > "$tmp/optdoc"
for o in $(cat "$tmp/options"); do
	grep -qE "^\.B[IR]? $o( |\$|\")" "$tmp/optdoc" ||
	    grep -qE "^\.BR [^ ]+ \", \" $o( |\$)" "$tmp/optdoc" ||
	    bad "OPTIONS does not describe $o"
done
for o in --help --version; do
	grep -q -- "$o" "$tmp/optdoc" || bad "OPTIONS does not describe $o"
done

# 4. version
v=$("$bin" --version)
grep -q "^\.TH LLMPROXY 1 [0-9-]* \"$v\"" "$page" || bad ".TH does not say \"$v\""

[ "$fail" = 0 ] || exit 1
echo "man check: $page clean under$linted; $(wc -l < "$tmp/vars") environment variables, $(wc -l < "$tmp/commands") commands, $(wc -l < "$tmp/options") options documented"
