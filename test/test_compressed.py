"""CompressedImage decoding (image_transport's compressed and compressedDepth): payloads built here the way the
C++ plugins build them, a hand-worked RVL vector, and every kind of broken payload."""

from __future__ import annotations

import struct

import cv2
import numpy as np
import pytest
from sensor_msgs.msg import CompressedImage

from perfecting_depth_ros.node.compressed import compressed_to_depth, compressed_to_rgb, decode_rvl
from perfecting_depth_ros.node.convert import ConversionError, image_to_depth, image_to_rgb
from perfecting_depth_ros.node.harness import make_header


def rvl_encode(values: np.ndarray) -> bytes:
    """RVL as compressed_depth_image_transport's RvlCodec::CompressRVL writes it (a plain loop, written from the
    algorithm, independent of the vectorised decoder): width, height, then 32-bit words of nibbles."""
    words, state = [], {"word": 0, "count": 0}

    def vle(v: int) -> None:
        while True:
            nibble = v & 7
            v >>= 3
            if v:
                nibble |= 8
            state["word"] = ((state["word"] << 4) | nibble) & 0xFFFFFFFF
            state["count"] += 1
            if state["count"] == 8:
                words.append(state["word"])
                state["word"], state["count"] = 0, 0
            if not v:
                break

    flat = [int(x) for x in values.ravel()]
    i, prev, n = 0, 0, len(flat)
    while i < n:
        z = 0
        while i < n and flat[i] == 0:
            i, z = i + 1, z + 1
        vle(z)
        nz = 0
        while i + nz < n and flat[i + nz]:
            nz += 1
        vle(nz)
        for _ in range(nz):
            cur = flat[i]
            delta = cur - prev
            vle((delta << 1) ^ (delta >> 31))
            prev, i = cur, i + 1
    if state["count"]:
        words.append((state["word"] << 4 * (8 - state["count"])) & 0xFFFFFFFF)
    h, w = values.shape
    return struct.pack("<II", w, h) + np.asarray(words, "<u4").tobytes()


def compressed_depth_payload(depth: np.ndarray, encoding: str, codec: str, depth_max=10.0, z0=100.0) -> bytes:
    """compressedDepth data as encodeCompressedDepthImage builds it: 16UC1 raw units; 32FC1 as quantised inverse
    depth q = A / d + B (0 where d >= depth_max or NaN)."""
    if encoding == "32FC1":
        qa = np.float32(z0 * (z0 + 1.0))
        qb = np.float32(1.0 - qa / depth_max)
        with np.errstate(invalid="ignore", divide="ignore"):
            q = np.where(depth < depth_max, qa / depth + qb, 0).astype(np.uint16)
        header = struct.pack("<iff", 0, qa, qb)
    else:
        q = depth
        header = struct.pack("<iff", 0, 0.0, 0.0)
    body = cv2.imencode(".png", q)[1].tobytes() if codec == "png" else rvl_encode(q)
    return header + body


def test_rvl_hand_worked_vector():
    # pixels 0 0 5 5 0: zeros 2 | nonzeros 2 | 5 -> zigzag 10 = nibbles 0xA, 0x1 | 5 again -> 0 | zeros 1 | nonzeros 0
    # nibble stream 2 2 A 1 0 1 0, padded into one word 0x22A10100, stored little-endian
    payload = struct.pack("<II", 5, 1) + struct.pack("<I", 0x22A10100)
    assert rvl_encode(np.array([[0, 0, 5, 5, 0]], np.uint16)) == payload
    np.testing.assert_array_equal(decode_rvl(np.frombuffer(payload, np.uint8)), [[0, 0, 5, 5, 0]])


