"""vision_msgs built from its definitions inside the venv must be wire-compatible with upstream's.

The expected RIHS01 hashes are upstream vision_msgs 4.x's: Detection2DArray as measured against a ROS 2 Kilted
installation, LabelInfo and VisionInfo as printed in upstream's generated type-description sources.
"""

import pytest
from vision_msgs.msg import Detection2DArray, LabelInfo, VisionInfo

UPSTREAM = {
    Detection2DArray: 'RIHS01_214274120007f4a683866481336b70310268cfa107aebe9d594a6acf75bda968',
    LabelInfo: 'RIHS01_3d37df4015cdf660cc851c51897f2acd957e1ca6205ba0a99aebffb9406b0783',
    VisionInfo: 'RIHS01_95d3116a17484ad91c9a2686e1d54890bbfc3ff6c6a2de137738c4950d45d284',
}


@pytest.mark.parametrize('msg_type', list(UPSTREAM), ids=lambda t: t.__name__)
def test_type_hash_equals_upstream(ros_peer, msg_type):
    topic = f'/hash_check/{msg_type.__name__}'
    ros_peer.publisher(msg_type, topic)
    (info,) = ros_peer.node.get_publishers_info_by_topic(topic)
    assert str(info.topic_type_hash) == UPSTREAM[msg_type]


def test_detection_fields_match_upstream_layout():
    from vision_msgs.msg import Detection2D, ObjectHypothesisWithPose

    assert list(Detection2D.get_fields_and_field_types()) == ['header', 'results', 'bbox', 'id']
    assert list(ObjectHypothesisWithPose.get_fields_and_field_types()) == ['hypothesis', 'pose']
