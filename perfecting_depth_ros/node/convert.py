"""sensor_msgs <-> numpy without cv_bridge: zero-copy views where the layout allows.

Images: REP 118 depth encodings (16UC1 millimetres with 0 invalid, 32FC1 metres with NaN invalid) and
rgb8, bgr8, rgba8, bgra8, mono8 colour (also 8UC3, 8UC1, YUV 4:2:2, Bayer mosaics, 16-bit colour and mono16
IR). ``step`` padding and ``is_bigendian`` are honoured. CompressedImage messages (image_transport's ``compressed``
and ``compressedDepth``) are decoded by ``compressed.py``. We do the conversion here rather than through
rosbags-image because the node needs zero-copy strided views and precise rejection reasons; rosbags-image is used
by the bag tool for files.

Every function raises ``ConversionError`` (a ValueError) with a reason a user can act on.
"""

from __future__ import annotations

import array
import functools
import sys

import numpy as np

# Colour encodings (sensor_msgs/image_encodings, lower case) -> bytes per pixel. 8UC3 is BGR and 8UC1 mono, as
# cv_bridge reads them; yuv422 / uyvy is UYVY and yuv422_yuy2 / yuyv is YUYV (USB and some RGB-D drivers);
# bayer_* is a raw colour mosaic, demosaiced here.
COLOR_ENCODINGS = {"rgb8": 3, "bgr8": 3, "8uc3": 3, "rgba8": 4, "bgra8": 4, "mono8": 1, "8uc1": 1,
                   "yuv422": 2, "uyvy": 2, "yuv422_yuy2": 2, "yuyv": 2,
                   "bayer_rggb8": 1, "bayer_bggr8": 1, "bayer_gbrg8": 1, "bayer_grbg8": 1}
# 16-bit guides, channels: colour is read by its high byte; mono16 is an IR image (Azure Kinect's ir/image_raw, whose
# pixels are the depth's own), stretched to 8 bits by the frame's 99th percentile, as the benchmark's Azure Kinect
# frame was.
COLOR16_ENCODINGS = {"rgb16": 3, "bgr16": 3, "rgba16": 4, "bgra16": 4, "mono16": 1}
_BGR = ("bgr8", "8uc3", "bgra8", "bgr16", "bgra16")
_CV_TO_RGB = {  # OpenCV names a Bayer pattern by its second row's first two pixels
    "yuv422": "COLOR_YUV2RGB_UYVY", "uyvy": "COLOR_YUV2RGB_UYVY",
    "yuv422_yuy2": "COLOR_YUV2RGB_YUY2", "yuyv": "COLOR_YUV2RGB_YUY2",
    "bayer_rggb8": "COLOR_BayerBG2RGB", "bayer_bggr8": "COLOR_BayerRG2RGB",
    "bayer_gbrg8": "COLOR_BayerGR2RGB", "bayer_grbg8": "COLOR_BayerGB2RGB"}
DEPTH_ENCODINGS = {"16UC1": np.dtype(np.uint16), "mono16": np.dtype(np.uint16), "32FC1": np.dtype(np.float32)}


class ConversionError(ValueError):
    """A message that cannot be turned into an array (the message says why)."""


def set_message_data(msg, arr: np.ndarray) -> None:
    """Put the bytes of ``arr`` in a new message's ``uint8[]`` field ``data`` (Image, PointCloud2,
    CompressedImage), copied once, straight into the ``array.array('B')`` the message holds.

    Assigning to ``msg.data`` instead goes through the generated setter: on Humble (rosidl_python before 0.18;
    later distros with ``ROS_PYTHON_CHECK_FIELDS=1``) anything but an ``array.array`` is first checked byte by byte
    in Python (measured here with those checks: 850 ms for one 640x480 frame's outputs; ros2/rosidl_python#156),
    and later distros copy whatever they are given once more (3-7 ms a 640x480 frame here, the cloud's 6 MB)."""
    raw = np.ascontiguousarray(arr).reshape(-1).view(np.uint8)
    data = msg.data
    if isinstance(data, array.array) and data.typecode == "B" and not len(data):
        data.frombytes(raw)
    else:
        msg.data = raw.tobytes()


