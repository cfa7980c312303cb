#!/usr/bin/env bash
# Builds interfaces/vision_msgs (upstream vision_msgs 4.x definitions) into a virtual environment's prefix with the
# rosidl/ament wheels from PyPI, because vision_msgs is not published on PyPI. Usage: build_vision_msgs.sh VENV
set -euo pipefail
venv=$(cd "${1:?usage: build_vision_msgs.sh VENV}" && pwd)
root=$(cd "$(dirname "$0")/.." && pwd)
build="$venv/var/build/vision_msgs"
if [ -f "$venv/share/vision_msgs/package.xml" ] && \
   cmp -s "$root/interfaces/vision_msgs/package.xml" "$venv/share/vision_msgs/package.xml" && \
   "$venv/bin/python" -c 'from vision_msgs.msg import Detection2DArray' 2>/dev/null; then
  echo "vision_msgs already built in $venv"
  exit 0
fi
command -v cmake >/dev/null || { echo "cmake is required (apt-get install cmake g++)" >&2; exit 1; }
rm -rf "$build"
mkdir -p "$build"
export PATH="$venv/bin:$PATH"
# The wheels' bootstrapper re-executes python with its own LD_LIBRARY_PATH; start clean.
unset _ROS_WHEELS_BOOTSTRAP_COMPLETE
cmake -S "$root/interfaces/vision_msgs" -B "$build" \
  -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_INSTALL_PREFIX="$venv" -DCMAKE_PREFIX_PATH="$venv" \
  -DPython3_EXECUTABLE="$venv/bin/python" -DBUILD_TESTING=OFF > "$build/configure.log" 2>&1 \
  || { tail -40 "$build/configure.log" >&2; exit 1; }
cmake --build "$build" -j "$(nproc)" > "$build/build.log" 2>&1 || { tail -40 "$build/build.log" >&2; exit 1; }
cmake --install "$build" > "$build/install.log" 2>&1 || { tail -40 "$build/install.log" >&2; exit 1; }
"$venv/bin/python" -c 'from vision_msgs.msg import Detection2DArray; print("vision_msgs built:", Detection2DArray.__name__)'
