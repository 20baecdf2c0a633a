"""Message <-> numpy conversion: encodings, padding, byte order, bad data, camera_info, clouds."""

import numpy as np
import pytest
from sensor_msgs.msg import CameraInfo, Image

from perfecting_depth_ros.geometry import backproject
from perfecting_depth_ros.node.convert import (
    ConversionError,
    camera_info_to_K,
    cloud_from_depth,
    cloud_to_array,
    depth_to_image,
    image_to_depth,
    image_to_rgb,
    points_to_cloud,
)
from perfecting_depth_ros.node.harness import make_header, make_image, make_info


def _img(arr, enc, step=None, big=False):
    m = make_image(arr, enc, make_header(1, "cam"))
    if step is not None:  # re-pack with row padding
        rows = np.ascontiguousarray(arr).view(np.uint8).reshape(arr.shape[0], -1)
        pad = np.zeros((arr.shape[0], step - rows.shape[1]), np.uint8)
        m.data = np.concatenate([rows, pad], 1).tobytes()
        m.step = step
    if big:
        m.data = np.ascontiguousarray(arr).byteswap().tobytes()
        m.is_bigendian = 1
    return m


@pytest.mark.parametrize("enc", ["rgb8", "bgr8", "rgba8", "bgra8", "mono8"])
def test_colour_encodings_give_rgb(enc, rng):
    rgb = rng.integers(0, 255, (5, 7, 3), dtype=np.uint8)
    if enc == "rgb8":
        arr = rgb
    elif enc == "bgr8":
        arr = rgb[..., ::-1]
    elif enc == "rgba8":
        arr = np.dstack([rgb, np.full((5, 7), 9, np.uint8)])
    elif enc == "bgra8":
        arr = np.dstack([rgb[..., ::-1], np.full((5, 7), 9, np.uint8)])
    else:
        arr = rgb[..., 0]
    out = image_to_rgb(_img(arr, enc))
    expected = np.repeat(rgb[..., :1], 3, 2) if enc == "mono8" else rgb
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("enc", ["rgb16", "bgr16", "rgba16", "bgra16", "mono16"])
@pytest.mark.parametrize("big", [False, True])
def test_16bit_guides_give_rgb(enc, big, rng):
    """16-bit colour by its high byte; mono16 (an IR image registered to the depth by construction, e.g. Azure
    Kinect's ir/image_raw) stretched so its 99th percentile is white, as the benchmark's Azure Kinect frame."""
    rgb = rng.integers(0, 255, (8, 12, 3), dtype=np.uint8)
    wide = rgb.astype(np.uint16) * 256 + rng.integers(0, 255, rgb.shape).astype(np.uint16)  # low bytes: noise
    if enc == "mono16":
        ir = rng.integers(0, 2000, (64, 48)).astype(np.uint16)
        ir[0, 0] = 65000  # one hot pixel does not set the scale
        out = image_to_rgb(_img(ir, enc, big=big))
        top = np.percentile(ir[::4, ::4], 99)
        expected = np.clip(ir.astype(np.float32) * np.float32(255 / top), 0, 255).astype(np.uint8)
        np.testing.assert_array_equal(out, np.repeat(expected[..., None], 3, 2))
        assert out[0, 0, 0] == 255 and 100 < np.median(out) < 160
        return
    arr = wide[..., ::-1] if enc.startswith("bgr") else wide
    if enc.endswith("a16"):
        arr = np.dstack([arr, np.full((8, 12), 7, np.uint16)])
    np.testing.assert_array_equal(image_to_rgb(_img(np.ascontiguousarray(arr), enc, big=big)), rgb)