def _view(msg, dtype: np.dtype, channels: int) -> np.ndarray:
    """A [H,W,C] view of msg.data honouring step padding and byte order (copies only when needed)."""
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    if h <= 0 or w <= 0:
        raise ConversionError(f"empty image ({w}x{h})")
    row = w * channels * dtype.itemsize
    if step < row:
        raise ConversionError(f"step {step} is smaller than width*channels*bytes = {row}")
    data = msg.data
    buf = np.frombuffer(data, dtype=np.uint8) if not isinstance(data, np.ndarray) else data.view(np.uint8)
    if buf.size < step * (h - 1) + row:
        raise ConversionError(f"truncated image data: {buf.size} bytes for {h} rows of step {step}")
    rows = np.lib.stride_tricks.as_strided(buf, shape=(h, row), strides=(step, 1))
    if step != row or rows.ctypes.data % dtype.itemsize:
        rows = np.ascontiguousarray(rows)
    arr = rows.view(dtype).reshape(h, w, channels)
    big = bool(msg.is_bigendian)
    if dtype.itemsize > 1 and big != (sys.byteorder == "big"):
        arr = arr.byteswap()  # swapped bytes read in native order give the true values
    return arr


def image_to_rgb(msg) -> np.ndarray:
    """Colour Image or CompressedImage -> HxWx3 uint8 in RGB order (mono8 is repeated to three channels)."""
    from .compressed import compressed_to_rgb, is_compressed

    if is_compressed(msg):
        return compressed_to_rgb(str(msg.format), msg.data)
    enc = msg.encoding.lower()
    if enc in COLOR16_ENCODINGS:
        return _rgb_from_16bit(_view(msg, np.dtype(np.uint16), COLOR16_ENCODINGS[enc]), enc)
    if enc not in COLOR_ENCODINGS:
        raise ConversionError(f"unsupported colour encoding {msg.encoding!r}; expected one of "
                              f"{sorted(COLOR_ENCODINGS) + sorted(COLOR16_ENCODINGS)}")
    ch = COLOR_ENCODINGS[enc]
    arr = _view(msg, np.dtype(np.uint8), ch)
    if enc in _CV_TO_RGB:
        import cv2

        h, w = arr.shape[:2]
        if ch == 2 and w % 2:
            raise ConversionError(f"{msg.encoding} needs an even width (two pixels share their colour), got {w}")
        if ch == 1 and (h < 2 or w < 2):
            raise ConversionError(f"{msg.encoding} needs at least 2x2 pixels (one mosaic cell), got {w}x{h}")
        return cv2.cvtColor(np.ascontiguousarray(arr), getattr(cv2, _CV_TO_RGB[enc]))
    if ch == 1:
        return np.repeat(arr, 3, axis=2)
    arr = arr[..., :3]
    return arr[..., ::-1] if enc in _BGR else arr


def _rgb_from_16bit(arr: np.ndarray, enc: str) -> np.ndarray:
    """HxWxC uint16 (native order) -> HxWx3 uint8 RGB: colour by its high byte, mono16 (IR) stretched so the frame's
    99th percentile (of every 4th row and column) is 255."""
    if enc == "mono16":
        top = max(float(np.percentile(arr[::4, ::4], 99)), 1.0)
        ir8 = np.clip(arr[..., 0].astype(np.float32) * np.float32(255.0 / top), 0, 255).astype(np.uint8)
        return np.repeat(ir8[..., None], 3, axis=2)
    rgb = (arr[..., :3] >> 8).astype(np.uint8)
    return np.ascontiguousarray(rgb[..., ::-1] if enc in _BGR else rgb)


