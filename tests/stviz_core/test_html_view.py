"""A result in a notebook (#23 item 5): Result._repr_html_ plays every input of every visualization
with numpy and the standard library only; text is escaped; the PNGs decode to the frames."""

import base64
import re
import struct
import zlib

import numpy as np
import pytest

import stviz_core as sv
from stviz_core.html_view import appearance_colours, flow_colours, png_bytes, result_html
from stviz_core.testing import LinearBackend


def decode_png(data: bytes) -> np.ndarray:
    """A minimal PNG reader for 8-bit RGB/RGBA, no interlace, every filter type: checks the CRCs."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF, kind
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0
    channels = 3 if colour == 2 else 4
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(height, 1 + width * channels)
    out = np.zeros((height, width * channels), np.int64)
    for y in range(height):
        kind, line = raw[y, 0], raw[y, 1:].astype(np.int64)
        up = out[y - 1] if y else np.zeros_like(line)
        for x in range(len(line)):
            left = out[y, x - channels] if x >= channels else 0
            corner = up[x - channels] if x >= channels and y else 0
            if kind == 0:
                pred = 0
            elif kind == 1:
                pred = left
            elif kind == 2:
                pred = up[x]
            elif kind == 3:
                pred = (left + up[x]) // 2
            else:
                p = left + up[x] - corner
                pred = min((abs(p - left), 0, left), (abs(p - up[x]), 1, up[x]),
                           (abs(p - corner), 2, corner))[2]
            out[y, x] = (line[x] + pred) % 256
    return out.astype(np.uint8).reshape(height, width, channels)


def two_stream(n=2, steps=2):
    be = LinearBackend({"rgb": np.ones((1, 3, 3, 3, n)), "flow": np.ones((4, 3, 3, 2, n))},
                       {"rgb": ((1, 12, 12, 3), "appearance"), "flow": ((4, 12, 12, 2), "motion")},
                       xp=np)
    return sv.ascend(be, [sv.channel(c) for c in range(n)], steps=steps, seed=0, preset="paper")


def sprites(page):
    """``[(aria-label, frames, PNG bytes, style)]`` of every playing element."""
    found = re.findall(r"<div class='stviz-clip' role='img' aria-label='([^']*)' data-frames='(\d+)' "
                       r"style='([^']*)'>", page)
    return [(label, int(frames), base64.b64decode(re.search(r"base64,([^)]*)\)", style).group(1)),
             style) for label, frames, style in found]


def test_png_bytes_decode_to_the_image_and_refuse_what_is_not_one():
    rng = np.random.default_rng(0)
    for channels in (3, 4):
        img = rng.integers(0, 256, (5, 7, channels), dtype=np.uint8)
        np.testing.assert_array_equal(decode_png(png_bytes(img)), img)
    with pytest.raises(ValueError, match=r"uint8 image \(H, W, 3\)"):
        png_bytes(np.zeros((4, 4, 3)))
    with pytest.raises(ValueError, match="uint8 image"):
        png_bytes(np.zeros((4, 4), np.uint8))


def test_a_result_shows_one_playing_element_per_input_and_visualization():
    result = two_stream(n=3)
    page = result._repr_html_()
    found = sprites(page)
    assert len(found) == 3 * 2  # visualizations x inputs
    assert [label for label, *_ in found] == ["rgb (appearance)", "flow (motion)"] * 3
    for label, frames, png, style in found:
        if label.startswith("flow"):
            assert frames == 4 and "steps(4)" in style and "animation:stviz-play-4-" in style
            assert re.search(r"@keyframes stviz-play-4-\d+\{", page)
        else:
            assert frames == 1 and "animation" not in style  # one frame stays still
    for n in range(3):
        assert f"<b>{result.config['objectives'][n]}</b>" in page


def test_the_embedded_sprite_sheet_decodes_to_the_frames():
    result = two_stream(n=2)
    found = sprites(result._repr_html_())
    flow = flow_colours(result.inputs["flow"][1])  # (4, 12, 12, 3)
    expected = np.concatenate(list(flow), axis=1)  # the frames side by side
    np.testing.assert_array_equal(decode_png(found[3][2]), expected)
    rgb = appearance_colours(result.inputs["rgb"][0])[0]
    np.testing.assert_array_equal(decode_png(found[0][2]), rgb)
    assert rgb.min() == 0 and rgb.max() == 255  # min-max scaled over the clip


def test_the_colour_wheel_codes_direction_by_hue_and_speed_by_saturation():
    flow = np.zeros((1, 1, 5, 2))
    flow[0, 0] = [[2, 0], [0, 2], [-2, 0], [0, -2], [0, 0]]  # right, down, left, up, still
    col = flow_colours(flow)[0, 0].astype(int)
    assert tuple(col[0]) == (255, 0, 0)  # rightward: red
    assert tuple(col[2]) == (0, 255, 255)  # leftward: the opposite hue
    assert col[1, 1] > col[1, 0] and col[3, 2] > col[3, 0]  # down greenish, up bluish/violet
    assert tuple(col[4]) == (255, 255, 255)  # no motion: white
    half = flow_colours(np.array([[[[2.0, 0.0], [1.0, 0.0]]]]))[0, 0]
    assert tuple(half[1]) == (255, 128, 128)  # half the top speed: half saturated


def test_text_reaches_the_view_escaped():
    result = two_stream(n=1)
    result.config["layer"] = "<script>alert(1)</script>"
    page = result._repr_html_()
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    page = result_html(result, title="a 'quoted' <b>title</b>")
    assert "<b>title</b>" not in page and "a &#x27;quoted&#x27; &lt;b&gt;title&lt;/b&gt;" in page


def test_a_large_result_is_shown_in_part_and_says_so():
    result = two_stream(n=3)
    page = result_html(result, max_items=2, max_frames=3, max_side=6)
    found = sprites(page)
    assert len(found) == 2 * 2 and "showing 2 of 3 visualizations, 3 of 4 frames" in page
    flow = [f for f in found if f[0].startswith("flow")][0]
    assert flow[1] == 3 and decode_png(flow[2]).shape == (6, 3 * 6, 3)  # every 2nd pixel, 3 frames
