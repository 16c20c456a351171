#!/usr/bin/env bash
# install-deps.sh — installs every Debian 12 package that runnel's build, tests, fuzzers and
# benchmarks need. Idempotent: packages already present are not touched, and apt is not called
# at all when nothing is missing. Works as root, or through sudo for an ordinary user.
set -euo pipefail

# Build and link dependencies (found by meson through pkg-config).
pkgs=(
  build-essential meson ninja-build pkg-config
  librdkafka-dev librocksdb-dev
  libprotobuf-c-dev protobuf-c-compiler
  libevent-dev libyaml-dev
  check libsubunit-dev
  # fuzzers (libFuzzer ships in clang's runtime) and the sanitizer build
  clang libclang-rt-14-dev
  # measuring: figures in tests/bench/ come from these
  hyperfine valgrind
)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo)
else
  echo "install-deps.sh: missing packages (${missing[*]}) and neither root nor sudo" >&2
  exit 1
fi

echo "install-deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