def image_to_depth(msg, depth_scale: float = 0.001) -> tuple[np.ndarray, int]:
    """Depth Image or CompressedImage -> (HxW float32 metres with 0 = invalid, number of impossible values found:
    negative depth, or a compressedDepth payload that decodes to none). NaN and +-Inf (REP 118) are invalid depth.

    16UC1 / mono16 are scaled by ``depth_scale`` (millimetres by default); 32FC1 is metres.
    """
    from .compressed import compressed_to_depth, is_compressed

    if is_compressed(msg):
        return compressed_to_depth(str(msg.format), msg.data, depth_scale)
    if msg.encoding not in DEPTH_ENCODINGS:
        raise ConversionError(f"unsupported depth encoding {msg.encoding!r}; expected 16UC1 (mm) or 32FC1 (m)")
    dt = DEPTH_ENCODINGS[msg.encoding]
    arr = _view(msg, dt, 1)[..., 0]
    if dt == np.uint16:
        return arr.astype(np.float32) * np.float32(depth_scale), 0
    bad = ~np.isfinite(arr) | (arr < 0)
    # NaN, +Inf and -Inf are REP 118's (after REP 117) erroneous, no return and too close: no measurement, not an
    # error (simulators publish +Inf past their far plane); a negative finite depth is one
    n_bad = int(np.count_nonzero(np.isfinite(arr) & (arr < 0)))
    out = np.where(bad, np.float32(0), arr).astype(np.float32)
    return out, n_bad


PLAUSIBLE_MEDIAN_DEPTH_M = (0.02, 50.0)  # no RGB-D or stereo camera's scene has its median depth outside this


def encoding_of(msg) -> str:
    """An Image's encoding, or a CompressedImage's as its format names it ("16UC1; compressedDepth png" -> 16UC1)."""
    return getattr(msg, "encoding", None) or str(getattr(msg, "format", "")).split(";")[0].strip()


def depth_units_warning(depth: np.ndarray, encoding: str, depth_scale: float) -> str:
    """A reason to believe the depth is in the wrong units ("" if none): the median valid depth (of every 4th row
    and column) outside ``PLAUSIBLE_MEDIAN_DEPTH_M``, as 32FC1 in millimetres (1000x) or a wrong ``depth_scale``
    for 16UC1 gives. The frame is still processed: the cloud and the published depth are then as wrong."""
    d = depth[::4, ::4]
    valid = d[d > 0]
    if valid.size < 16:
        return ""
    med = float(np.median(valid))
    lo, hi = PLAUSIBLE_MEDIAN_DEPTH_M
    if lo <= med <= hi:
        return ""
    if encoding == "32FC1":
        hint = "32FC1 depth must be in metres (REP 118); millimetres give 1000x"
    else:
        hint = f"depth_scale is {depth_scale:g} m per {encoding} unit; REP 118's 16UC1 is millimetres (0.001)"
    return f"depth units implausible: median depth {med:.3g} m; {hint}"  # the part before ':' keys the diagnostics


def depth_array(depth: np.ndarray, encoding: str = "32FC1") -> np.ndarray:
    """HxW float32 metres (NaN invalid) -> the REP 118 array of ``encoding``: 32FC1 metres with NaN, or 16UC1
    millimetres with 0 (past 65.535 m: not representable, invalid)."""
    if encoding == "32FC1":
        return np.ascontiguousarray(depth, dtype="<f4")
    if encoding == "16UC1":
        mm = np.round(np.nan_to_num(depth * 1000.0, nan=0.0, posinf=0.0, neginf=0.0))
        return np.where((mm > 0) & (mm <= 65535), mm, 0).astype("<u2")
    raise ConversionError(f"cannot write depth as {encoding!r}")


def depth_to_image(depth: np.ndarray, header, encoding: str = "32FC1"):
    """HxW float32 metres (NaN invalid) -> Image (32FC1 metres with NaN, or 16UC1 millimetres with 0)."""
    from sensor_msgs.msg import Image

    arr = depth_array(depth, encoding)
    msg = Image()
    msg.header = header
    msg.height, msg.width = depth.shape
    msg.is_bigendian = 0
    msg.step = arr.itemsize * msg.width
    msg.encoding = encoding
    set_message_data(msg, arr)
    return msg


def depth_to_compressed_image(depth: np.ndarray, header, encoding: str = "32FC1", depth_max: float = 10.0):
    """HxW float32 metres (NaN invalid) -> CompressedImage as image_transport's compressedDepth publishes the Image
    ``depth_to_image`` makes (PNG; depth beyond ``depth_max`` metres left out, as there)."""
    from sensor_msgs.msg import CompressedImage

    from .compressed import depth_to_compressed

    msg = CompressedImage()
    msg.header = header
    msg.format, data = depth_to_compressed(depth_array(depth, encoding), encoding, depth_max)
    set_message_data(msg, np.frombuffer(data, np.uint8))
    return msg


