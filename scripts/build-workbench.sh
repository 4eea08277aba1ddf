#!/usr/bin/env bash
# Build the workbench served by `unclaimed serve` at / from web/src into
# evaluator/apps/serve/static/ (workbench.js, workbench.css; index.html is written by hand).
# The bundle is committed, so users and CI need no npm; rerun this after changing web/.
# `npm ci` installs exactly web/package-lock.json; esbuild bundles CodeMirror 6 and our
# sources into one file that fetches nothing. The sample facts (examples/members.json)
# are embedded as text. Needs node and npm (the npm registry, unless web/node_modules is
# already installed). Exit status 0 when the bundle was written.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WEB="$ROOT/web"
OUT="${WORKBENCH_OUT:-$ROOT/evaluator/apps/serve/static}"

command -v npm >/dev/null 2>&1 || { echo "build-workbench: npm not found" >&2; exit 1; }
cd "$WEB"
npm ci --no-audit --no-fund --loglevel=error
ESBUILD="$WEB/node_modules/.bin/esbuild"
mkdir -p "$OUT"
"$ESBUILD" src/main.js --bundle --minify --format=iife --target=es2020 \
    --loader:.json=text --legal-comments=none --charset=utf8 \
    --outfile="$OUT/workbench.js" --log-level=warning
"$ESBUILD" src/workbench.css --bundle --minify --outfile="$OUT/workbench.css" --log-level=warning
# The bundled packages' licences travel with the bundle.
{
    echo "Third-party software bundled in workbench.js (from web/package-lock.json):"
    for dir in node_modules/codemirror node_modules/@codemirror/* node_modules/@lezer/* node_modules/@marijn/* \
               node_modules/style-mod node_modules/w3c-keyname node_modules/crelt; do
        [ -f "$dir/package.json" ] || continue
        lic=$(ls "$dir"/LICENSE* 2>/dev/null | head -1 || true)
        printf '\n== %s %s ==\n' "${dir#node_modules/}" "$(node -p "require('./$dir/package.json').version")"
        if [ -n "$lic" ]; then cat "$lic"; else echo "(no licence file in the package)"; fi
    done
} >"$OUT/workbench.LICENSES.txt"
echo "build-workbench: wrote $OUT/workbench.js ($(wc -c <"$OUT/workbench.js") bytes) and workbench.css"
