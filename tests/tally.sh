# tally.sh: sourced by tests/run.sh and tests/ecosystem/run.sh.
#
# tally NAME LOG RC: adds the last "N passed, N failed[, N skipped]" line of
# LOG to $passed, $failed and $skipped. NAME joins $broken (separated by
# $TALLY_SEP, default a space) when the suite reported failures, printed no
# summary line, or exited with RC != 0 after a clean summary (a crash at
# exit, or LeakSanitizer's report); the last two count as one failure.
tally() {
    t_line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$2" | tail -n 1)
    if [ -z "$t_line" ]; then
        echo "=== $1: exit $3, no summary line (crashed?)"
        failed=$((failed + 1))
        broken="$broken${TALLY_SEP:- }$1"
        return
    fi
    t_p=$(echo "$t_line" | sed -E 's/^([0-9]+) passed.*/\1/')
    t_f=$(echo "$t_line" | sed -E 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/')
    t_s=$(echo "$t_line" | sed -nE 's/.*, ([0-9]+) skipped.*/\1/p')
    passed=$((passed + t_p))
    failed=$((failed + t_f))
    skipped=$((skipped + ${t_s:-0}))
    if [ "$t_f" = 0 ] && [ "$3" != 0 ]; then
        echo "=== $1: exit $3 after '$t_line'"
        failed=$((failed + 1))
    fi
    [ "$t_f" = 0 ] && [ "$3" = 0 ] || broken="$broken${TALLY_SEP:- }$1"
}