def _smooth_rgb(h=12, w=16):
    """Colour that varies slowly (chroma subsampling and demosaicing are nearly exact on it), red far from blue."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    return np.dstack([200 - 4 * x, 60 + 5 * y, 40 + 2 * x + 2 * y]).astype(np.uint8)


@pytest.mark.parametrize("enc", ["8UC3", "8UC1", "yuv422", "uyvy", "yuv422_yuy2", "yuyv",
                                 "bayer_rggb8", "bayer_bggr8", "bayer_gbrg8", "bayer_grbg8"])
def test_driver_colour_encodings_give_rgb(enc):
    rgb = _smooth_rgb()
    if enc == "8UC3":  # cv_bridge reads 8UC3 as BGR
        np.testing.assert_array_equal(image_to_rgb(_img(np.ascontiguousarray(rgb[..., ::-1]), enc)), rgb)
        return
    if enc == "8UC1":
        np.testing.assert_array_equal(image_to_rgb(_img(rgb[..., 1].copy(), enc)), np.repeat(rgb[..., 1:2], 3, 2))
        return
    if "yuv" in enc or enc in ("uyvy", "yuyv"):  # packed by hand: OpenCV before 4.7 cannot encode 4:2:2
        r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
        y = 16 + 0.257 * r + 0.504 * g + 0.098 * b  # BT.601, video range
        u = 128 - 0.148 * r - 0.291 * g + 0.439 * b
        v = 128 + 0.439 * r - 0.368 * g - 0.071 * b
        u, v = (np.repeat((c[:, 0::2] + c[:, 1::2]) / 2, 2, axis=1) for c in (u, v))  # shared by pixel pairs
        chroma = np.where(np.arange(rgb.shape[1]) % 2 == 0, u, v)  # U for the even pixel, V for the odd
        pair = (chroma, y) if enc in ("yuv422", "uyvy") else (y, chroma)
        data = np.clip(np.round(np.dstack(pair)), 0, 255).astype(np.uint8)
        inner = (slice(None), slice(None))
    else:  # the mosaic: each pixel keeps the one channel its place in the 2x2 pattern names
        pattern = enc.split("_")[1][:4]
        data = np.empty(rgb.shape[:2], np.uint8)
        for k, c in enumerate(pattern):
            data[k // 2::2, k % 2::2] = rgb[k // 2::2, k % 2::2, "rgb".index(c)]
        inner = (slice(2, -2), slice(2, -2))  # demosaicing guesses at the border
    out = image_to_rgb(_img(data, enc))
    assert out.shape == rgb.shape and out.dtype == np.uint8
    err = np.abs(out.astype(int) - rgb.astype(int))[inner]
    assert err.max() <= 6, (enc, err.max())  # a red/blue swap would be off by over 100


def test_step_padding_is_honoured(rng):
    d = rng.integers(1, 5000, (4, 6)).astype(np.uint16)
    out, _ = image_to_depth(_img(d, "16UC1", step=16))
    np.testing.assert_allclose(out, d / 1000.0, rtol=1e-6)
    rgb = rng.integers(0, 255, (4, 6, 3), dtype=np.uint8)
    np.testing.assert_array_equal(image_to_rgb(_img(rgb, "rgb8", step=20)), rgb)


def test_big_endian_depth(rng):
    d = rng.integers(1, 5000, (4, 6)).astype(np.uint16)
    out, _ = image_to_depth(_img(d, "16UC1", big=True))
    np.testing.assert_allclose(out, d / 1000.0, rtol=1e-6)
    f = rng.uniform(0.5, 4, (4, 6)).astype(np.float32)
    out, _ = image_to_depth(_img(f, "32FC1", big=True))
    np.testing.assert_allclose(out, f)


def test_32fc1_nan_inf_negative_become_invalid():
    f = np.array([[1.0, np.nan, np.inf], [-2.0, 0.5, -np.inf]], np.float32)
    out, n_bad = image_to_depth(_img(f, "32FC1"))
    np.testing.assert_array_equal(out, [[1.0, 0, 0], [0, 0.5, 0]])
    assert n_bad == 1  # the negative depth; NaN, +Inf and -Inf are REP 118's (REP 117's) no-measurement markers


def test_depth_in_implausible_units_is_named(rng):
    from perfecting_depth_ros.node.convert import depth_units_warning

    metres = rng.uniform(0.5, 4, (48, 64)).astype(np.float32)
    metres[:20] = 0  # holes do not count
    assert depth_units_warning(metres, "32FC1", 0.001) == ""
    w = depth_units_warning(metres * 1000, "32FC1", 0.001)  # a driver writing millimetres into 32FC1
    assert "implausible" in w and "millimetres give 1000x" in w
    w = depth_units_warning(metres * 1000, "16UC1", 1.0)  # depth_scale set to 1 for millimetre depth
    assert "depth_scale is 1 m per 16UC1 unit" in w
    assert "implausible" in depth_units_warning(metres * 0.001, "16UC1", 1e-6)
    assert depth_units_warning(np.zeros((48, 64), np.float32), "32FC1", 0.001) == ""  # nothing to judge by


@pytest.mark.parametrize("case", ["encoding", "truncated", "empty", "small_step"])
def test_bad_images_are_rejected_with_reason(case):
    m = _img(np.ones((4, 6), np.uint16), "16UC1")
    if case == "encoding":
        m.encoding = "yuv422"
        match = "unsupported"
    elif case == "truncated":
        m.data = bytes(m.data)[:20]
        match = "truncated"
    elif case == "empty":
        m = Image(encoding="16UC1")
        match = "empty"
    else:
        m.step = 4
        match = "step"
    with pytest.raises(ConversionError, match=match):
        image_to_depth(m)


def test_depth_to_image_roundtrip(rng):
    d = rng.uniform(0.3, 5, (6, 8)).astype(np.float32)
    d[0, 0] = np.nan
    m = depth_to_image(d, make_header(5, "cam"))
    assert m.encoding == "32FC1" and m.step == 32 and m.header.frame_id == "cam"
    back = np.frombuffer(bytes(m.data), "<f4").reshape(6, 8)
    np.testing.assert_array_equal(np.isnan(back), np.isnan(d))
    mm = depth_to_image(d, make_header(5, "cam"), "16UC1")
    back16 = np.frombuffer(bytes(mm.data), "<u2").reshape(6, 8)
    assert back16[0, 0] == 0 and abs(int(back16[1, 1]) - round(d[1, 1] * 1000)) <= 1
    far = depth_to_image(np.array([[65.0, 70.0, -1.0]], np.float32), make_header(5, "cam"), "16UC1")
    np.testing.assert_array_equal(np.frombuffer(bytes(far.data), "<u2"), [65000, 0, 0])  # never clipped to 65.5 m


def test_camera_info_checks_and_scaling():
    K = np.array([[500.0, 0, 319.5], [0, 500, 239.5], [0, 0, 1]])
    info = make_info(K, 480, 640, make_header(0, "cam"))
    np.testing.assert_allclose(camera_info_to_K(info, (480, 640)), K)
    half = camera_info_to_K(info, (240, 320))
    assert half[0, 0] == pytest.approx(250) and half[0, 2] == pytest.approx(159.5)
    with pytest.raises(ConversionError, match="aspect"):
        camera_info_to_K(info, (480, 480))
    with pytest.raises(ConversionError, match="zeros"):
        camera_info_to_K(CameraInfo(width=640, height=480), (480, 640))


def test_rectified_intrinsics_come_from_P_as_in_image_geometry(rng):
    """A rectified image's intrinsics are P's left 3x3 (image_geometry, depth_image_proc); K is the raw image's."""
    from perfecting_depth_ros.enhancer import EnhancedDepth
    from perfecting_depth_ros.node.convert import output_messages

    K = np.array([[610.0, 0, 322.0], [0, 612, 241.0], [0, 0, 1]])  # the distorted camera
    info = make_info(K, 480, 640, make_header(0, "cam"))
    info.d = [0.1, -0.05, 0.001, 0.0, 0.0]
    P = np.array([[540.0, 0, 316.0, -540.0 * 0.05], [0, 540, 236.0, 0], [0, 0, 1, 0]])  # rectified, a right camera
    info.p = P.ravel().tolist()
    np.testing.assert_allclose(camera_info_to_K(info, (480, 640)), P[:, :3])
    half = camera_info_to_K(info, (240, 320))
    assert (half[0, 0], half[0, 2]) == (pytest.approx(270), pytest.approx(157.75))
    info.p = [0.0] * 12  # a driver that leaves P empty: K
    np.testing.assert_allclose(camera_info_to_K(info, (480, 640)), K)
    info.p = P.ravel().tolist()

    H, W = 240, 320
    depth = np.full((H, W), 2.0, np.float32)
    out = EnhancedDepth(depth, np.zeros_like(depth), "learned", "test")
    rgb = rng.integers(0, 255, (H, W, 3), dtype=np.uint8)
    m = output_messages(out, rgb, half, info, make_header(7, "cam"))
    x = cloud_to_array(m["points"])["x"]
    assert x[10, 200] == pytest.approx((200 - half[0, 2]) * 2.0 / half[0, 0], rel=1e-5)
    ci = m["camera_info"]
    np.testing.assert_allclose(np.reshape(ci.p, (3, 4))[:, :3], half)
    assert ci.p[3] == pytest.approx(-540.0 * 0.05 / 2)  # the baseline term, for the published size
    assert ci.k[0] == pytest.approx(305) and list(ci.d) == pytest.approx(info.d)


