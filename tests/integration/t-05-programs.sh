# The programs start, answer --version/--help, and read the testenv's
# configuration through $ADBRIDGE_CONFIG.
check_match "adbridge --version" '^adbridge [0-9]+\.[0-9]+\.[0-9]+' adbridge --version
check_match "adbridged --version" '^adbridged [0-9]+\.[0-9]+\.[0-9]+' adbridged --version
check_match "adbridge --help lists commands" 'Commands:' adbridge --help
check_match "adbridged --help" 'Usage: adbridged' adbridged --help
check_match "adbridge config reads \$ADBRIDGE_CONFIG" 'adb\.test +enabled' adbridge config
check_match "adbridged --check-config accepts the testenv configuration" 'is valid' adbridged --check-config
check_fail "unknown command is an error" "unknown command 'frobnicate'" adbridge frobnicate
check_fail "missing configuration names the file and the fix" 'cannot open configuration /nonexistent.json.*ADBRIDGE_CONFIG' \
    adbridge --config /nonexistent.json config
