#!/usr/bin/env bash
# The whole test suite: installs what the tests need where it can, then type-checks,
# checks stack/ purity and runs every uvu test. Ends with "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."

{ [ -d node_modules/uvu ] && [ -f build/Release/ferry_tun.node ]; } || npm install --no-audit --no-fund

# Debian packages the real-peer tests need: installed when root, otherwise named.
need_pkgs=()
command -v tshark >/dev/null || need_pkgs+=(tshark)
[ -x /usr/lib/usrsctp/echo_server ] || need_pkgs+=(libusrsctp-examples)
command -v ip >/dev/null || need_pkgs+=(iproute2)
command -v ping >/dev/null || need_pkgs+=(iputils-ping)
command -v curl >/dev/null || need_pkgs+=(curl)
[ -x /usr/bin/etcd ] || need_pkgs+=(etcd-server)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "test: installing ${need_pkgs[*]}"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}") >/tmp/ferry-apt.log 2>&1 \
      || { echo "test: apt-get install ${need_pkgs[*]} failed; see /tmp/ferry-apt.log"; exit 1; }
  else
    echo "test: missing ${need_pkgs[*]}; install them (apt-get install ${need_pkgs[*]}) and run again as root"
  fi
fi

echo "== typecheck"
npx tsc -p . --noEmit || exit 1
npx tsc -p stack --noEmit || exit 1
echo "== purity"
node --import tsx tools/check-purity.ts || exit 1
echo "== tests"
out=$(mktemp)
node --import tsx node_modules/uvu/bin.js test '\.test\.ts$' "$@" 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
plain=$(sed 's/\x1b\[[0-9;]*m//g' "$out")
total=$(grep -E '^\s*Total:' <<<"$plain" | tail -1 | grep -oE '[0-9]+' | head -1)
passed=$(grep -E '^\s*Passed:' <<<"$plain" | tail -1 | grep -oE '[0-9]+' | head -1)
total=${total:-0}; passed=${passed:-0}
rm -f "$out"
echo "$passed passed, $((total - passed)) failed"
[ "$rc" = 0 ] && [ "$total" -gt 0 ] || exit 1
