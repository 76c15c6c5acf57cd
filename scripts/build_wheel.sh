#!/usr/bin/env bash
# Build a manylinux_2_28 wheel of zenkai_np for the running Python into
# wheelhouse/ and print `auditwheel show` for it.
#
#   scripts/build_wheel.sh [SOURCE]            # build + repair (+ check);
#                                              # SOURCE: the tree (default)
#                                              # or an sdist (.tar.gz)
#   scripts/build_wheel.sh --repair WHEEL DIR  # repair only (cibuildwheel's
#                                              # repair-wheel-command)
#
# Steps: (1) `pip wheel .` with SOURCE_DATE_EPOCH set (the last commit's
# time), so the archive is reproducible; (2) `auditwheel repair` (>= 6.5.1,
# which knows libmvec) grafts ONE copy of the OpenMP runtime (libgomp) into
# zenkai_np.libs/, shared by every compiled module; (3) the notice for that
# runtime (scripts/wheel_notices/LICENSE-libgomp.txt, GCC Runtime Library
# Exception) is added to the wheel's .dist-info/licenses; (4) every shared
# object in the wheel is checked with objdump: GLIBC <= 2.28, GLIBCXX <= 3.4.25,
# CXXABI <= 1.3.11 (what glibc 2.28 and GCC 8's libstdc++ provide).
#
# Which libgomp is grafted: the system's if it needs GLIBC <= 2.28 (as in the
# manylinux_2_28 images); otherwise (e.g. Debian 12's needs GLIBC_2.34) the one
# scikit-learn ships in its manylinux_2_28 wheel: from ZENKAI_NP_LIBGOMP=<file>
# if set, else from an installed scikit-learn (scikit_learn.libs/), else from
#   pip download scikit-learn --no-deps --only-binary :all: \
#       --platform manylinux_2_28_$(uname -m)
# It is copied as libgomp.so.1 into a temporary directory on LD_LIBRARY_PATH,
# where auditwheel finds it. Environment: PYTHON (default python3).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-python3}"
arch="$(uname -m)"
plat="manylinux_2_28_${arch}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

max_glibc="2.28"; max_glibcxx="3.4.25"; max_cxxabi="1.3.11"

# Highest version of symbol prefix $2 (e.g. GLIBC) that ELF file $1 needs.
highest() {
  { objdump -T "$1" | grep -oE "\(${2}_[0-9.]+\)" || true; } | tr -d '()' | sed "s/^${2}_//" | sort -V | tail -1
}
version_le() { [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -1)" = "$1" ]; }

# A directory holding a libgomp.so.1 that needs GLIBC <= 2.28.
openmp_dir() {
  local sys lib=""
  sys="$(ldconfig -p 2>/dev/null | awk '/libgomp\.so\.1 / {print $NF; exit}')"
  if [ -z "${ZENKAI_NP_LIBGOMP:-}" ] && [ -n "$sys" ] && version_le "$(highest "$sys" GLIBC)" "$max_glibc"; then
    dirname "$sys"; return
  fi
  if [ -n "${ZENKAI_NP_LIBGOMP:-}" ]; then
    lib="$ZENKAI_NP_LIBGOMP"
  else
    lib="$("$python" - <<'EOF' 2>/dev/null || true
import glob, importlib.util, os
spec = importlib.util.find_spec("sklearn")
if spec and spec.origin:
    site = os.path.dirname(os.path.dirname(spec.origin))
    hits = sorted(glob.glob(os.path.join(site, "scikit_learn.libs", "libgomp*.so*")))
    print(hits[0] if hits else "")
EOF
)"
    if [ -z "$lib" ] || ! version_le "$(highest "$lib" GLIBC)" "$max_glibc"; then
      echo "== fetching libgomp from scikit-learn's $plat wheel" >&2
      "$python" -m pip download --quiet scikit-learn --no-deps --only-binary :all: \
        --platform "$plat" --python-version 3.12 -d "$tmp/skl" >&2
      (cd "$tmp/skl" && "$python" -m zipfile -e scikit_learn-*.whl x >&2)
      lib="$(ls "$tmp"/skl/x/scikit_learn.libs/libgomp*.so* | head -1)"
    fi
  fi
  if ! version_le "$(highest "$lib" GLIBC)" "$max_glibc"; then
    echo "error: $lib needs GLIBC_$(highest "$lib" GLIBC) > $max_glibc" >&2; exit 1
  fi
  mkdir -p "$tmp/openmp"
  cp "$lib" "$tmp/openmp/libgomp.so.1"
  patchelf --set-soname libgomp.so.1 "$tmp/openmp/libgomp.so.1"
  echo "== OpenMP runtime to graft: $lib" >&2
  echo "$tmp/openmp"
}

