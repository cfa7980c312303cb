"""Files and messages without ROS: the image codec (sensor_msgs/Image <-> numpy, in place of ROS 2 cv_bridge, which
is not installable here), RGB-D frames on disk, bags (rosbags), camera_info, drawing."""
