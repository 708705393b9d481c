# The dispatcher (src/proto: decode, run, encode) against the testenv's DCs:
# every operation through adb_dispatch as the daemon's workers call it
# (test_dispatch), then every reply it received validated against
# schemas/reply.schema.json by python3-jsonschema in one run.
rm -rf "$ADB_TEST_TMP/dispatch-replies"
run_tap "$ADB_TOP_BUILDDIR/tests/integration/test_dispatch"
n_replies=$(ls "$ADB_TEST_TMP"/dispatch-replies/*.json 2>/dev/null | wc -l)
check_eq "test_dispatch saved its replies" yes "$([ "$n_replies" -ge 30 ] && echo yes || echo "no ($n_replies)")"
check "all $n_replies dispatch replies are valid by schemas/reply.schema.json" \
    env ADB_TOP_SRCDIR="$ADB_TOP_SRCDIR" /usr/bin/python3 "$ADB_TOP_SRCDIR/tests/conformance/validate.py" \
    --expect-valid reply "$ADB_TEST_TMP"/dispatch-replies/*.json