DISTORTED = {  # (model, D): a small-lens plumb_bob, an Azure Kinect colour-like rational_polynomial, a fisheye
    "plumb_bob": [0.1, -0.25, 0.001, -0.0005, 0.08],
    "rational_polynomial": [0.5, -2.6, 0.0005, -0.0002, 1.5, 0.38, -2.4, 1.4],
    "equidistant": [-0.01, 0.02, -0.01, 0.002],
}


@pytest.mark.parametrize("model", sorted(DISTORTED))
def test_raw_images_rays_undo_the_distortion_as_opencv_models_it(model, rng):
    """rectified: false. Each pixel's ray, projected back through OpenCV's own distortion model (the one ROS
    calibration writes into camera_info), lands on that pixel's centre; at a quarter of the calibrated size too."""
    import cv2

    from perfecting_depth_ros.node.convert import raw_image_geometry

    K = np.array([[300.0, 0, 319.5], [0, 301, 239.5], [0, 0, 1]])
    info = make_info(K, 480, 640, make_header(0, "cam"))
    info.distortion_model, info.d = model, DISTORTED[model]
    for H, W in ((480, 640), (120, 160)):
        Ks, rays = raw_image_geometry(info, (H, W))
        assert rays.shape == (H, W, 2) and np.isfinite(rays).all()
        pts = np.concatenate([rays.reshape(-1, 2).astype(np.float64), np.ones((H * W, 1))], 1)
        D = np.array(DISTORTED[model])
        if model == "equidistant":
            uv, _ = cv2.fisheye.projectPoints(pts[None], np.zeros(3), np.zeros(3), Ks, D)
        else:
            uv, _ = cv2.projectPoints(pts, np.zeros(3), np.zeros(3), Ks, D)
        v, u = np.mgrid[:H, :W]
        err = np.hypot(uv.reshape(-1, 2)[:, 0] - u.ravel(), uv.reshape(-1, 2)[:, 1] - v.ravel())
        assert err.max() < 1e-3, err.max()
        corner = np.hypot(*(rays[0, 0] * Ks[[0, 1], [0, 1]] - [-Ks[0, 2], -Ks[1, 2]]))
        assert corner > 1.0  # the distortion moves the corner rays by more than a pixel: undoing it matters


