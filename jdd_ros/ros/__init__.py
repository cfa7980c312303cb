"""ROS 2 glue shared by the nodes (the only layer with rclpy, beside ``nodes``): the lifecycle shell, parameters from
the schema, input QoS that follows the publishers, Fast DDS self-configuration, message conversions, frame
hand-over to the inference threads, process start-up and shutdown, bag playback."""
