#!/usr/bin/env sh
# Add ordertrack's lines (crontab.example) to your crontab, or replace them if already there.
# Idempotent: everything between the '>>> ordertrack >>>' and '<<< ordertrack <<<' markers is
# ordertrack's; the rest of your crontab is left as it is.
#   scripts/install_cron.sh [path/to/crontab.example]
set -eu
example=${1:-"$(dirname "$0")/../crontab.example"}
[ -f "$example" ] || { echo "install_cron: $example not found" >&2; exit 2; }
current=$(crontab -l 2>/dev/null || true)
others=$(printf '%s\n' "$current" | sed '/^# >>> ordertrack >>>$/,/^# <<< ordertrack <<<$/d')
{
    [ -n "$others" ] && printf '%s\n' "$others"
    cat "$example"
} | crontab -
echo "install_cron: ordertrack lines installed; check them with 'crontab -l'"
