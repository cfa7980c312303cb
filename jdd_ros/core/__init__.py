"""Algorithms on numpy arrays and plain records, no I/O and no ROS: the detection record, camera intrinsics,
depth of a box, fusion with its distance filter, the stamp join, masking beyond a distance."""