def rgb_to_image(rgb: np.ndarray, header):
    """HxWx3 uint8 RGB -> Image rgb8."""
    from sensor_msgs.msg import Image

    msg = Image()
    msg.header = header
    msg.height, msg.width = rgb.shape[:2]
    msg.encoding, msg.is_bigendian, msg.step = "rgb8", 0, 3 * rgb.shape[1]
    set_message_data(msg, np.asarray(rgb, dtype=np.uint8))
    return msg


def labels_to_image(labels: np.ndarray, header):
    """HxW uint8 -> Image mono8 (the source map)."""
    from sensor_msgs.msg import Image

    msg = Image()
    msg.header = header
    msg.height, msg.width = labels.shape
    msg.encoding, msg.is_bigendian, msg.step = "mono8", 0, labels.shape[1]
    set_message_data(msg, np.asarray(labels, dtype=np.uint8))
    return msg


def registration_warning(rgb_frame: str, depth_frame: str) -> str:
    """A warning when the depth image is in another frame than the colour image (then it is almost surely not
    registered to the colour camera, which the enhancer needs), else ""."""
    if rgb_frame and depth_frame and rgb_frame != depth_frame:
        return (f"depth frame_id {depth_frame!r} is not the colour's {rgb_frame!r}: the depth must be registered to "
                "the colour camera (RealSense align_depth, Azure Kinect depth_to_rgb, depth_image_proc/register)")
    return ""


def _window(msg) -> tuple[int, int, int, int, int, int]:
    """(x_offset, y_offset, binning_x, binning_y, width, height) of the image a CameraInfo describes, read as
    image_geometry reads it: the calibration is for the full ``width`` x ``height`` sensor; the image is the ROI
    (all zeros: the whole sensor) binned by ``binning_x`` x ``binning_y`` (0 means 1). ConversionError where the ROI
    does not fit. Width and height are 0 when the info leaves its size unset."""
    bx, by = max(1, int(msg.binning_x)), max(1, int(msg.binning_y))
    roi = msg.roi
    x0, y0, rw, rh = int(roi.x_offset), int(roi.y_offset), int(roi.width), int(roi.height)
    if x0 == y0 == rw == rh == 0:
        rw, rh = msg.width, msg.height
    elif rw == 0 or rh == 0 or (msg.width and x0 + rw > msg.width) or (msg.height and y0 + rh > msg.height):
        raise ConversionError(f"camera_info roi {rw}x{rh}+{x0}+{y0} does not fit the calibrated "
                              f"{msg.width}x{msg.height} image")
    if (rw and rw < bx) or (rh and rh < by):
        raise ConversionError(f"camera_info binning {bx}x{by} is larger than its {rw}x{rh} image")
    return x0, y0, bx, by, rw // bx, rh // by


def _windowed(M: np.ndarray, msg) -> np.ndarray:
    """K (3x3) or P (3x4) of a CameraInfo for the ROI and binning it describes (image_geometry's adjustment; a P's
    baseline term is divided by the binning too, as its focal length is)."""
    x0, y0, bx, by, _, _ = _window(msg)
    M = np.array(M, dtype=np.float64)
    if (x0, y0, bx, by) == (0, 0, 1, 1):
        return M
    M[0, 2] -= x0  # as image_geometry: the principal point moves by the offset (K and P have 1 at [2, 2])
    M[1, 2] -= y0
    M[0] /= bx
    M[1] /= by
    return M


def _projection(msg) -> np.ndarray | None:
    """The 3x4 P of a CameraInfo for the image it describes, or None where the driver left it empty (focal lengths
    not positive)."""
    P = np.asarray(msg.p, dtype=np.float64)
    if P.size != 12:
        return None
    P = P.reshape(3, 4)
    return _windowed(P, msg) if P[0, 0] > 0 and P[1, 1] > 0 else None


