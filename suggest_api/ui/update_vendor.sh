#!/usr/bin/env bash
# Rebuilds static/vendor/ from the npm package pinned in package.json + package-lock.json.
# The vendored files are committed: installing or running the service never needs Node.
# Usage: bash suggest_api/ui/update_vendor.sh   (needs node and npm; reaches the npm registry)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp "$here/package.json" "$here/package-lock.json" "$work/"
(cd "$work" && npm ci --no-audit --no-fund --ignore-scripts)
vendor="$here/static/vendor"
mkdir -p "$vendor"
pkg="$work/node_modules/echarts"
cp "$pkg/dist/echarts.min.js" "$vendor/echarts.min.js"
cp "$pkg/LICENSE" "$vendor/echarts.LICENSE"
cp "$pkg/NOTICE" "$vendor/echarts.NOTICE"
cp "$pkg/licenses/LICENSE-d3" "$vendor/echarts.LICENSE-d3"
# echarts.min.js bundles zrender (BSD-3-Clause) and tslib (0BSD): their licences travel with it.
cp "$work/node_modules/zrender/LICENSE" "$vendor/zrender.LICENSE"
cp "$work/node_modules/tslib/LICENSE.txt" "$vendor/tslib.LICENSE"
version="$(node -p "require('$pkg/package.json').version")"
echo "vendored echarts $version into $vendor"
