#!/bin/bash
# Runs every suite (unit: cmocka binaries; e2e: pytest in network namespaces)
# and ends with one line: "N passed, N failed". Exit status 1 if any failed,
# or if a suite ran no test at all.
#   KX_E2E      the pytest selection (default: tests/e2e, everything)
#   KX_RESULTS  where the JUnit XML goes (default: the build directory; the
#               VM suite points it at a tmpfs, its build is read-only)
set -u
build=${1:-build}
e2e=${KX_E2E:-tests/e2e}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
passed=0
failed=0

for t in "$build"/tests/test_*; do
	[ -x "$t" ] || continue
	echo "== unit: $(basename "$t")"
	out=$("$t" 2>&1)
	rc=$?
	echo "$out"
	p=$(sed -n 's/^.*\[  PASSED  \] \([0-9]*\) test.*/\1/p' <<<"$out" | tail -1)
	f=$(sed -n 's/^.*\[  FAILED  \] \([0-9]*\) test.*/\1/p' <<<"$out" | tail -1)
	p=${p:-0}
	f=${f:-0}
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "!! $(basename "$t") exited $rc without a cmocka summary (setup failed?)"
		f=1
	fi
	if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
		echo "!! $(basename "$t") ran no test"
		f=1
	fi
	passed=$((passed + p))
	failed=$((failed + f))
done

echo "== e2e: pytest $e2e"
xml="${KX_RESULTS:-$build}/e2e-junit.xml"
rm -f "$xml"
# shellcheck disable=SC2086 # the selection is words: files and -k expressions
KXDP_BUILD="$top/$build" PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3 -m pytest \
	-p no:cacheprovider -v --junitxml="$xml" $e2e
rc=$?
if [ "$rc" -eq 5 ] || [ ! -f "$xml" ]; then
	echo "!! pytest collected no test (exit $rc)"
	failed=$((failed + 1))
else
	read -r t f e s < <(/usr/bin/python3 - "$xml" <<'PY'
import sys, xml.etree.ElementTree as ET
r = ET.parse(sys.argv[1]).getroot()
s = r if r.tag == "testsuite" else r.find("testsuite")
print(s.get("tests"), s.get("failures"), s.get("errors"), s.get("skipped"))
PY
)
	passed=$((passed + t - f - e - s))
	failed=$((failed + f + e))
	if [ "$rc" -ne 0 ] && [ $((f + e)) -eq 0 ]; then
		echo "!! pytest exited $rc"
		failed=$((failed + 1))
	fi
fi

# The same suites on Debian 12's 6.1 kernel, in a VM (not from inside one).
if [ -z "${KX_IN_VM:-}" ] && [ "${KX_VMCHECK:-1}" = 1 ]; then
	echo "== vm: unit + e2e subset on the 6.1 kernel (tests/vm/check.sh)"
	# (not tee /dev/stderr: reopening a log file through it truncates the log)
	vmlog=$(mktemp /tmp/kxvm-suite-XXXXXX.log)
	tests/vm/check.sh "$build" 2>&1 | tee "$vmlog"
	read -r vp vf < <(sed -n 's/^vm: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$vmlog")
	rm -f "$vmlog"
	passed=$((passed + ${vp:-0}))
	failed=$((failed + ${vf:-1}))
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
