"""What the command-line tools do, without argparse and without ROS: the offline pipeline (jdd-ros fuse / process)
and the process supervisor of jdd-ros launch."""
