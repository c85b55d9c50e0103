"""Finding the stethoscope's sound card by USB identity in sysfs, and its configuration entry.

A USB Audio Class device appears as /sys/class/sound/cardN (with its pcmCNDxc and controlCN
nodes beside it), whose `device` link leads to the USB interface under the USB device with
idVendor, idProduct and serial; the card's `id` names it for ALSA: plughw:CARD=<id>,DEV=0.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from config.devices import AlsaDeviceConfig, check_claims, located
from drivers.discovery import DeviceWatcher, Locator, WatchTarget, scan_usb_nodes
from sim.usb import FakeUsbBus
from tests.conftest import config_with, eventually

CMEDIA, CODEC = 0x0D8C, 0x0014


def usb_sound_card(sysfs: Path, number: int, card_id: str, serial: str | None) -> None:
    """The kernel's layout of a USB audio card: cardN with its id, and pcm/control nodes under it."""
    device = sysfs / "devices" / "pci0000:00" / "0000:00:14.0" / "usb1" / "1-3"
    device.mkdir(parents=True)
    (device / "idVendor").write_text(f"{CMEDIA:04x}\n")
    (device / "idProduct").write_text(f"{CODEC:04x}\n")
    if serial is not None:
        (device / "serial").write_text(serial + "\n")
    interface = device / "1-3:1.0"
    card = interface / "sound" / f"card{number}"
    card.mkdir(parents=True)
    (card / "id").write_text(card_id + "\n")
    (card / "device").symlink_to(os.path.relpath(interface, card))
    class_dir = sysfs / "class" / "sound"
    class_dir.mkdir(parents=True, exist_ok=True)
    for name in (f"card{number}", f"controlC{number}", f"pcmC{number}D0c"):
        node = card if name.startswith("card") else card / name
        node.mkdir(exist_ok=True)
        if node != card:
            (node / "device").symlink_to(os.path.relpath(card, node))
        (class_dir / name).symlink_to(os.path.relpath(node, class_dir))


def test_a_usb_sound_card_is_found_as_its_alsa_pcm(tmp_path: Path) -> None:
    sysfs = tmp_path / "sys"
    usb_sound_card(sysfs, 1, "Stethoscope", "ST-0042")
    nodes = scan_usb_nodes(sysfs, Path("/dev"), ("sound",))
    assert [(n.name, n.dev_path, n.vendor, n.product, n.serial) for n in nodes] == [
        ("card1", "plughw:CARD=Stethoscope,DEV=0", CMEDIA, CODEC, "ST-0042")]  # not its pcm or control nodes
    config = AlsaDeviceConfig(id="stethoscope", kind="stethoscope", driver="alsa", usb_vendor=CMEDIA,
                              usb_product=CODEC, usb_serial="ST-0042")
    target = WatchTarget.from_config("stethoscope", config)
    assert target.subsystem == "sound" and target.watched
    assert Locator(target, sysfs_root=sysfs)() == "plughw:CARD=Stethoscope,DEV=0"
    other = WatchTarget("stethoscope", "sound", usb_vendor=CMEDIA, usb_serial="ST-0099")
    assert Locator(other, sysfs_root=sysfs)() is None
    assert "no USB 0d8c:* serial ST-0099 plugged in" in Locator(other, sysfs_root=sysfs).missing()


def test_a_pcm_name_is_used_as_configured() -> None:
    config = AlsaDeviceConfig(id="stethoscope", kind="stethoscope", driver="alsa", port="plughw:CARD=S,DEV=0")
    target = WatchTarget.from_config("stethoscope", config)
    assert not target.watched and Locator(target)() == "plughw:CARD=S,DEV=0"


async def test_the_watcher_sees_the_simulated_card_come_and_go() -> None:
    bus = FakeUsbBus()
    bus.start()
    events: list[tuple[str, bool, str | None]] = []
    target = WatchTarget("stethoscope", "sound", usb_vendor=CMEDIA, usb_product=CODEC)
    watcher = DeviceWatcher([target], lambda *event: events.append(event), sysfs_root=bus.sysfs_root,
                            dev_root=bus.dev_root, use_udev=False)
    try:
        bus.add("stethoscope", "sound", CMEDIA, CODEC, "ST-1", "Stethoscope")
        await watcher.start()
        bus.plug("stethoscope")
        await eventually(lambda: ("stethoscope", True, "plughw:CARD=Stethoscope,DEV=0") in events)
        bus.unplug("stethoscope")
        await eventually(lambda: events[-1] == ("stethoscope", False, None))
    finally:
        await watcher.stop()
        bus.stop()


def test_the_configuration_checks_pcm_names_gain_and_claims() -> None:
    for port in ("/dev/snd/pcmC1D0c", "plughw:CARD=A, DEV=0"):
        with pytest.raises(ValidationError, match="is not an ALSA PCM name"):
            AlsaDeviceConfig(id="stethoscope", kind="stethoscope", driver="alsa", port=port)
    with pytest.raises(ValidationError, match="less than or equal to 30"):
        AlsaDeviceConfig(id="stethoscope", kind="stethoscope", driver="alsa", port="default", gain_db=40)
    with pytest.raises(ValidationError, match="driver 'alsa' serves stethoscope, not 'otoscope'"):
        AlsaDeviceConfig.model_validate({"id": "s", "kind": "otoscope", "driver": "alsa", "port": "default"})
    with pytest.raises(ValidationError, match="set a port or a USB identity"):
        AlsaDeviceConfig(id="stethoscope", kind="stethoscope", driver="alsa")
    packaged = config_with()
    entry = next(d for d in packaged.devices if d.driver == "alsa")
    assert entry.optional and entry.port == "plughw:CARD=Stethoscope,DEV=0"
    twin = entry.model_copy(update={"id": "stethoscope-2"})
    with pytest.raises(ValueError, match="is also stethoscope's"):
        check_claims(located((*packaged.devices, twin)))
