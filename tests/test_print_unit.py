"""Print without peers: the statements' status reactions, film composition, PNG, the durable
queue and the camera status line protocol (loop://, socket://, camera://)."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import numpy as np
import pytest

from appliance.config import Node
from appliance.errors import UsageError
from appliance.printing import resolve_settings
from appliance.printing.composition import (FilmSheet, SourceImage, box_rectangles, compose_films, density_level,
                                            film_pixels, parse_display_format, window)
from appliance.printing.png import read_png, write_png
from appliance.printing.queue import PrintQueue
from appliance.printing.status import may_print, react
from appliance.profile import find_profile


def pp(pid: str):
    return find_profile(pid).print


# --- the statements' reactions ----------------------------------------------------------------------


@pytest.mark.parametrize("pid", ["syngo-mi-petct-2011a", "syngo-ct-va50a"])
def test_reactions_of_products_with_a_status_table(pid):
    p = pp(pid)
    r = react(p, "FAILURE", "FILM JAM")
    assert (r.reaction, r.message, r.rule) == ("interact", "Film jam.", "table")
    assert not r.queue_stopped
    r = react(p, "FAILURE", "supply  empty")  # normalized like a Code String
    assert (r.reaction, r.message) == ("interact", "Camera out of film.")
    r = react(p, "FAILURE", "ELEC SW ERROR")
    assert r.queue_stopped and r.message == "Camera software problem. Queue stopped."
    r = react(p, "FAILURE", "XYZZY ERROR")  # not in the table: the statement's catch-all
    assert r.queue_stopped and r.rule == "catch-all"
    assert r.message == "Camera info: XYZZY ERROR Queue stopped."
    r = react(p, "WARNING", "XYZZY WARN")
    assert (r.reaction, r.message) == ("interact", "Camera info: XYZZY WARN")
    r = react(p, "NORMAL", "")
    assert r.reaction == "idle" and r.message.startswith("Camera is ready")
    assert react(p, "WARNING", "LOW 14X17 BLUE").message == "14x17 blue film supply low."
    assert react(p, "NORMAL", "PRINTER INIT").reaction == "idle"


def test_table_sizes_and_vendor_codes():
    assert len(pp("syngo-ct-va50a").status_reactions) == 107           # Table 142
    pet = pp("syngo-mi-petct-2011a")
    assert len(pet.status_reactions) >= 150                            # Tables 51-56 and the execution table
    r = react(pet, "FAILURE", "FATAL")
    assert r.queue_stopped and r.vendor == "Kodak 2180/1120"
    assert react(pet, "FAILURE", "INSUFFIC MEMORY", kind="execution").queue_stopped
    assert react(pet, "FAILURE", "INVALID PAGE DES", kind="execution").message.startswith("Film Job cannot")
    # an execution-only code is not a printer status info: the catch-all applies
    assert react(pet, "FAILURE", "INVALID PAGE DES", kind="printer").rule == "catch-all"


def test_coherence_does_not_evaluate_the_printer_status():
    p = pp("coherence-primeview-3i")
    assert react(p, "FAILURE", "FILM JAM").message == "Film jam."
    r = react(p, "FAILURE", "XYZZY")  # no catch-all in §A.10; the status is not evaluated
    assert (r.reaction, r.message, r.rule) == ("interact", "XYZZY", "default")


def test_products_without_a_table():
    mr = pp("syngo-mr-xa11b")
    r = react(mr, "WARNING", "LOW 8X10")
    assert r.reaction == "interact" and r.message == "Printer warning: LOW 8X10"
    ok, why = may_print(mr, r)  # §4.2.8.3: prints only when the status is NORMAL
    assert not ok and "NORMAL" in why
    assert react(mr, "FAILURE", "FILM JAM").queue_stopped
    oasis = pp("oasis-velocity")  # nothing stated: the engine default
    assert react(oasis, "FAILURE", "FILM JAM").queue_stopped
    assert may_print(oasis, react(oasis, "WARNING", "LOW 8X10"))[0]


# --- settings -------------------------------------------------------------------------------------------


def test_resolve_settings_checks_the_statement_values():
    ct = find_profile("syngo-ct-va50a")
    plan = resolve_settings(ct)
    assert plan.page_mode and plan.copies_as_jobs and plan.settings.copies == 1
    assert plan.settings.film_size == "14INX17IN" and plan.settings.medium_type == "BLUE FILM"
    assert plan.settings.film_destination is None  # Table 46: not sent
    with pytest.raises(UsageError, match="film size"):
        resolve_settings(ct, film_size="A3")
    with pytest.raises(UsageError, match="pre-rendered"):
        resolve_settings(ct, mode="image")
    pet = find_profile("syngo-mi-petct-2011a")
    assert not resolve_settings(pet, mode="image", display_format="STANDARD\\3,4").page_mode
    oasis = find_profile("oasis-velocity")
    plan = resolve_settings(oasis, copies=3)
    assert not plan.page_mode and not plan.copies_as_jobs and plan.settings.copies == 3


# --- composition ---------------------------------------------------------------------------------------


def test_film_geometry():
    assert film_pixels("14INX17IN", "PORTRAIT", 10) == (140, 170)
    assert film_pixels("14INX17IN", "LANDSCAPE", 10) == (170, 140)
    assert film_pixels("24CMX30CM", "PORTRAIT", 25.4) == (240, 300)
    fmt = parse_display_format("standard\\3,2")
    assert (fmt.kind, fmt.counts, fmt.boxes) == ("STANDARD", (3, 2), 6)
    rects = box_rectangles(fmt, 300, 200)
    assert rects[0] == (0, 0, 100, 100) and rects[2] == (200, 0, 100, 100) and rects[3] == (0, 100, 100, 100)
    assert box_rectangles("ROW\\1,2", 100, 100) == [(0, 0, 100, 50), (0, 50, 50, 50), (50, 50, 50, 50)]
    assert box_rectangles("COL\\2,1", 100, 100) == [(0, 0, 50, 50), (0, 50, 50, 50), (50, 0, 50, 100)]
    with pytest.raises(UsageError):
        parse_display_format("STANDARD\\2")
    assert density_level("BLACK") == 0.0 and density_level("WHITE") == 1.0
    assert density_level("170", min_density=20, max_density=320) == pytest.approx(0.5)


def test_window_and_compose_films():
    values = np.array([[-1000.0, 40.0, 1000.0]])
    shown = window(values, 40, 400)
    assert shown[0, 0] == 0.0 and shown[0, 2] == 1.0 and 0.4 < shown[0, 1] < 0.6
    images = [SourceImage(np.full((64, 64), v, np.float32), {"patient_name": "DOE JANE", "instance": str(i)})
              for i, v in enumerate((0.2, 0.5, 0.8), 1)]
    page = compose_films(images, layout="STANDARD\\2,2", page_mode=True, film_size="8INX10IN", dpi=10,
                         bits_stored=12, annotate=False)
    assert len(page) == 1 and page[0].display_format == "STANDARD\\1,1" and page[0].layout == "STANDARD\\2,2"
    box = page[0].boxes[0]
    assert box.shape == (100, 80) and box.dtype == np.uint16 and box.max() <= 4095
    assert box[25, 20] == round(0.2 * 4095) and box[75, 60] == 0  # image 1, and the empty 4th box
    films = compose_films(images, layout="STANDARD\\1,2", page_mode=False, annotate=True)
    assert [f.display_format for f in films] == ["STANDARD\\1,2", "STANDARD\\1,2"]
    assert films[1].boxes[1] is None and films[0].boxes[0].shape == (64, 64)
    assert films[0].boxes[0].max() == 255  # the annotation text is burnt in white


def test_png_round_trip(tmp_path: Path):
    gray = (np.arange(200 * 3).reshape(20, 30) % 256).astype(np.uint8)
    rgb = np.stack([gray, 255 - gray, gray // 2], axis=2)
    assert np.array_equal(read_png(write_png(tmp_path / "g.png", gray)), gray)
    assert np.array_equal(read_png(write_png(tmp_path / "c.png", rgb, text={"Title": "x"})), rgb)


# --- the durable queue ----------------------------------------------------------------------------------


def test_queue_is_durable_and_resumes_after_the_last_printed_film(tmp_path: Path):
    node = Node(ae_title="CAMERA", host="127.0.0.1", port=104)
    films = [FilmSheet("STANDARD\\1,1", [np.full((4, 3), i, np.uint8)], 8, False, 1) for i in range(3)]
    with PrintQueue(tmp_path) as q:
        job = q.enqueue(films, node, profile="syngo-ct-va50a", calling_ae="CT", settings={"film_size": "8INX10IN"},
                        copies=2, copies_as_jobs=True)
        assert job.units == 6 and job.spool.is_dir()
        q.mark_printing(job.id)
        q.unit_done(job.id)
        q.record_status(str(node), "FAILURE", "XYZ", "queue_stopped", "Camera info: XYZ Queue stopped.", stop=True)
    with PrintQueue(tmp_path) as q:  # reopened: as after a crash
        assert q.recover() == 1
        job = q.job(job.id)
        assert (job.state, job.units_done, job.settings) == ("queued", 1, {"film_size": "8INX10IN"})
        loaded = q.load_films(job)
        assert [int(f.boxes[0][0, 0]) for f in loaded] == [0, 1, 2]
        cam = q.camera(str(node))
        assert cam.stopped and cam.message == "Camera info: XYZ Queue stopped."
        q.set_queue_state(str(node), "running")
        assert not q.camera(str(node)).stopped


# --- the camera status line --------------------------------------------------------------------------------


def test_line_protocol_commands():
    from devices.serial_status import VirtualCamera, parse_message, process_command

    cam = VirtualCamera("T1")
    events: list[str] = []
    cam.add_listener(events.append)
    assert process_command(cam, "status?") == ["STATUS NORMAL NORMAL"]
    assert process_command(cam, "SET FAILURE film  jam") == ["OK"]
    assert cam.get_status() == ("FAILURE", "FILM JAM") and events == ["STATUS FAILURE FILM JAM"]
    assert process_command(cam, "SET SUPPLY EMPTY") == ["OK"]  # the status from the vocabulary
    assert cam.get_status() == ("FAILURE", "SUPPLY EMPTY")
    assert process_command(cam, "SET LOW 14X17 BLUE") == ["OK"] and cam.get_status()[0] == "WARNING"
    assert process_command(cam, "SET NORMAL") == ["OK"] and cam.get_status() == ("NORMAL", "NORMAL")
    assert process_command(cam, "SET BOGUS CODE")[0].startswith("ERR")
    assert process_command(cam, "STATUS FAILURE FILM JAM") == []  # an event, not a command
    assert process_command(cam, "PING") == ["PONG"]
    codes = process_command(cam, "CODES?")
    assert codes[-1] == "END" and "CODE FAILURE FILM JAM" in codes
    msg = parse_message("JOB 1.2.3 PENDING FILM JAM")
    assert (msg.kind, msg.fields) == ("JOB", ("1.2.3", "PENDING", "FILM JAM"))


def test_line_over_loop_url():
    """loop:// carries the protocol's lines unchanged (the transport the suite can rerun on a real port)."""
    from devices.serial_status import format_status, open_port, parse_message
    from devices.serial_status.line import _LineReader

    port, _ = open_port("loop://")
    try:
        port.write((format_status("FAILURE", "FILM JAM") + "\r\n").encode())
        port.write(b"JOB 1.2 DONE\r")
        reader, lines = _LineReader(), []
        deadline = time.monotonic() + 2
        while len(lines) < 2 and time.monotonic() < deadline:
            lines += reader.feed(port.read(64))
        assert [parse_message(l).fields for l in lines] == [("FAILURE", "FILM JAM"), ("1.2", "DONE", "")]
    finally:
        port.close()


