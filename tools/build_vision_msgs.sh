#!/usr/bin/env bash
# Builds an interface package of interfaces/ into a virtual environment's prefix with the rosidl/ament wheels from
# PyPI: vision_msgs (upstream vision_msgs 4.x definitions, not published on PyPI; the default) and jdd_ros_msgs (this
# project's messages, which depend on vision_msgs: build that first). Idempotent: a package whose sources are unchanged
# since its last build here, and that imports, is not rebuilt. Usage: build_vision_msgs.sh VENV [PACKAGE]
set -euo pipefail
venv=$(cd "${1:?usage: build_vision_msgs.sh VENV [PACKAGE]}" && pwd)
pkg=${2:-vision_msgs}
root=$(cd "$(dirname "$0")/.." && pwd)
src="$root/interfaces/$pkg"
[ -f "$src/package.xml" ] || { echo "no interface package $src" >&2; exit 1; }
build="$venv/var/build/$pkg"
stamp="$venv/share/$pkg/.jdd_sources.sha256"
digest=$(cd "$src" && find . -type f ! -name COLCON_IGNORE | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -d' ' -f1)
check="import $pkg.msg as m; [getattr(m, n) for n in dir(m) if n[0].isupper()]"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$digest" ] && "$venv/bin/python" -c "$check" 2>/dev/null; then
  echo "$pkg already built in $venv"
  exit 0
fi
command -v cmake >/dev/null || { echo "cmake is required (apt-get install cmake g++)" >&2; exit 1; }
rm -rf "$build"
mkdir -p "$build"
export PATH="$venv/bin:$PATH"
# The wheels' bootstrapper re-executes python with its own LD_LIBRARY_PATH; start clean.
unset _ROS_WHEELS_BOOTSTRAP_COMPLETE
cmake -S "$src" -B "$build" \
  -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_INSTALL_PREFIX="$venv" -DCMAKE_PREFIX_PATH="$venv" \
  -DPython3_EXECUTABLE="$venv/bin/python" -DBUILD_TESTING=OFF > "$build/configure.log" 2>&1 \
  || { tail -40 "$build/configure.log" >&2; exit 1; }
cmake --build "$build" -j "$(nproc)" > "$build/build.log" 2>&1 || { tail -40 "$build/build.log" >&2; exit 1; }
cmake --install "$build" > "$build/install.log" 2>&1 || { tail -40 "$build/install.log" >&2; exit 1; }
"$venv/bin/python" -c "$check; print('$pkg built')"
echo "$digest" > "$stamp"
