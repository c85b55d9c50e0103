"""The simulated dermatoscope's scene: a pigmented lesion on skin, under the instrument's ring of light.

A contact dermatoscope lights a round field of skin evenly and leaves the rest of the sensor
dark: the vignette is a disc with a soft edge, not the otoscope's gradual fall-off. The skin
has a fine texture (pores, the crossing furrows of the skin lines) that gives the focus figure
its edges; the lesion is an irregular brown spot with a darker pigment network and dots.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from numpy.typing import NDArray

from sim.camera import _MARGIN, Image, Scene

_SKIN_BGR = (150.0, 172.0, 214.0)
_LESION_BGR = (52, 78, 128)
_NETWORK_BGR = (30, 45, 80)


class SkinLesionScene(Scene):
    """The dermatoscope's view: skin with a pigmented spot, lit by a disc of light."""

    def _paint_scene(self) -> Image:
        h, w = self.height + 2 * _MARGIN, self.width + 2 * _MARGIN
        noise = self._rng.normal(0.0, 1.0, (h, w)).astype(np.float32)
        texture = np.asarray(cv2.GaussianBlur(noise, (0, 0), 1.0), dtype=np.float32) * 40.0
        skin = np.empty((h, w, 3), np.float32)
        for channel, base in enumerate(_SKIN_BGR):
            skin[..., channel] = base + texture
        image = np.clip(skin, 0, 255).astype(np.uint8)
        size = min(self.height, self.width)
        for angle in (20.0, 110.0):  # the skin lines: two families of fine furrows
            self._furrows(image, angle, spacing=max(6, size // 40))
        self._lesion(image, (w / 2, h / 2), 0.16 * size)
        return image

    def _furrows(self, image: Image, angle_deg: float, spacing: int) -> None:
        h, w = image.shape[:2]
        direction = (math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg)))
        normal = (-direction[1], direction[0])
        reach = int(math.hypot(w, h))
        for offset in range(-reach, reach, spacing):
            jitter = float(self._rng.uniform(-spacing / 3, spacing / 3))
            cx, cy = w / 2 + normal[0] * (offset + jitter), h / 2 + normal[1] * (offset + jitter)
            start = (int(cx - direction[0] * reach), int(cy - direction[1] * reach))
            end = (int(cx + direction[0] * reach), int(cy + direction[1] * reach))
            cv2.line(image, start, end, (128, 148, 190), 1, cv2.LINE_AA)

    def _lesion(self, image: Image, center: tuple[float, float], radius: float) -> None:
        """An irregular brown spot: a wobbly outline, a pigment network and a few dark dots."""
        angles = np.linspace(0, 2 * math.pi, 48, endpoint=False)
        wobble = 1 + 0.18 * np.sin(3 * angles + 0.7) + 0.08 * self._rng.normal(size=angles.size)
        outline = np.stack([center[0] + radius * wobble * np.cos(angles),
                            center[1] + 0.85 * radius * wobble * np.sin(angles)], axis=1).astype(np.int32)
        mask = np.zeros(image.shape[:2], np.uint8)
        cv2.fillPoly(mask, [outline], 255, cv2.LINE_AA)
        network = np.zeros(image.shape[:2], np.uint8)
        step = max(4, int(radius / 6))
        for x in range(int(center[0] - 1.4 * radius), int(center[0] + 1.4 * radius), step):
            cv2.line(network, (x, 0), (x + step, image.shape[0]), 255, 2)
        for y in range(int(center[1] - 1.4 * radius), int(center[1] + 1.4 * radius), step):
            cv2.line(network, (0, y), (image.shape[1], y + step), 255, 2)
        soft = np.asarray(cv2.GaussianBlur(mask, (0, 0), 3.0), dtype=np.float32)[..., None] / 255.0
        spot = np.where((network > 0)[..., None], np.array(_NETWORK_BGR, np.float32), np.array(_LESION_BGR, np.float32))
        image[:] = np.clip(image * (1 - soft) + spot * soft, 0, 255).astype(np.uint8)
        for _ in range(9):
            r = radius * float(self._rng.uniform(0, 0.7))
            a = float(self._rng.uniform(0, 2 * math.pi))
            dot = (int(center[0] + r * math.cos(a)), int(center[1] + r * math.sin(a)))
            cv2.circle(image, dot, int(self._rng.integers(2, 5)), (20, 28, 50), -1, cv2.LINE_AA)

    def _optical_vignette(self) -> NDArray[np.float32]:
        yy, xx = np.mgrid[0 : self.height, 0 : self.width].astype(np.float32)
        r = np.hypot(xx - self.width / 2, yy - self.height / 2) / (0.5 * min(self.width, self.height))
        disc = np.clip((1.12 - r) / 0.2, 0.04, 1.0) * (1.0 - 0.12 * r**2)
        return np.asarray(disc[..., None], dtype=np.float32)