def _info_scale(msg, expected_hw: tuple[int, int] | None) -> tuple[float, float]:
    """(sx, sy) from the size of the image a camera_info describes (its ROI and binning applied) to ``expected_hw``
    (1, 1 when either is unknown); raises ConversionError when the aspect ratios differ."""
    w, h = _window(msg)[4:]
    if expected_hw is None or not (w and h):
        return 1.0, 1.0
    H, W = expected_hw
    sx, sy = W / w, H / h
    if abs(sx - sy) > 0.01 * max(sx, sy):
        raise ConversionError(f"camera_info size {w}x{h} does not match depth {W}x{H} "
                              "and has another aspect ratio")
    return sx, sy


def camera_info_to_K(msg, expected_hw: tuple[int, int] | None = None) -> np.ndarray:
    """CameraInfo -> the 3x3 intrinsics of the rectified image, for an image of ``expected_hw``.

    That is P's left 3x3, as image_geometry and depth_image_proc use it (K is the raw, distorted image's; the two
    differ where a driver or image_proc rectifies with a new camera matrix), or K where P is empty; both adjusted
    for the info's ROI and binning as image_geometry does. Scaled when the info is for another resolution with the
    same aspect ratio; ConversionError otherwise or if it is unusable."""
    from ..geometry import check_intrinsics, scale_intrinsics

    P = _projection(msg)
    K = P[:, :3].copy() if P is not None else _windowed(np.asarray(msg.k, dtype=np.float64).reshape(3, 3), msg)
    if not np.any(K):
        raise ConversionError("camera_info K and P are all zeros (uncalibrated camera)")
    try:
        K = check_intrinsics(K)
    except ValueError as e:
        raise ConversionError(f"camera_info: {e}") from e
    sx, sy = _info_scale(msg, expected_hw)
    return K if (sx, sy) == (1.0, 1.0) else scale_intrinsics(K, sx, sy)


TRANSPORT_SUFFIXES = ("compressed", "compressedDepth")  # image_transport topics (sensor_msgs/CompressedImage)


def image_topic_of(topic: str) -> str:
    """The image topic an image_transport topic carries: /x/image_raw/compressedDepth -> /x/image_raw."""
    head, _, last = topic.rstrip("/").rpartition("/")
    return head if last in TRANSPORT_SUFFIXES and head else topic.rstrip("/")


def distortion_warning(msg, rgb_topic: str) -> str:
    """With ``rectified: true``: a warning when the colour topic is a raw image (``.../image_raw``) and its camera_info
    has a lens distortion, else "". P's pinhole rays then bend the cloud (Azure Kinect and Orbbec drivers publish
    such images; RealSense's image_raw has no distortion and is not named)."""
    d = [abs(float(v)) for v in msg.d]
    if not image_topic_of(rgb_topic).endswith("image_raw") or not d or max(d) < 1e-3:
        return ""
    return (f"unrectified images with lens distortion: {rgb_topic} is a raw image and camera_info has a "
            f"{msg.distortion_model} distortion, so the cloud is bent; set rectified: false (the cloud undoes it) "
            "or rectify the images (image_proc)")


def raw_image_geometry(msg, expected_hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray | None]:
    """For a raw (not rectified) image of ``expected_hw``: its K (ROI, binning and scale applied) and the per-pixel
    rays [H,W,2] that undo camera_info's distortion (``geometry.undistorted_rays``; None where D is empty or zero).
    Cached per calibration and size: inverting the distortion takes up to a second at 1280x720. ConversionError for
    an unusable K or a distortion model other than plumb_bob, rational_polynomial or equidistant."""
    from ..geometry import DISTORTION_MODELS, check_intrinsics, scale_intrinsics

    K = _windowed(np.asarray(msg.k, dtype=np.float64).reshape(3, 3), msg)
    try:
        K = check_intrinsics(K)
    except ValueError as e:
        raise ConversionError(f"camera_info K: {e} (rectified: false needs the raw image's K)") from e
    K = scale_intrinsics(K, *_info_scale(msg, expected_hw))
    D = tuple(float(v) for v in msg.d)
    if not any(D):
        return K, None
    model = str(msg.distortion_model)
    if model not in DISTORTION_MODELS:
        raise ConversionError(f"camera_info distortion model {model!r} is not one of {', '.join(DISTORTION_MODELS)}; "
                              "rectify the images (image_proc) and set rectified: true")
    if not all(np.isfinite(D)):
        raise ConversionError("camera_info D contains NaN or Inf")
    used = 4 if model == "equidistant" else 8
    if any(D[used:]):  # OpenCV's thin-prism and tilt terms: ignoring them would bend the cloud silently
        raise ConversionError(f"camera_info D has {len(D)} coefficients; {model} here takes {used} (no thin-prism or "
                              "tilt terms): rectify the images (image_proc) and set rectified: true")
    return K, _rays(K.tobytes(), D, model, tuple(expected_hw))