def test_raw_images_give_a_cloud_without_the_distortion(rng):
    """A wall 2 m in front of a distorted camera: with the rays its cloud is flat and spans the true field of view;
    P's pinhole rays (rectified: true, for images that are not) would bend it. The output keeps the input's P."""
    from perfecting_depth_ros.enhancer import EnhancedDepth
    from perfecting_depth_ros.node.convert import ConversionError, output_messages, raw_image_geometry

    K = np.array([[300.0, 0, 159.5], [0, 300, 119.5], [0, 0, 1]])
    info = make_info(K, 240, 320, make_header(0, "cam"))
    barrel = [-0.3, 0.1, 0.0, 0.0, 0.0]  # a wide lens's barrel distortion
    info.distortion_model, info.d = "plumb_bob", barrel
    Kr, rays = raw_image_geometry(info, (240, 320))
    depth = np.full((240, 320), 2.0, np.float32)
    out = EnhancedDepth(depth, np.zeros_like(depth), "raw", "test")
    rgb = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
    m = output_messages(out, rgb, Kr, info, make_header(7, "cam"), rays=rays, cloud_decimation=2)
    c = cloud_to_array(m["points"])
    assert c.shape == (120, 160) and np.all(c["z"] == 2.0)
    np.testing.assert_allclose(np.stack([c["x"], c["y"]], -1), 2.0 * rays[::2, ::2], rtol=1e-6)
    pinhole = backproject(depth, K)
    assert np.abs(pinhole[0, 0, :2] - 2.0 * rays[0, 0]).max() > 0.1  # > 10 cm apart at the corner
    np.testing.assert_allclose(np.reshape(m["camera_info"].p, (3, 4))[:, :3], K)
    assert list(m["camera_info"].d) == pytest.approx(barrel)
    info.d = [0.0] * 5
    assert raw_image_geometry(info, (240, 320))[1] is None  # no distortion: K's pinhole rays
    info.d, info.distortion_model = [0.1, 0.0, 0.0, 0.0], "fisheye_of_my_own"
    with pytest.raises(ConversionError, match="distortion model 'fisheye_of_my_own'"):
        raw_image_geometry(info, (240, 320))
    info.distortion_model, info.d = "rational_polynomial", DISTORTED["rational_polynomial"] + [0.0, 0.0, 0.01, 0.0]
    with pytest.raises(ConversionError, match="takes 8"):  # a thin-prism term is not silently dropped
        raw_image_geometry(info, (240, 320))
    info.distortion_model, info.d = "plumb_bob", [float("nan"), 0.0, 0.0, 0.0, 0.0]
    with pytest.raises(ConversionError, match="NaN"):
        raw_image_geometry(info, (240, 320))