def test_camera_url_handler():
    import serial

    from devices.serial_status import CameraStatusClient, camera_by_name, open_port

    open_port("loop://")[0].close()  # registers devices.serial_status as a pyserial handler package
    raw = serial.serial_for_url("camera://LAB1?status=FAILURE&info=COVER+OPEN", timeout=0.2)
    raw.close()
    assert camera_by_name("LAB1").get_status() == ("FAILURE", "COVER OPEN")
    with CameraStatusClient("camera://LAB1") as line:
        assert line.query() == ("FAILURE", "COVER OPEN")
        line.set("WARNING", "LOW 8X10")
        assert line.query() == ("WARNING", "LOW 8X10")
        assert any(e.kind == "STATUS" and e.fields[1] == "LOW 8X10" for e in line.events)


def test_camera_line_over_socket_url():
    """The camera connects its status line to socket://; a terminal-like peer talks to it."""
    from devices.serial_status import CameraStatusLine, VirtualCamera

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(5)
    cam = VirtualCamera("T2")
    line = CameraStatusLine(cam, f"socket://127.0.0.1:{server.getsockname()[1]}")
    try:
        conn, _ = server.accept()
        conn.settimeout(5)
        conn.sendall(b"SET FAILURE FILM JAM\r\nSTATUS?\r\n")
        data = b""
        while data.count(b"\r\n") < 3:
            data += conn.recv(256)
        assert data.split(b"\r\n")[:3] == [b"OK", b"STATUS FAILURE FILM JAM", b"STATUS FAILURE FILM JAM"]
        conn.close()
    finally:
        line.close()
        server.close()


def test_profile_print_cross_checks(tmp_path: Path):
    from appliance.profile import builtin_profile_dir, validate_file

    src = (builtin_profile_dir() / "syngo-ct-va50a.toml").read_text()
    jam = '{ info = "FILM JAM", message = "Film jam.", reaction = "interact" },'
    target = tmp_path / "syngo-ct-va50a.toml"
    target.write_text(src.replace(jam, jam + '\n  { info = "film jam", message = "x", reaction = "idle" },'))
    profile, problems = validate_file(target)
    assert profile is None and any("Code String" in p.message for p in problems)  # lower case refused
    bad = src.replace(jam, jam + '\n  { info = "FILM JAM", message = "x", reaction = "idle" },')
    bad = bad.replace("color_planar_configuration = 0", "color_planar_configuration = 2", 1)
    bad = bad.replace('standalone_contexts = ["1.2.840.10008.5.1.1.1"', 'standalone_contexts = ["1.2.3"')
    target.write_text(bad)
    profile, problems = validate_file(target)
    keys = {p.key for p in problems}
    assert profile is None
    assert "print.standalone_contexts[0]" in keys and "print.color_planar_configuration" in keys
    assert sum("listed twice" in p.message for p in problems) == 2  # printer and execution status