@pytest.mark.parametrize("kind", ["runs", "random", "zeros", "constant", "extremes"])
def test_rvl_round_trip(kind):
    rng = np.random.default_rng(3)
    h, w = 37, 53
    if kind == "runs":  # the C++ test's case: runs of random length and value, many zeros
        lengths = rng.integers(0, 10, h * w)
        vals = np.repeat(rng.integers(0, 10, lengths.size), lengths)[: h * w]
        img = np.pad(vals, (0, h * w - vals.size)).reshape(h, w).astype(np.uint16)
    elif kind == "random":
        img = rng.integers(0, 65536, (h, w)).astype(np.uint16)
        img[rng.random((h, w)) < 0.2] = 0
    elif kind == "zeros":
        img = np.zeros((h, w), np.uint16)
    elif kind == "constant":
        img = np.full((h, w), 42, np.uint16)
    else:
        img = np.tile(np.array([65535, 1, 0, 65535, 0, 1], np.uint16), h * w)[: h * w].reshape(h, w)
    got = decode_rvl(np.frombuffer(rvl_encode(img), np.uint8))
    assert got.dtype == np.uint16
    np.testing.assert_array_equal(got, img)


@pytest.mark.parametrize("codec", ["png", "rvl"])
def test_compressed_depth_16uc1(codec):
    mm = np.random.default_rng(0).integers(400, 6000, (48, 64)).astype(np.uint16)
    mm[10:20, 5:30] = 0
    depth, n_bad = compressed_to_depth(f"16UC1; compressedDepth {codec}", compressed_depth_payload(mm, "16UC1", codec))
    assert n_bad == 0 and depth.dtype == np.float32
    np.testing.assert_allclose(depth, mm.astype(np.float32) * np.float32(0.001))
    # the unit is the node's depth_scale, as for a raw 16UC1 image
    depth, _ = compressed_to_depth(f"16UC1; compressedDepth {codec}", compressed_depth_payload(mm, "16UC1", codec), 1e-4)
    np.testing.assert_allclose(depth, mm * np.float32(1e-4), rtol=1e-6)


@pytest.mark.parametrize("codec", ["png", "rvl"])
def test_compressed_depth_32fc1_inverse_depth(codec):
    rng = np.random.default_rng(1)
    metres = rng.uniform(0.4, 9.0, (48, 64)).astype(np.float32)
    metres[0, :10] = np.nan  # invalid
    metres[1, :10] = 12.0  # past depth_max: sent as invalid
    depth, n_bad = compressed_to_depth(f"32FC1; compressedDepth {codec}",
                                       compressed_depth_payload(metres, "32FC1", codec))
    assert n_bad == 0
    assert np.all(depth[:2, :10] == 0)
    ok = np.isfinite(metres) & (metres < 10)
    assert np.all(depth[ok] > 0)
    # quantisation step of inverse depth: d^2 / A per unit (A = 10100); the encoder truncates q, so decoded depth
    # is never nearer than the truth and at most one step farther
    err = depth[ok] - metres[ok]
    assert np.all(err >= -1e-4) and np.all(err <= 1.05 * metres[ok] ** 2 / 10100 + 1e-4)
    assert np.median(err) > 0


def test_plain_compressed_16bit_png_depth_and_older_format_string():
    mm = np.random.default_rng(2).integers(0, 5000, (30, 40)).astype(np.uint16)
    png = cv2.imencode(".png", mm)[1].tobytes()
    depth, _ = compressed_to_depth("16UC1; png compressed mono16", png)
    np.testing.assert_allclose(depth, mm * np.float32(0.001))
    # older compressed_depth_image_transport wrote "16UC1; compressedDepth" for PNG
    depth, _ = compressed_to_depth("16UC1; compressedDepth", struct.pack("<iff", 0, 0, 0) + png)
    np.testing.assert_allclose(depth, mm * np.float32(0.001))