def test_distortion_on_a_raw_topic_is_named_only_where_it_bends_the_cloud():
    from perfecting_depth_ros.node.convert import distortion_warning

    info = make_info(np.array([[300.0, 0, 159.5], [0, 300, 119.5], [0, 0, 1]]), 240, 320, make_header(0, "cam"))
    assert distortion_warning(info, "/k4a/rgb/image_raw") == ""  # no distortion (RealSense's image_raw)
    info.distortion_model, info.d = "rational_polynomial", DISTORTED["rational_polynomial"]
    assert "rectified: false" in distortion_warning(info, "/k4a/rgb/image_raw")
    assert "rectified: false" in distortion_warning(info, "/k4a/rgb/image_raw/compressed")
    assert distortion_warning(info, "/camera/rgb/image_rect_color") == ""  # rectified: P is right for it


def test_camera_info_roi_and_binning_read_as_image_geometry_reads_them(rng):
    """A driver's ROI and binning: the image is a window of the calibrated sensor, binned; K and P follow it."""
    from perfecting_depth_ros.enhancer import EnhancedDepth
    from perfecting_depth_ros.node.convert import output_messages

    K = np.array([[500.0, 0, 319.5], [0, 502, 239.5], [0, 0, 1]])
    info = make_info(K, 480, 640, make_header(0, "cam"))
    info.p = np.hstack([K, [[-25.0], [0], [0]]]).ravel().tolist()
    info.binning_x = info.binning_y = 2
    info.roi.x_offset, info.roi.y_offset, info.roi.width, info.roi.height = 100, 60, 320, 240
    expect = np.array([[250.0, 0, (319.5 - 100) / 2], [0, 251, (239.5 - 60) / 2], [0, 0, 1]])
    np.testing.assert_allclose(camera_info_to_K(info, (120, 160)), expect)
    with pytest.raises(ConversionError, match="aspect"):
        camera_info_to_K(info, (480, 480))
    # a full-sensor ROI given explicitly is the same as none; binning alone halves the image
    info.roi.x_offset, info.roi.y_offset, info.roi.width, info.roi.height = 0, 0, 640, 480
    np.testing.assert_allclose(camera_info_to_K(info, (240, 320)), [[250, 0, 159.75], [0, 251, 119.75], [0, 0, 1]])
    info.roi.x_offset = 10  # 10 + 640 > 640
    with pytest.raises(ConversionError, match="roi"):
        camera_info_to_K(info, (240, 320))

    info.roi.x_offset, info.roi.y_offset, info.roi.width, info.roi.height = 100, 60, 320, 240
    depth = np.full((120, 160), 2.0, np.float32)
    out = EnhancedDepth(depth, np.zeros_like(depth), "learned", "test")
    rgb = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
    m = output_messages(out, rgb, expect, info, make_header(7, "cam"))
    ci = m["camera_info"]
    assert (ci.width, ci.height, ci.binning_x, ci.binning_y) == (160, 120, 0, 0)
    assert (ci.roi.x_offset, ci.roi.y_offset, ci.roi.width, ci.roi.height) == (0, 0, 0, 0)
    np.testing.assert_allclose(np.reshape(ci.k, (3, 3)), expect)
    np.testing.assert_allclose(np.reshape(ci.p, (3, 4)), np.hstack([expect, [[-12.5], [0], [0]]]))
    x = cloud_to_array(m["points"])["x"]
    assert x[5, 150] == pytest.approx((150 - expect[0, 2]) * 2.0 / 250, rel=1e-5)


