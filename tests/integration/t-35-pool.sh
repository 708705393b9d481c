# The LDAP pool over the real locator: DC1 stops under an open pool, the next
# searches succeed on DC2 (src/dir/pool.c, src/dir/locator.c).
export ADB_TEST_STOP_DC1="'$ADB_TOP_SRCDIR/samba-testenv/testenv' stop-dc dc1 >/dev/null"
export ADB_TEST_START_DC1="'$ADB_TOP_SRCDIR/samba-testenv/testenv' start-dc dc1 >/dev/null"
run_tap "$ADB_TOP_BUILDDIR/tests/integration/test_pool"
# Whatever happened above, DC1 must be running for the tests that follow.
"$ADB_TOP_SRCDIR/samba-testenv/testenv" start-dc dc1 >/dev/null 2>&1