def test_colour_jpeg_png_mono_through_messages():
    rng = np.random.default_rng(4)
    rgb = cv2.GaussianBlur(rng.integers(0, 255, (40, 56, 3)).astype(np.uint8), (5, 5), 2)
    rgb[:, :28] = (rgb[:, :28] // 4 + np.array([190, 20, 0], np.uint8))  # reddish left, bluish right half
    rgb[:, 28:] = (rgb[:, 28:] // 4 + np.array([0, 30, 190], np.uint8))
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    msg = CompressedImage()
    msg.format = "rgb8; png compressed bgr8"
    msg.data = cv2.imencode(".png", bgr)[1].tobytes()
    np.testing.assert_array_equal(image_to_rgb(msg), rgb)  # lossless: exact, in RGB order
    msg.format = "rgb8; jpeg compressed bgr8"
    msg.data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()
    got = image_to_rgb(msg).astype(int)
    # lossy, but in RGB order: far nearer the original than its channel-swapped version
    assert got.shape == rgb.shape and np.abs(got - rgb).mean() < 6 < 3 * 6 < np.abs(got - rgb[..., ::-1]).mean()
    msg.format = "mono8; jpeg compressed mono8"
    msg.data = cv2.imencode(".png", rgb[..., 1])[1].tobytes()
    got = image_to_rgb(msg)
    assert got.shape == rgb.shape and np.all(got[..., 0] == rgb[..., 1]) and np.all(got[..., 2] == rgb[..., 1])
    mm = rng.integers(500, 3000, (40, 56)).astype(np.uint16)
    dmsg = CompressedImage()
    dmsg.format = "16UC1; compressedDepth rvl"
    dmsg.data = compressed_depth_payload(mm, "16UC1", "rvl")
    depth, n_bad = image_to_depth(dmsg, 0.001)
    np.testing.assert_allclose(depth, mm * np.float32(0.001))


def _broken_cases():
    mm = np.random.default_rng(5).integers(500, 3000, (30, 40)).astype(np.uint16)
    rvl = compressed_depth_payload(mm, "16UC1", "rvl")
    png = compressed_depth_payload(mm, "16UC1", "png")
    jpg = cv2.imencode(".jpg", np.zeros((30, 40, 3), np.uint8))[1].tobytes()
    bad_size = rvl[:12] + struct.pack("<II", 40000, 40000) + rvl[20:]
    return {
        "empty depth": ("depth", "16UC1; compressedDepth png", b"", "empty"),
        "header only": ("depth", "16UC1; compressedDepth png", png[:12], "truncated"),
        "truncated png": ("depth", "16UC1; compressedDepth png", png[: len(png) // 2], "cannot decode"),
        "truncated rvl": ("depth", "16UC1; compressedDepth rvl", rvl[: 12 + 8 + 4 * ((len(rvl) - 20) // 8)],
                          "RVL"),
        "rvl not whole words": ("depth", "16UC1; compressedDepth rvl", rvl[:-1], "multiple of 4"),
        "rvl absurd size": ("depth", "16UC1; compressedDepth rvl", bad_size, "malformed RVL"),
        "unknown depth encoding": ("depth", "8UC3; compressedDepth png", png, "unsupported compressedDepth"),
        "8-bit png as depth": ("depth", "16UC1; png compressed", jpg, "16-bit single-channel"),
        "bad quantisation": ("depth", "32FC1; compressedDepth png", struct.pack("<iff", 0, float("nan"), 0) + png[12:],
                             "quantisation"),
        "empty colour": ("rgb", "rgb8; jpeg compressed bgr8", b"", "empty"),
        "truncated jpeg": ("rgb", "rgb8; jpeg compressed bgr8", jpg[: len(jpg) // 2], "cannot decode"),
        "not an image": ("rgb", "jpeg", b"hello world, not a jpeg", "cannot decode"),
        "depth on colour topic": ("rgb", "16UC1; compressedDepth png", png, "compressedDepth"),
    }


@pytest.mark.parametrize("case", sorted(_broken_cases()))
def test_broken_payloads_raise_clear_errors(case):
    kind, fmt, data, words = _broken_cases()[case]
    with pytest.raises(ConversionError, match=words):
        if kind == "rgb":
            compressed_to_rgb(fmt, np.frombuffer(data, np.uint8))
        else:
            compressed_to_depth(fmt, np.frombuffer(data, np.uint8))


def test_corrupt_png_gives_one_reason_and_no_opencv_lines(capfd):
    """A PNG cut inside its header: the ConversionError says why, and OpenCV's own warning (which it would print on
    every such frame) stays off stderr; OpenCV logs as before afterwards (the same bytes decoded directly print it)."""
    png = compressed_depth_payload(np.full((30, 40), 1000, np.uint16), "16UC1", "png")
    capfd.readouterr()
    with pytest.raises(ConversionError, match="cannot decode"):
        compressed_to_depth("16UC1; compressedDepth png", np.frombuffer(png[:12 + 40], np.uint8))
    err = capfd.readouterr().err
    assert "grfmt_png" not in err, err
    assert cv2.imdecode(np.frombuffer(png[12:12 + 40], np.uint8), cv2.IMREAD_UNCHANGED) is None
    assert "grfmt_png" in capfd.readouterr().err


@pytest.mark.parametrize("encoding", ["32FC1", "16UC1"])
def test_depth_output_written_as_compressed_depth(encoding):
    """The node's own depth output as compressedDepth: the header and format compressed_depth_image_transport's
    decoder reads, depth within half a quantisation step (32FC1) or exact (16UC1), and what that transport leaves
    out (beyond depth_max, and for 32FC1 nearer than its quantisation reaches) sent as invalid, never wrapped."""
    from perfecting_depth_ros.node.convert import depth_array, depth_to_compressed_image, depth_to_image

    rng = np.random.default_rng(5)
    metres = rng.uniform(0.3, 9.5, (48, 64)).astype(np.float32)
    metres[0, :10] = np.nan
    metres[1, :10] = 12.0  # beyond depth_max (10 m)
    metres[2, :10] = 0.1  # nearer than 32FC1's quantisation reaches (0.154 m)
    header = make_header(7, "cam")
    msg = depth_to_compressed_image(metres, header, encoding, depth_max=10.0)
    assert msg.format == f"{encoding}; compressedDepth png" and msg.header.frame_id == "cam"
    data = bytes(msg.data)
    fmt, qa, qb = struct.unpack("<iff", data[:12])
    assert fmt == 0  # INV_DEPTH
    depth, n_bad = compressed_to_depth(msg.format, data)
    assert n_bad == 0 and depth.shape == metres.shape
    assert np.all(depth[:2, :10] == 0)
    ok = np.isfinite(metres) & (metres < 10)
    if encoding == "32FC1":
        assert (qa, qb) == (np.float32(10100.0), np.float32(1 - 10100.0 / 10))
        assert np.all(depth[2, :10] == 0)
        ok[2, :10] = False
        # C++'s decoder: d = A / (q - B), q = 0 invalid
        q = cv2.imdecode(np.frombuffer(data[12:], np.uint8), cv2.IMREAD_UNCHANGED)
        np.testing.assert_allclose(np.float32(qa) / (q[ok].astype(np.float32) - np.float32(qb)), depth[ok], rtol=1e-6)
        assert np.all(np.abs(depth[ok] - metres[ok]) <= 0.5 * metres[ok] ** 2 / 10100 * 1.01 + 1e-6)
    else:
        mm = depth_array(metres, "16UC1")
        raw = np.frombuffer(bytes(depth_to_image(metres, header, "16UC1").data), "<u2").reshape(metres.shape)
        np.testing.assert_array_equal(raw, mm)
        np.testing.assert_array_equal(np.rint(depth * 1000)[ok], mm[ok])  # exact millimetres
    with pytest.raises(ValueError, match="32FC1 or 16UC1"):
        from perfecting_depth_ros.node.compressed import depth_to_compressed

        depth_to_compressed(np.zeros((2, 2), np.uint8), "mono8")