def test_output_messages_take_the_setters_fast_path_on_humble(monkeypatch, rng):
    """Humble's generated message setters (later distros' with ROS_PYTHON_CHECK_FIELDS=1) check a uint8[] value
    byte by byte in Python unless it is an array.array('B'): about a second per 640x480 frame of outputs. With
    those checks on, no output's data may be checked element by element, and the messages stay exact."""
    import builtins
    import importlib

    from perfecting_depth_ros.enhancer import EnhancedDepth
    from perfecting_depth_ros.node.convert import image_to_depth, output_messages, set_message_data

    for mod in ("sensor_msgs.msg._image", "sensor_msgs.msg._point_cloud2", "sensor_msgs.msg._camera_info"):
        monkeypatch.setattr(importlib.import_module(mod), "ros_python_check_fields", "1")
    checked, real_all = [0], builtins.all

    def counting_all(items):
        items = list(items)
        checked[0] += len(items)
        return real_all(items)

    H, W = 48, 64
    K = np.array([[60.0, 0, 31.5], [0, 60, 23.5], [0, 0, 1]])
    depth = rng.uniform(0.5, 4, (H, W)).astype(np.float32)
    out = EnhancedDepth(depth, np.full_like(depth, 0.02), "learned", "test")
    out.source = np.ones((H, W), np.uint8)
    rgb = rng.integers(0, 255, (H, W, 3), dtype=np.uint8)
    info = make_info(K, H, W, make_header(0, "cam"))
    monkeypatch.setattr(builtins, "all", counting_all)
    msgs = output_messages(out, rgb, K, info, make_header(3, "cam"))
    msgs["input"] = make_image(rgb, "rgb8", make_header(3, "cam"))
    monkeypatch.setattr(builtins, "all", real_all)
    assert checked[0] < 200, f"{checked[0]} values checked one by one"  # camera_info's few floats at most
    assert all(m._check_fields for k, m in msgs.items() if k != "camera_info")
    np.testing.assert_array_equal(image_to_depth(msgs["image_rect"])[0], depth)
    assert bytes(msgs["points"].data) == cloud_from_depth(depth, K, rgb, out.uncertainty).tobytes()
    strided = np.arange(6, dtype=">u2")[::2]
    for m in (Image(), Image(data=[1, 2])):  # a new message, and one already holding data (set, not appended)
        set_message_data(m, strided)
        assert bytes(m.data) == strided.tobytes()


