#!/bin/sh
# tests/fake_claude.sh - a stand-in for `claude -p --input-format
# stream-json --output-format stream-json --verbose` in the integration
# tests (tests/it_exec.c): it reads the conversation on its standard input
# and answers with a recorded output (tests/fixtures/claude_cli_stream_*.jsonl),
# or misbehaves, as its one argument (the upstream model) says:
#
#   NAME          replay claude_cli_stream_NAME.jsonl at once (exit 0)
#   slow-NAME     the same, one line every 50 ms
#   noisy-NAME    a banner and a warning (not JSON) first, then NAME
#   stall-NAME    NAME without its last line (the result), then wait
#   flood         20000 text deltas of 64 bytes each (1280000 bytes of
#                 text) as fast as the pipe takes them, then the result
#   early         the init line, a line on stderr, then exit 3
#   garbage       lines that are not JSON, binary bytes, then exit 0
#   hang          the init line, then wait (a child of its own too)
#   hang-silent   wait without writing anything
#   fail-stderr   a lot of standard error, then exit 1
#
# A suffix ".anything" is ignored (a model of its own for the proxy's
# cooldowns: "early.1"). With FAKE_DIR set, it leaves there stdin.MODEL
# (what it read), pid.MODEL (its process id) and child.MODEL (its child's,
# hang modes), MODEL the whole argument. POSIX sh only.

here=$(dirname "$0")
key=${1:-text}
mode=${key%.*}
dir=${FAKE_DIR:-}

if [ -n "$dir" ]; then
	echo $$ > "$dir/pid.$key.tmp" && mv "$dir/pid.$key.tmp" "$dir/pid.$key"
	cat > "$dir/stdin.$key"
else
	cat > /dev/null
fi

init='{"type":"system","subtype":"init","cwd":"/tmp","session_id":"fake-session","tools":[],"model":"fake","permissionMode":"default","apiKeySource":"none","output_style":"default","uuid":"00000000-0000-0000-0000-000000000000"}'

replay() {
	f="$here/fixtures/claude_cli_stream_$1.jsonl"
	if [ ! -f "$f" ]; then
		echo "fake_claude: no fixture $1" >&2
		exit 2
	fi
	if [ -n "$2" ]; then
		while IFS= read -r line; do
			printf '%s\n' "$line"
			sleep "$2"
		done < "$f"
	else
		cat "$f"
	fi
}

wait_here() {
	sleep 600 &
	[ -n "$dir" ] && echo $! > "$dir/child.$key"
	wait
}

case $mode in
slow-*)
	replay "${mode#slow-}" 0.05
	;;
flood)
	f="$here/fixtures/claude_cli_stream_text_partial.jsonl"
	sed -n '3,4p' "$f"
	d='{"type":"stream_event","event":{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}}}'
	i=0
	while [ $i -lt 20000 ]; do
		printf '%s\n' "$d"
		i=$((i + 1))
	done
	sed -n '9,$p' "$f"
	;;
stall-*)
	f="$here/fixtures/claude_cli_stream_${mode#stall-}.jsonl"
	n=$(wc -l < "$f")
	head -n $((n - 1)) "$f"
	wait_here
	;;
noisy-*)
	echo "Fake Claude v0 (not JSON)"
	echo "warning: this line is not JSON either"
	replay "${mode#noisy-}"
	;;
early)
	printf '%s\n' "$init"
	echo "fake_claude: giving up early" >&2
	exit 3
	;;
garbage)
	echo "this is not stream-json"
	printf '\001\002\377\376 binary\n'
	echo '[1, 2, 3]'
	echo '{"type":'
	exit 0
	;;
hang)
	printf '%s\n' "$init"
	wait_here
	;;
hang-silent)
	wait_here
	;;
fail-stderr)
	i=0
	while [ $i -lt 2000 ]; do
		echo "fake_claude: stderr line $i of a command that fails" >&2
		i=$((i + 1))
	done
	exit 1
	;;
*)
	replay "$mode"
	;;
esac
exit 0
