#!/usr/bin/env bash
# Review a change: `emosteer review` writes review/review.md and review/figures/ from the committed
# metrics and plot data; on a pull request the review is posted as a comment. What
# .github/workflows/review.yml runs after `dvc repro`; runs the same by hand.
#
#   scripts/review.sh [BASE]    BASE: git revision or DVC experiment (default: merge base with main)
#
# Environment, all optional:
#   PR_NUMBER     post the review to this pull request with the gh CLI (needs GH_TOKEN), editing
#                 this token's last comment there, so a re-run updates one comment
#   FIGURES_URL   where the figures can be seen: a comment cannot embed local images, so the
#                 comment (review/comment.md) lists the changed figures and links here
#   REVIEW_OUT    output folder (default: review)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${REVIEW_OUT:-review}
args=(review --out "$out")
if [ $# -ge 1 ]; then args+=(--base "$1"); fi
if [ -n "${FIGURES_URL:-}" ]; then args+=(--figures-link "$FIGURES_URL"); fi
if command -v emosteer >/dev/null; then emosteer "${args[@]}"; else .venv/bin/emosteer "${args[@]}"; fi

if [ -n "${PR_NUMBER:-}" ]; then
    body="$out/comment.md"
    [ -f "$body" ] || body="$out/review.md"
    limit=65000  # GitHub refuses a comment longer than 65,536 characters
    if [ "$(wc -c <"$body")" -gt "$limit" ]; then
        { head -c "$limit" "$body"; printf '\n\n(cut at %s bytes: the whole review.md is in the run'"'"'s artifact)\n' "$limit"; } \
            >"$out/comment.cut.md"
        body="$out/comment.cut.md"
    fi
    gh pr comment "$PR_NUMBER" --edit-last --body-file "$body" 2>/dev/null \
        || gh pr comment "$PR_NUMBER" --body-file "$body"
    echo "review.sh: posted $body to pull request $PR_NUMBER"
fi
