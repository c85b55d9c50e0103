"""Glare guidance (drivers/camera.py): the share of saturated white pixels, judged per camera kind."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from devices.camera import CameraKind
from drivers.camera import THRESHOLDS, frame_metrics, glare_share, guidance
from sim.camera import CameraFault, EarCanalScene, Scene
from sim.skin import SkinLesionScene

SKIN_BGR = (150, 172, 214)


def skin(height: int = 240, width: int = 320, seed: int = 3) -> np.ndarray:
    """Textured skin: its own colour, and edges for the focus figure."""
    rng = np.random.default_rng(seed)
    base = np.array(SKIN_BGR, np.float32) + rng.normal(0, 18, (height, width, 1))
    return np.asarray(np.clip(base, 0, 255), np.uint8)


def with_white_patch(image: np.ndarray, share: float) -> np.ndarray:
    """The image with a white square covering `share` of it: a reflection of the instrument's light."""
    out = image.copy()
    side = round((share * image.shape[0] * image.shape[1]) ** 0.5)
    out[:side, :side] = 255
    return out


def test_a_bright_skin_tone_is_no_glare_but_a_white_patch_is() -> None:
    reddish = np.zeros((100, 100, 3), np.uint8)
    reddish[...] = (120, 160, 255)  # the red channel saturated alone: a colour, not a reflection
    assert glare_share(reddish) == 0.0
    assert glare_share(with_white_patch(skin(), 0.05)) == pytest.approx(0.05, abs=0.005)
    grey = np.full((50, 40), 100, np.uint8)
    grey[:10] = 252
    assert glare_share(grey) == pytest.approx(0.2)


def test_the_dermatoscope_is_stricter_about_glare_than_the_otoscope() -> None:
    metrics = frame_metrics(with_white_patch(skin(), 0.05))
    assert guidance(metrics, None, THRESHOLDS["dermatoscope"]) == "glare"
    assert guidance(metrics, None, THRESHOLDS["otoscope"]) == "ok"  # its cone of light is a reflection too
    assert guidance(frame_metrics(skin()), None, THRESHOLDS["dermatoscope"]) == "ok"
    assert frame_metrics(with_white_patch(skin(), 0.15)).glare > THRESHOLDS["otoscope"].glare_above


def test_light_comes_before_glare_and_glare_before_focus() -> None:
    dark = with_white_patch(np.full((240, 320, 3), 5, np.uint8), 0.05)
    assert guidance(frame_metrics(dark), None, THRESHOLDS["dermatoscope"]) == "too_dark"
    flat = with_white_patch(np.full((240, 320, 3), SKIN_BGR, np.uint8), 0.05)  # no texture: blurred
    metrics = frame_metrics(flat)
    assert metrics.focus > THRESHOLDS["dermatoscope"].min_focus  # the patch's edges alone look sharp
    assert guidance(metrics, None, THRESHOLDS["dermatoscope"]) == "glare"


@pytest.mark.parametrize(("scene", "kind"), [(SkinLesionScene(), "dermatoscope"), (EarCanalScene(), "otoscope")])
def test_the_simulated_scenes_guide_as_their_kind_expects(scene: Scene, kind: CameraKind) -> None:
    thresholds = THRESHOLDS[kind]
    expected = {(): "ok", (CameraFault.GLARE,): "glare", (CameraFault.BLUR,): "hold_still",
                (CameraFault.DARK,): "too_dark"}
    for faults, advice in expected.items():
        assert guidance(frame_metrics(scene.render(5, faults)), None, thresholds) == advice, (kind, faults)


@settings(max_examples=60, deadline=None)
@given(arrays(np.uint8, st.tuples(st.integers(1, 40), st.integers(1, 40), st.sampled_from([3, 4]))))
def test_glare_is_a_share_whatever_the_image(image: np.ndarray) -> None:
    share = frame_metrics(image).glare
    assert 0.0 <= share <= 1.0