def cloud_geometry(msg, expected_hw: tuple[int, int], rectified: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """The intrinsics and per-pixel rays the cloud is built with (the node's ``rectified``): for rectified images
    P's 3x3 (``camera_info_to_K``) and no rays, for raw ones ``raw_image_geometry``."""
    return (camera_info_to_K(msg, expected_hw), None) if rectified else raw_image_geometry(msg, expected_hw)


@functools.lru_cache(maxsize=8)
def _rays(K_bytes: bytes, D: tuple, model: str, hw: tuple[int, int]) -> np.ndarray:
    from ..geometry import undistorted_rays

    rays = undistorted_rays(np.frombuffer(K_bytes, np.float64).reshape(3, 3), D, model, hw)
    rays.flags.writeable = False  # shared by every frame of that camera
    return rays


POINT_DTYPE = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("rgb", "<f4"), ("sigma", "<f4")])


def cloud_from_depth(depth: np.ndarray, K: np.ndarray, rgb: np.ndarray, sigma: np.ndarray,
                     max_sigma: float = 0.0, rays: np.ndarray | None = None) -> np.ndarray:
    """Organised cloud as a structured array [H,W] of POINT_DTYPE (x, y, z, rgb packed in float32, sigma).

    Back-projects straight into one contiguous float32 buffer (field-by-field writes into a structured
    array cost 3x more). Invalid points (NaN depth, or sigma above ``max_sigma`` when it is > 0) have NaN
    x, y, z. ``rays`` (``raw_image_geometry``) replace K's pinhole rays for a raw, distorted image.
    """
    from ..geometry import backproject

    H, W = depth.shape
    buf = np.empty((H, W, 5), np.float32)
    backproject(depth, K, out=buf[..., :3], rays=rays)
    if max_sigma > 0:
        buf[sigma > max_sigma, :3] = np.nan
    b = buf.view(np.uint8).reshape(H, W, 20)
    b[..., 12], b[..., 13], b[..., 14], b[..., 15] = rgb[..., 2], rgb[..., 1], rgb[..., 0], 0  # 0x00RRGGBB, LE
    buf[..., 4] = sigma
    return buf.view(POINT_DTYPE)[..., 0]


def points_to_cloud(cloud: np.ndarray, header):
    """Structured [H,W] array -> organised sensor_msgs/PointCloud2 (is_dense false)."""
    from sensor_msgs.msg import PointCloud2, PointField

    msg = PointCloud2()
    msg.header = header
    msg.height, msg.width = cloud.shape
    msg.fields = [PointField(name=n, offset=cloud.dtype.fields[n][1], datatype=PointField.FLOAT32, count=1)
                  for n in cloud.dtype.names]
    msg.is_bigendian = False
    msg.point_step = cloud.dtype.itemsize
    msg.row_step = msg.point_step * msg.width
    msg.is_dense = False
    set_message_data(msg, cloud)
    return msg


def cloud_to_array(msg) -> np.ndarray:
    """PointCloud2 with float32 fields -> structured [H,W] array (for tests and tools)."""
    names = [f.name for f in msg.fields]
    offsets = [f.offset for f in msg.fields]
    dt = np.dtype({"names": names, "formats": ["<f4"] * len(names), "offsets": offsets, "itemsize": msg.point_step})
    return np.frombuffer(bytes(msg.data), dtype=dt).reshape(msg.height, msg.width)


