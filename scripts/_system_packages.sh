# Sourced by scripts/test: Debian packages the tests use. Chromium renders the HTML trace report
# in a test; libseccomp backs the isolated REPL's filter (usually already present).
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
{ /sbin/ldconfig -p 2>/dev/null || ldconfig -p 2>/dev/null; } | grep -q libseccomp.so.2 \
  || need+=(libseccomp2)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> apt-get install ${need[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; } \
      || echo "==> warning: could not install ${need[*]}; the tests that use them will skip" >&2
  else
    echo "==> note: ${need[*]} missing (needs root + apt); the tests that use them will skip" >&2
  fi
fi
