#!/usr/bin/env bash
# `npm run setup`: everything a fresh machine needs before `npm test`.
#   1. start the local test servers that are down (scripts/servers.sh; FerretDB is
#      built with Go the first time, ~2 minutes),
#   2. npm ci (better-sqlite3 compiles from source where no prebuilt binary is reachable, ~3 minutes),
#   3. build every package,
#   4. show mtstore at work: import a Telethon session file (a test fixture written by
#      Telethon itself, synthetic key) into an SQLite file and inspect it.
# A server that cannot start is reported; its tests skip locally and fail under CI=true.
set -uo pipefail
cd "$(dirname "$0")/.."

# node-gyp (better-sqlite3) needs Node's headers; Debian's nodejs keeps them under /usr/include/node.
if [ -z "${npm_config_nodedir:-}" ] && [ -d /usr/include/node ]; then export npm_config_nodedir=/usr; fi
export PATH="$PATH:/usr/local/go/bin"

echo "== servers"
bash scripts/servers.sh || echo "some servers did not start: their tests skip locally and fail with CI=true"

echo "== npm ci"
npm ci --no-audit --no-fund || exit 1

echo "== build"
npm run build || exit 1

echo "== mtstore: import a Telethon session file into an SQLite file, then inspect it"
mkdir -p .demo && rm -f .demo/demo.session*
node packages/cli/dist/bin.js import packages/convert/test/fixtures/telethon/telethon.session .demo/demo.session --name demo || exit 1
node packages/cli/dist/bin.js inspect .demo/demo.session || exit 1