def output_messages(out, rgb: np.ndarray, K: np.ndarray, info_msg, header, max_sigma: float = 0.0,
                    with_cloud: bool = True, depth_max_sigma: float = 0.0, encoding: str = "32FC1",
                    with_source: bool = True, cloud_decimation: int = 1, rays: np.ndarray | None = None,
                    compressed_depth_max: float | None = None, with_rgb: bool = False) -> dict:
    """The node's output messages for one enhanced frame (shared by the node and the bag tool):
    image_rect (``encoding``: 32FC1 metres with NaN, or 16UC1 millimetres with 0) and uncertainty (32FC1),
    camera_info (the input's K, P, D and R for the depth size, its ROI and binning folded into them), points
    (organised cloud), source (mono8: 1 measured and kept, 2 measured but replaced, 3 rebuilt hole, 0 no value
    published). Where ``depth_max_sigma`` > 0, depth whose
    1-sigma exceeds it is published as invalid (in the image and so in the cloud and the source map);
    ``max_sigma`` > 0 drops such points from the cloud alone. ``cloud_decimation`` n > 1 makes the cloud of every n-th
    row and column (organised, (H/n) x (W/n)): n*n times lighter for DDS, planners and RViz. ``K`` and ``rays`` are
    ``cloud_geometry``'s: for a raw (distorted) image the cloud undoes the distortion. With ``compressed_depth_max``
    set, also image_rect/compressedDepth: image_rect as image_transport's compressedDepth would publish it, depth
    beyond that many metres left out. With ``with_rgb``, also rgb: the colour the depth was enhanced with (rgb8, at
    the depth's size, under the depth's header), so colour, depth and camera_info share one stamp."""
    from sensor_msgs.msg import CameraInfo

    from ..enhancer import published_depth
    from ..geometry import scale_intrinsics

    H, W = out.depth.shape
    info = CameraInfo()
    info.header = header
    info.height, info.width = H, W
    info.distortion_model = str(info_msg.distortion_model)
    info.d = [float(x) for x in info_msg.d]
    info.r = [float(x) for x in info_msg.r]
    # The input's K and P for the published image (its ROI and binning applied, so the output has neither); where
    # the input has no P, ``K`` (the intrinsics everything here used).
    sx, sy = _info_scale(info_msg, (H, W))
    K_raw = scale_intrinsics(_windowed(np.asarray(info_msg.k, dtype=np.float64).reshape(3, 3), info_msg), sx, sy)
    info.k = (K_raw if np.all(np.isfinite(K_raw)) and K_raw[0, 0] > 0 and K_raw[1, 1] > 0 else K).ravel().tolist()
    P = np.zeros((3, 4))
    P_in = _projection(info_msg)
    if P_in is not None:
        P[:2, 3] = P_in[:2, 3] * [sx, sy]  # a stereo pair's right camera keeps its baseline term
    P[:, :3] = K if P_in is None else scale_intrinsics(P_in[:, :3], sx, sy)  # rectified: the same as K
    info.p = P.ravel().tolist()
    depth = published_depth(out.depth, out.uncertainty, depth_max_sigma)
    msgs = {"image_rect": depth_to_image(depth, header, encoding),
            "uncertainty": depth_to_image(out.uncertainty, header), "camera_info": info}
    if compressed_depth_max is not None:
        msgs["image_rect/compressedDepth"] = depth_to_compressed_image(depth, header, encoding, compressed_depth_max)
    if with_rgb:
        msgs["rgb"] = rgb_to_image(rgb, header)
    if with_source and out.source is not None:
        msgs["source"] = labels_to_image(np.where(np.isfinite(depth), out.source, 0).astype(np.uint8), header)
    if with_cloud:
        n = int(cloud_decimation)
        if n < 1:
            raise ValueError(f"cloud_decimation must be at least 1, got {cloud_decimation!r}")
        # pixel j of the decimated grid is pixel n*j of the image: K scaled by 1/n projects it exactly
        Kc = K if n == 1 else K * np.array([[1 / n, 1, 1 / n], [1, 1 / n, 1 / n], [1, 1, 1]])
        msgs["points"] = points_to_cloud(cloud_from_depth(depth[::n, ::n], Kc, rgb[::n, ::n], out.uncertainty[::n, ::n],
                                                          max_sigma, None if rays is None else rays[::n, ::n]), header)
    return msgs
