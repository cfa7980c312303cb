"""The Darknet family: YOLOv4 / YOLOv4-tiny (and other Darknet YOLO) models from cfg/weights files, run with PyTorch
or ONNX Runtime (no Darknet, no ROS). ``cfg`` and ``weights`` parse the files without torch; ``model`` builds the
network, ``detector`` runs it, ``model_store`` provides the known COCO models, ``family`` plugs it into
``jdd_ros.detect.registry``."""
