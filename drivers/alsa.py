"""A thin ctypes adapter over the system's alsa-lib (libasound.so.2) for capturing one mono PCM.

The stethoscope is a USB Audio Class device: the kernel makes it an ALSA card, and alsa-lib
opens it by PCM name (`plughw:CARD=Stethoscope,DEV=0`). Each open uses a local copy of
alsa-lib's global configuration, with an optional file of extra PCM definitions loaded on top:
the same code opens a real card and the simulator's `file` PCM (docs/design.md, "The
stethoscope"). The format is fixed: S16_LE, interleaved, one channel, 48 kHz, alsa-lib's own
resampling and conversion on (the `plug` layer). alsa-lib's stderr messages go to logging.

Everything here blocks: it runs in the stethoscope's capture thread, never on the event loop.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import logging
from dataclasses import dataclass
from pathlib import Path

from devices.instrument import DeviceUnavailable

log = logging.getLogger(__name__)

SAMPLE_RATE = 48_000
PERIOD_FRAMES = 480  # 10 ms
SAMPLE_BYTES = 2  # S16_LE, mono
_STREAM_CAPTURE = 1
_FORMAT_S16_LE = 2
_ACCESS_RW_INTERLEAVED = 3
_LATENCY_US = 100_000  # the device's buffer: room for the capture thread to be late, never a delay added

# void (*)(const char *file, int line, const char *function, int err, const char *fmt, ...): the
# variadic arguments are not read; the format alone says what alsa-lib complained about.
_ErrorHandler = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int,
                                 ctypes.c_char_p)


class AlsaError(DeviceUnavailable):
    """alsa-lib refused: the card is absent, busy, unplugged, or the configuration does not define the PCM."""


@dataclass(frozen=True, slots=True)
class PcmSpec:
    """Which PCM to open: its name, and a file of extra ALSA definitions loaded on top of the system's."""

    name: str
    conf: Path | None = None


class Alsa:
    """alsa-lib, loaded once per owner, with its error messages routed into logging."""

    def __init__(self) -> None:
        name = ctypes.util.find_library("asound") or "libasound.so.2"
        try:
            self._lib = ctypes.CDLL(name)
        except OSError as exc:
            raise AlsaError(f"alsa-lib is not installed ({name}: {exc})") from exc
        lib = self._lib
        lib.snd_strerror.restype = ctypes.c_char_p
        lib.snd_strerror.argtypes = [ctypes.c_int]
        lib.snd_pcm_readi.restype = ctypes.c_long
        lib.snd_pcm_readi.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_ulong]
        lib.snd_pcm_recover.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
        lib.snd_pcm_set_params.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_uint,
                                           ctypes.c_uint, ctypes.c_int, ctypes.c_uint]
        lib.snd_pcm_open_lconf.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_char_p, ctypes.c_int,
                                           ctypes.c_int, ctypes.c_void_p]
        lib.snd_pcm_close.argtypes = [ctypes.c_void_p]
        lib.snd_config_copy.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p]
        lib.snd_config_load.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        lib.snd_config_delete.argtypes = [ctypes.c_void_p]
        lib.snd_input_stdio_open.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_char_p, ctypes.c_char_p]
        lib.snd_input_close.argtypes = [ctypes.c_void_p]
        self._handler = _ErrorHandler(_log_alsa)  # kept alive as long as alsa-lib may call it
        lib.snd_lib_error_set_handler(self._handler)

    def strerror(self, code: int) -> str:
        """alsa-lib's text for a negative error code."""
        text: bytes | None = self._lib.snd_strerror(code)
        return text.decode(errors="replace") if text else f"error {code}"

    def check(self, code: int, what: str) -> int:
        """`code` when it is not an error, else AlsaError saying what failed and why."""
        if code < 0:
            raise AlsaError(f"{what}: {self.strerror(code)}")
        return code

    def open_capture(self, spec: PcmSpec) -> Pcm:
        """Open `spec` for capture at 48 kHz mono S16; AlsaError naming the PCM when it cannot be."""
        config = self._local_config(spec)
        handle = ctypes.c_void_p()
        try:
            self.check(self._lib.snd_pcm_open_lconf(ctypes.byref(handle), spec.name.encode(), _STREAM_CAPTURE, 0,
                                                    config), f"cannot open {spec.name}")
        finally:
            self._lib.snd_config_delete(config)
        pcm = Pcm(self, self._lib, handle, spec.name)
        try:
            self.check(self._lib.snd_pcm_set_params(handle, _FORMAT_S16_LE, _ACCESS_RW_INTERLEAVED, 1, SAMPLE_RATE,
                                                    1, _LATENCY_US), f"{spec.name} refuses 48 kHz mono S16")
        except AlsaError:
            pcm.close()
            raise
        return pcm

    def _local_config(self, spec: PcmSpec) -> ctypes.c_void_p:
        """A copy of alsa-lib's global configuration, with `spec.conf` loaded on top; the caller deletes it."""
        lib = self._lib
        self.check(lib.snd_config_update(), "cannot read the ALSA configuration")
        config = ctypes.c_void_p()
        self.check(lib.snd_config_copy(ctypes.byref(config), ctypes.c_void_p.in_dll(lib, "snd_config")),
                   "cannot copy the ALSA configuration")
        if spec.conf is None:
            return config
        stream = ctypes.c_void_p()
        try:
            self.check(lib.snd_input_stdio_open(ctypes.byref(stream), str(spec.conf).encode(), b"r"),
                       f"cannot read {spec.conf}")
            try:
                self.check(lib.snd_config_load(config, stream), f"{spec.conf} is not an ALSA configuration")
            finally:
                lib.snd_input_close(stream)
        except AlsaError:
            lib.snd_config_delete(config)
            raise
        return config


class Pcm:
    """One open capture PCM: fixed-size reads of S16 mono, recovered after an overrun."""

    def __init__(self, alsa: Alsa, lib: ctypes.CDLL, handle: ctypes.c_void_p, name: str) -> None:
        self._alsa = alsa
        self._lib = lib
        self._handle: ctypes.c_void_p | None = handle
        self.name = name
        self.overruns = 0

    def read(self, frames: int = PERIOD_FRAMES) -> bytes:
        """Exactly `frames` frames (blocking until they are there); AlsaError when the device fails."""
        buffer = ctypes.create_string_buffer(frames * SAMPLE_BYTES)
        done = 0
        while done < frames:
            if self._handle is None:
                raise AlsaError(f"{self.name} is closed")
            got = int(self._lib.snd_pcm_readi(self._handle, ctypes.byref(buffer, done * SAMPLE_BYTES), frames - done))
            if got >= 0:
                done += got
                continue
            if got == -errno.EPIPE:
                self.overruns += 1
                log.warning("%s: capture overrun (the capture thread was late); recovering", self.name)
            self._alsa.check(self._lib.snd_pcm_recover(self._handle, got, 1), f"{self.name} failed")
        return buffer.raw

    def close(self) -> None:
        """Close the PCM; idempotent."""
        handle, self._handle = self._handle, None
        if handle is not None:
            self._lib.snd_pcm_close(handle)


def _log_alsa(file: bytes | None, line: int, function: bytes | None, err: int, fmt: bytes | None) -> None:
    where = f"{(file or b'?').decode(errors='replace')}:{line}"
    log.debug("alsa-lib %s (%s): %s (error %s)", where, (function or b"?").decode(errors="replace"),
              (fmt or b"").decode(errors="replace"), err)
