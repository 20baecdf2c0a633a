"""ament_python package setup (also a plain pip-installable Python package)."""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "perfecting_depth_ros"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test", "test.*"]),
    package_data={PACKAGE: ["weights/*.safetensors", "weights/*.onnx", "weights/*.json", "weights/*.md"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml") + glob("config/*.rviz")),
    ],
    python_requires=">=3.10",
    install_requires=[
        "numpy",
        "numba",  # the hole fusion's joint bilateral fill, compiled (without it: OpenCV, ~20 ms slower at 640x480)
        "opencv-contrib-python-headless",
        "scipy",
        "pyyaml",
        "safetensors",
        "onnxruntime",
        "tqdm",
    ],
    extras_require={
        "train": ["torch", "diffusers", "accelerate", "onnx", "matplotlib"],
        "bag": ["rosbags", "rosbags-image"],
        "tensorrt": ["onnx", "onnxconverter-common"],  # FP16 engines (without them TensorRT builds in FP32)
        "test": ["pytest", "hypothesis", "ruff"],
    },
    zip_safe=True,
    maintainer="perfecting_depth_ros developers",
    maintainer_email="dev@perfecting-depth.local",
    description="Dense metric depth + uncertainty + point clouds from raw RGB-D (Perfecting Depth), ROS 2 node",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "enhancer_node = perfecting_depth_ros.node.enhancer_node:main",
            "enhancer_lifecycle_node = perfecting_depth_ros.node.enhancer_node:main_managed",
            "perfecting-depth = perfecting_depth_ros.cli:main",
        ],
    },
)
