# Sourced by the benchmark scripts that write the real crontab: puts the user's crontab
# back as it was. The script sets `work` (a scratch folder), saves the crontab to
# "$work/crontab.orig", and sets crontab_touched=true (and had_crontab=true when there
# was one) before its first write; `restore_crontab` in its exit trap does the rest.
crontab_touched=false
had_crontab=false

restore_crontab() {
    $crontab_touched || return 0
    if $had_crontab; then
        if crontab "$work/crontab.orig"; then
            echo "restored the saved crontab" >&2
        else
            echo "error: could not restore the crontab; the saved copy is $work/crontab.orig (kept)" >&2
            return 1
        fi
    else
        crontab -r 2>/dev/null || true
        echo "removed the benchmark's crontab (there was none before)" >&2
    fi
}