# Add the libgomp notice to the repaired wheel $1 (in place; RECORD rewritten).
add_openmp_notice() {
  local whl="$1" dir info
  local listing
  listing="$("$python" -m zipfile -l "$whl")"
  case "$listing" in *zenkai_np.libs/libgomp*) ;; *) return ;; esac
  "$python" -m wheel unpack -d "$tmp/unpacked" "$whl" >/dev/null
  dir="$(ls -d "$tmp"/unpacked/*/)"
  info="$(ls -d "$dir"*.dist-info)"
  mkdir -p "$info/licenses"
  cp "$root/scripts/wheel_notices/LICENSE-libgomp.txt" "$info/licenses/"
  # Name it in METADATA's header block (before the blank line and the description).
  "$python" - "$info/METADATA" <<'EOF'
import sys
path = sys.argv[1]
text = open(path, encoding="utf-8").read()
head, sep, body = text.partition("\n\n")
if "License-File: LICENSE-libgomp.txt" not in head:
    head += "\nLicense-File: LICENSE-libgomp.txt"
open(path, "w", encoding="utf-8").write(head + sep + body)
EOF
  rm "$whl"
  "$python" -m wheel pack -d "$(dirname "$whl")" "$dir" >/dev/null
  rm -rf "$tmp/unpacked"
}

# Fail unless every shared object in wheel $1 fits manylinux_2_28, and the
# wheel holds exactly one OpenMP runtime.
check_wheel() {
  local whl="$1" f ok=1 g
  rm -rf "$tmp/check" && mkdir -p "$tmp/check"
  (cd "$tmp/check" && "$python" -m zipfile -e "$whl" .)
  while IFS= read -r f; do
    g="$(highest "$f" GLIBC)"; gx="$(highest "$f" GLIBCXX)"; ca="$(highest "$f" CXXABI)"
    printf '   %-60s GLIBC_%s GLIBCXX_%s CXXABI_%s\n' "${f#"$tmp/check/"}" "${g:--}" "${gx:--}" "${ca:--}"
    [ -z "$g" ] || version_le "$g" "$max_glibc" || ok=0
    [ -z "$gx" ] || version_le "$gx" "$max_glibcxx" || ok=0
    [ -z "$ca" ] || version_le "$ca" "$max_cxxabi" || ok=0
  done < <(find "$tmp/check" -name '*.so*' -type f | sort)
  local n
  n="$(find "$tmp/check" -path '*zenkai_np.libs*' -name 'libgomp*' | wc -l)"
  [ "$n" -eq 1 ] || { echo "error: $n OpenMP runtimes in $whl (want 1)" >&2; ok=0; }
  [ "$ok" -eq 1 ] || { echo "error: $whl needs more than $plat provides" >&2; exit 1; }
}

repair() {
  local whl="$1" dest="$2" omp
  omp="$(openmp_dir)"
  mkdir -p "$dest"
  dest="$(cd "$dest" && pwd)"
  LD_LIBRARY_PATH="$omp${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
    auditwheel repair --plat "$plat" -w "$dest" "$whl"
  local out
  out="$(ls -t "$dest"/zenkai_np-*"$arch"*.whl | head -1)"
  add_openmp_notice "$out"
  out="$(ls -t "$dest"/zenkai_np-*"$arch"*.whl | head -1)"
  echo "== symbol versions needed by the shared objects in $(basename "$out")"
  check_wheel "$out"
  echo "== auditwheel show"
  auditwheel show "$out"
}

if [ "${1:-}" = "--repair" ]; then
  repair "$(cd "$(dirname "$2")" && pwd)/$(basename "$2")" "$3"
  exit 0
fi

cd "$root"
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
  SOURCE_DATE_EPOCH="$(git log -1 --format=%ct 2>/dev/null || echo 315532800)"
fi
export SOURCE_DATE_EPOCH
source="${1:-.}"
echo "== pip wheel $source (SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH)"
"$python" -m pip wheel --no-deps --no-cache-dir -w "$tmp/raw" "$source" 2>&1 | tail -3
rm -f wheelhouse/zenkai_np-*"$arch"*.whl
repair "$(ls "$tmp"/raw/zenkai_np-*.whl)" "$root/wheelhouse"
