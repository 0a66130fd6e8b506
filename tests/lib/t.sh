# Shell test helpers for nestvm's CLI and rig tests. POSIX sh: bash on the
# build machine, busybox ash inside the emulated host.
#
#   t_case NAME RC PATTERN... -- CMD...
#     runs CMD (stdin /dev/null, bounded by $T_TIMEOUT seconds), output to
#     $T_LOG_DIR/NAME.log; passes when its exit status is RC and the output
#     matches every PATTERN (grep -E). A PATTERN starting with '!' must NOT
#     match. Prints "TEST-RESULT PASS NAME" or "TEST-RESULT FAIL NAME: why"
#     with the end of the log. With T_STRIP_CR=1, carriage returns are
#     removed from the log before matching (output that came through
#     serial consoles ends its lines with \r\n, \r\r\n, ...).
#   t_summary: "N passed, N failed"; status 0 when nothing failed.
T_PASS=0
T_FAIL=0
T_LOG_DIR=${T_LOG_DIR:-/tmp/nestvm-tests}
T_TIMEOUT=${T_TIMEOUT:-300}
T_STRIP_CR=${T_STRIP_CR:-0}
mkdir -p "$T_LOG_DIR"

t_pass() {
	T_PASS=$((T_PASS + 1))
	echo "TEST-RESULT PASS $1"
}

t_fail() {
	T_FAIL=$((T_FAIL + 1))
	echo "TEST-RESULT FAIL $1: $2"
	[ -f "$3" ] && tail -n 40 "$3" | sed 's/^/    | /'
	return 0
}

t_case() {
	_name=$1 _want=$2
	shift 2
	_pats=''
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		_pats="$_pats$1
"
		shift
	done
	[ "${1:-}" = -- ] && shift
	_log="$T_LOG_DIR/$_name.log"
	timeout "$T_TIMEOUT" "$@" </dev/null >"$_log" 2>&1
	_rc=$?
	if [ "$T_STRIP_CR" = 1 ]; then
		tr -d '\r' <"$_log" >"$_log.tmp" && mv -f "$_log.tmp" "$_log"
	fi
	if [ "$_rc" -ne "$_want" ]; then
		t_fail "$_name" "exit status $_rc, expected $_want" "$_log"
		return 0
	fi
	_why=''
	_ifs=$IFS
	IFS='
'
	for _p in $_pats; do
		case $_p in
		!*) grep -Eq -- "${_p#!}" "$_log" && _why="output matches /${_p#!}/" ;;
		*) grep -Eq -- "$_p" "$_log" || _why="output lacks /$_p/" ;;
		esac
		[ -n "$_why" ] && break
	done
	IFS=$_ifs
	if [ -n "$_why" ]; then
		t_fail "$_name" "$_why" "$_log"
	else
		t_pass "$_name"
	fi
}

t_summary() {
	echo "$T_PASS passed, $T_FAIL failed"
	[ "$T_FAIL" -eq 0 ]
}
