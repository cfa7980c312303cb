"""What the ROS graph holds, as ``jdd_ros.core.silent_input`` needs it (topics, types, publishers)."""

from __future__ import annotations

from rclpy.node import Node

from jdd_ros.core.silent_input import IMAGE_TYPES, GraphTopic


def image_topics_in_graph(node: Node) -> list[GraphTopic]:
    """The image topics of the graph with their types and how many publishers each has besides ``node`` itself (its
    own outputs, depth_colored or debug_image, are no camera)."""
    found = []
    for name, types in node.get_topic_names_and_types():
        if any(t in IMAGE_TYPES for t in types):
            publishers = [i for i in node.get_publishers_info_by_topic(name)
                          if (i.node_name, i.node_namespace) != (node.get_name(), node.get_namespace())]
            found.append(GraphTopic(name, tuple(types), len(publishers)))
    return found
