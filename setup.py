from glob import glob

from setuptools import find_packages, setup

package_name = 'jdd_ros'

setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test', 'test.*']),
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
        ('share/' + package_name + '/launch', glob('launch/*.launch.py')),
        ('share/' + package_name + '/config', glob('config/*.yaml') + glob('config/*.xml')),
        # the sample `jdd-ros demo` plays: the TUM RGB-D desk frame (CC BY 4.0, test/fixtures/README.md)
        ('share/' + package_name + '/sample',
         ['test/fixtures/tum_desk_color.png', 'test/fixtures/tum_desk_depth_mm.png', 'test/fixtures/README.md']),
    ],
    # ROS convention: runtime dependencies come from package.xml (colcon) or requirements.txt (make setup).
    install_requires=['setuptools'],
    zip_safe=True,
    maintainer='jdd_ros developers',
    maintainer_email='jdd-ros@example.org',
    description='Monocular metric depth + YOLOv4 detection + distance-filtered fusion for ROS 2.',
    license='Apache-2.0',
    extras_require={'test': ['pytest']},
    entry_points={
        'console_scripts': [
            'fusion_node = jdd_ros.nodes.entry:fusion_node',
            'detector_node = jdd_ros.nodes.entry:detector_node',
            'depth_node = jdd_ros.nodes.entry:depth_node',
            'pipeline = jdd_ros.nodes.entry:pipeline',
            'jdd-ros = jdd_ros.cli:main',
        ],
    },
)
