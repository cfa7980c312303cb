"""ROS 2 glue shared by the nodes: parameters from the schema, QoS, message conversions, process start-up."""