def test_point_cloud_matches_direct_backprojection(rng):
    H, W = 6, 8
    K = np.array([[50.0, 0, 3.5], [0, 52, 2.5], [0, 0, 1]])
    depth = rng.uniform(0.5, 3, (H, W)).astype(np.float32)
    depth[2, 3] = np.nan
    sigma = rng.uniform(0, 0.2, (H, W)).astype(np.float32)
    rgb = rng.integers(0, 255, (H, W, 3), dtype=np.uint8)
    cloud = cloud_from_depth(depth, K, rgb, sigma, max_sigma=0.1)
    kept = sigma <= 0.1
    ref = backproject(depth, K)
    for i, f in enumerate("xyz"):
        np.testing.assert_array_equal(cloud[f][kept], ref[..., i][kept])
    msg = points_to_cloud(cloud, make_header(3, "cam"))
    assert (msg.height, msg.width, msg.point_step, msg.is_dense) == (H, W, 20, False)
    arr = cloud_to_array(msg)
    v, u = 4, 5
    z = depth[v, u]
    if sigma[v, u] <= 0.1:
        assert arr["x"][v, u] == pytest.approx((u - K[0, 2]) * z / K[0, 0], rel=1e-5)
        assert arr["y"][v, u] == pytest.approx((v - K[1, 2]) * z / K[1, 1], rel=1e-5)
        assert arr["z"][v, u] == pytest.approx(z)
    assert np.isnan(arr["z"][2, 3])
    assert np.all(np.isnan(arr["z"][sigma > 0.1]))
    packed = arr["rgb"].view(np.uint32)
    assert packed[1, 1] == (int(rgb[1, 1, 0]) << 16) | (int(rgb[1, 1, 1]) << 8) | int(rgb[1, 1, 2])
    np.testing.assert_allclose(arr["sigma"], sigma)


def test_output_messages_publish_only_trusted_depth_and_the_chosen_encoding(rng):
    from perfecting_depth_ros.enhancer import EnhancedDepth
    from perfecting_depth_ros.node.convert import output_messages

    H, W = 6, 8
    K = np.array([[50.0, 0, 3.5], [0, 52, 2.5], [0, 0, 1]])
    depth = rng.uniform(0.5, 3, (H, W)).astype(np.float32)
    sigma = rng.uniform(0, 0.2, (H, W)).astype(np.float32)
    out = EnhancedDepth(depth, sigma, "learned", "test")
    rgb = rng.integers(0, 255, (H, W, 3), dtype=np.uint8)
    info = make_info(K, H, W, make_header(0, "cam"))
    m = output_messages(out, rgb, K, info, make_header(7, "cam"), depth_max_sigma=0.1)
    pub = np.frombuffer(bytes(m["image_rect"].data), "<f4").reshape(H, W)
    trusted = sigma <= 0.1
    np.testing.assert_array_equal(pub[trusted], depth[trusted])
    assert np.all(np.isnan(pub[~trusted]))
    assert np.all(np.isnan(cloud_to_array(m["points"])["z"][~trusted]))  # the cloud follows the published depth
    np.testing.assert_array_equal(np.frombuffer(bytes(m["uncertainty"].data), "<f4").reshape(H, W), sigma)
    m16 = output_messages(out, rgb, K, info, make_header(7, "cam"), encoding="16UC1", with_cloud=False)
    mm = np.frombuffer(bytes(m16["image_rect"].data), "<u2").reshape(H, W)
    assert m16["image_rect"].encoding == "16UC1" and "points" not in m16
    assert np.abs(mm.astype(np.int32) - np.round(depth * 1000).astype(np.int32)).max() <= 1
