"""Print against real peers.

- vscanner's print SCU -> DCMTK ``dcmprscp`` (Basic Grayscale Print SCP): multi-film jobs as the
  products send them; dcmprscp's database holds one Stored Print object per film box and one
  Hardcopy Grayscale image per image box.
- DCMTK's print client (``dcmpsprt`` renders the job, ``dcmprscu`` prints it) -> the emulated
  camera: PNG films whose pixel size and layout follow the film size and display format.
- A status injected through a pty with pyserial (FILM JAM, SUPPLY EMPTY, an unknown FAILURE code)
  changes what N-GET returns, and the print queue reacts as the product's statement says.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

from appliance.config import Node
from appliance.net.print_scu import PrintSession
from appliance.printing import compose_films, load_images, print_images, resolve_settings
from appliance.printing.composition import box_rectangles, film_pixels
from appliance.printing.png import read_png
from appliance.printing.queue import PrintQueue
from appliance.printing.runner import PrintRunner
from appliance.profile import find_profile
from devices.printer import FilmPrinter

from .peers import PEER_ENV, free_port, require, run, wait_for_port

pytestmark = pytest.mark.interop

REPO = Path(__file__).resolve().parents[1]


def make_images(folder: Path, n: int = 4, size: int = 64) -> list[Path]:
    """*n* 12-bit MONOCHROME2 secondary captures with distinct brightness (and a VOI window)."""
    folder.mkdir(parents=True, exist_ok=True)
    study, series = generate_uid(), generate_uid()
    paths = []
    for i in range(n):
        ds = Dataset()
        ds.SOPClassUID, ds.SOPInstanceUID = SecondaryCaptureImageStorage, generate_uid()
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.PatientName, ds.PatientID, ds.Modality = "DOE^JANE", "PID0001", "OT"
        ds.SeriesNumber, ds.InstanceNumber = 1, i + 1
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.Rows = ds.Columns = size
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        ds.WindowCenter, ds.WindowWidth = 2048, 4096
        level = 1500 + 700 * i
        arr = np.full((size, size), level, np.uint16)
        arr[:, : size // 8] = 4095  # a bright bar on the left
        ds.PixelData = arr.tobytes()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        path = folder / f"img{i}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


PRINTSCP_CFG = """\
[[GENERAL]]
[APPLICATION]
LogDirectory = log
LogFile = general.log
LogLevel = INFO
[PRINT]
Spooler = dcmprscu
Server = dcmprscp
Directory = spool
DetailedLog = true
BinaryLog = false
Sleep = 1
DeletePrintJobs = true
AlwaysDeleteTerminateJobs = true
[DATABASE]
Directory = db
[LUT]
Directory = lut
[NETWORK]
aetitle = DCMPSTAT

[[COMMUNICATION]]
[PRINTSCP]
Aetitle = PRINTSCP
Description = dcmprscp under test
Hostname = localhost
Port = {scp_port}
Type = LOCALPRINTER
DisplayFormat = 1,1\\1,2\\2,1\\2,2\\2,3\\3,3\\4,4
FilmSizeID = 8INX10IN\\10INX12IN\\14INX14IN\\14INX17IN
MediumType = PAPER\\CLEAR FILM\\BLUE FILM
FilmDestination = MAGAZINE\\PROCESSOR
BorderDensity = 150\\20\\BLACK\\WHITE
EmptyImageDensity = 20\\BLACK\\WHITE
MagnificationType = REPLICATE\\BILINEAR\\CUBIC\\NONE
ResolutionID = STANDARD\\HIGH
SmoothingType = NONE
MaxDensity = 320
MinDensity = 20
MaxPDU = 32768
ImplicitOnly = false
DisableNewVRs = false
OmitSOPClassUIDFromCreateResponse = false
PresentationLUTMatchRequired = false
PresentationLUTinFilmSession = false
Supports12Bit = true
SupportsDecimateCrop = false
SupportsImageSize = false
SupportsPresentationLUT = true
SupportsTrim = false
[CAMERA]
Aetitle = CAMERA
Description = the emulated film camera
Hostname = 127.0.0.1
Port = {camera_port}
Type = PRINTER
DisplayFormat = 1,1\\1,2\\2,2\\3,1\\3,3
FilmSizeID = 8INX10IN\\14INX17IN
MediumType = PAPER\\CLEAR FILM\\BLUE FILM
FilmDestination = MAGAZINE\\PROCESSOR
MagnificationType = REPLICATE\\BILINEAR\\CUBIC\\NONE
MaxDensity = 320
MinDensity = 20
MaxPDU = 32768
Supports12Bit = true
SupportsPresentationLUT = true
"""


def write_cfg(folder: Path, scp_port: int = 0, camera_port: int = 0) -> Path:
    for sub in ("db", "spool", "lut", "log"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    cfg = folder / "dcmpstat.cfg"
    cfg.write_text(PRINTSCP_CFG.format(scp_port=scp_port, camera_port=camera_port))
    return cfg


@pytest.fixture
def dcmprscp(tmp_path: Path):
    """DCMTK's Print SCP on a free port (it listens on 0.0.0.0; only loopback is used)."""
    binary = require("dcmprscp")
    folder = tmp_path / "dcmprscp"
    port = free_port()
    cfg = write_cfg(folder, scp_port=port)
    log = open(folder / "dcmprscp.out", "wb")
    proc = subprocess.Popen([binary, "-c", str(cfg), "-p", "PRINTSCP"], cwd=folder, env=PEER_ENV,
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, proc)
        yield Node(ae_title="PRINTSCP", host="127.0.0.1", port=port), folder
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()


@pytest.fixture
def camera(tmp_path: Path):
    """The emulated film camera with its status line on a pty."""
    with FilmPrinter(tmp_path / "tray", ae_title="CAMERA", dpi=20, status_line="pty") as cam:
        yield cam


# --- vscanner -> dcmprscp ---------------------------------------------------------------------------------


@pytest.mark.parametrize("pid, layout, copies, films, hardcopies", [
    ("syngo-ct-va50a", "STANDARD\\2,1", 2, 4, 4),    # page mode, 1 copy per session: the job sent twice
    ("oasis-velocity", "STANDARD\\2,1", 1, 2, 4),    # one image box per image
])
def test_print_scu_completes_a_multi_film_job_on_dcmprscp(dcmprscp, tmp_path, pid, layout, copies, films,
                                                          hardcopies):
    node, folder = dcmprscp
    images = make_images(tmp_path / "images", 4)
    result = print_images(find_profile(pid), node, images, display_format=layout, copies=copies,
                          film_size="14INX17IN", data=tmp_path / "data", dpi=30, dimse_timeout=30)
    assert result.ok, result
    assert (result.films, result.state, result.status) == (films, "printed", "NORMAL")
    stored = sorted((folder / "db").glob("SP_*.dcm"))
    hardcopy = sorted((folder / "db").glob("HG_*.dcm"))
    assert len(stored) == films and len(hardcopy) == hardcopies
    sp = dcmread(stored[0])
    box = sp.FilmBoxContentSequence[0]
    assert box.FilmSizeID == "14INX17IN"
    hg = dcmread(hardcopy[0])
    if find_profile(pid).print.page_mode:
        assert box.ImageDisplayFormat == "STANDARD\\1,1"          # one pre-rendered page per film
        assert (hg.Columns, hg.Rows) == film_pixels("14INX17IN", "PORTRAIT", 30)
    else:
        assert box.ImageDisplayFormat == layout
        assert (hg.Columns, hg.Rows) == (64, 64)


# --- DCMTK print client -> the emulated camera ---------------------------------------------------------------


@pytest.mark.parametrize("size, orientation, layout", [
    ("14INX17IN", "portrait", (2, 2)),
    ("8INX10IN", "landscape", (3, 1)),
])
def test_dcmtk_print_client_prints_on_the_emulated_camera(camera, tmp_path, size, orientation, layout):
    dcmpsprt, dcmprscu = require("dcmpsprt"), require("dcmprscu")
    folder = tmp_path / "dcmtk"
    cfg = write_cfg(folder, camera_port=camera.port)
    images = make_images(tmp_path / "images", 3)
    r = subprocess.run([dcmpsprt, "-c", str(cfg), "-p", "CAMERA", "--layout", str(layout[0]), str(layout[1]),
                        "--filmsize", size, f"--{orientation}", *map(str, images)], cwd=folder, env=PEER_ENV,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    jobs = sorted((folder / "db").glob("SP_*.dcm"))
    assert len(jobs) == 1
    r = subprocess.run([dcmprscu, "-c", str(cfg), "-p", "CAMERA", str(jobs[0])], cwd=folder, env=PEER_ENV,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    films = camera.wait_for_films(1, timeout=10)
    assert len(films) == 1
    page = read_png(films[0])
    cols, rows = film_pixels(size, orientation.upper(), camera.dpi)
    assert page.shape == (rows, cols)
    rects = box_rectangles(f"STANDARD\\{layout[0]},{layout[1]}", cols, rows)
    means = [float(page[y + h // 4:y + 3 * h // 4, x + w // 4:x + 3 * w // 4].mean()) for x, y, w, h in rects]
    assert all(m > 40 for m in means[:3]), means           # the three images, each in its box
    assert all(m == 0 for m in means[3:]), means           # empty boxes: Empty Image Density BLACK
    manifest = json.loads(camera.manifests[0].read_text())
    film = manifest["films"][0]
    assert (film["film_size"], film["image_display_format"], film["pixels"]) == (
        size, f"STANDARD\\{layout[0]},{layout[1]}", [cols, rows])
    assert sum(b["filled"] for b in film["image_boxes"]) == 3
    assert manifest["print_jobs"][0]["status"] == "DONE"


# --- camera status through a pty, and the statement's reaction ----------------------------------------------


@pytest.mark.parametrize("pid, ready", [("syngo-ct-va50a", "Camera is ready"),
                                        ("syngo-mi-petct-2011a", "Camera is ready.")])
def test_status_from_a_pty_drives_n_get_and_the_print_queue(camera, tmp_path, pid, ready):
    import serial

    from devices.serial_status import CameraStatusClient

    profile = find_profile(pid)
    node = Node(ae_title=camera.ae_title, host="127.0.0.1", port=camera.port)
    images = make_images(tmp_path / "images", 2)
    data = tmp_path / "data"

    def n_get() -> tuple[str, str]:
        with PrintSession(profile, node, "VSCANNER") as session:
            return session.printer_status()[:2]

    def print_once():  # type: ignore[no-untyped-def]
        return print_images(profile, node, images, display_format="STANDARD\\2,1", data=data, dpi=20)

    port = serial.Serial(camera.status_line_device, baudrate=9600, timeout=0.1)
    with CameraStatusClient(port) as line:
        assert line.query() == ("NORMAL", "NORMAL")
        result = print_once()
        assert result.ok and result.messages[0] == ready and camera.wait_for_films(1) == camera.films

        # FILM JAM: the statement shows "Film jam." and keeps the queue running (camera symbol interact)
        line.set("FAILURE", "FILM JAM")
        assert n_get() == ("FAILURE", "FILM JAM")
        result = print_once()
        assert result.ok and not result.queue_stopped
        assert "Film jam." in result.messages and (result.status, result.reaction) == ("FAILURE", "interact")
        assert len(camera.films) == 1 and camera.jobs[-1].status == "PENDING"  # held by the jammed camera
        assert any(m.kind == "JOB" and m.fields[1] == "PENDING" for m in _drain(line))

        # SUPPLY EMPTY (its status from the camera's vocabulary): "Camera out of film.", interact
        line.set(None, "SUPPLY EMPTY")
        assert n_get() == ("FAILURE", "SUPPLY EMPTY")
        result = print_once()
        assert result.ok and "Camera out of film." in result.messages and not result.queue_stopped

        # the jam is cleared: the held films come out
        line.set("NORMAL", "NORMAL")
        assert len(camera.wait_for_films(3)) == 3

        # an info no table lists, with FAILURE: the catch-all stops the camera's queue
        line.set("FAILURE", "XYZZY ERROR")
        assert n_get() == ("FAILURE", "XYZZY ERROR")
        result = print_once()
        assert not result.ok and result.queue_stopped and result.state == "queued" and result.films == 0
        assert "Camera info: XYZZY ERROR Queue stopped." in result.messages
        films_before = len(camera.films)

        # while the queue is stopped nothing prints, even once the camera is well again
        line.set("NORMAL", "NORMAL")
        result = print_once()
        assert not result.ok and result.queue_stopped and len(camera.films) == films_before

        # the user resumes the queue: both waiting jobs print
        with PrintQueue(data) as queue:
            queue.set_queue_state(result_destination(node), "running")
            with PrintRunner(queue) as runner:
                runner.run()
            assert [j.state for j in queue.jobs()][-2:] == ["printed", "printed"]
        assert len(camera.wait_for_films(films_before + 2)) == films_before + 2


def result_destination(node: Node) -> str:
    return str(node)


def _drain(line):  # type: ignore[no-untyped-def]
    while line.read_message(timeout=0.3) is not None:
        pass
    return list(line.events)


# --- the CLI ------------------------------------------------------------------------------------------------


def vscanner(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "appliance", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO)


def test_cli_printer_serve_status_and_print(tmp_path: Path):
    port = free_port()
    serve = subprocess.Popen([sys.executable, "-m", "appliance", "printer", "serve", "--tray", str(tmp_path / "tray"),
                              "--port", str(port), "--dpi", "10", "--status-line", "pty"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO)
    try:
        device = None
        deadline = time.monotonic() + 20
        while device is None and time.monotonic() < deadline:
            text = serve.stdout.readline()
            if not text and serve.poll() is not None:
                pytest.fail("printer serve exited early")
            m = re.search(r"camera status line: (\S+)", text)
            device = m.group(1) if m else None
        assert device, "no status line device printed"
        camera = f"CAMERA@127.0.0.1:{port}"
        r = vscanner("printer", "status", camera, "--set", "FILM JAM", "--line", device)
        assert r.returncode == 0 and "FAILURE FILM JAM" in r.stdout, r.stdout + r.stderr
        r = vscanner("printer", "status", camera, "--profile", "syngo-ct-va50a")
        assert r.returncode == 0, r.stderr
        assert "FAILURE FILM JAM (N-GET)" in r.stdout and "Film jam." in r.stdout and "interact" in r.stdout
        images = make_images(tmp_path / "images", 2)
        common = ["--to", camera, "--profile", "syngo-ct-va50a", "--data", str(tmp_path / "data"), "--dpi", "10"]
        r = vscanner("printer", "status", camera, "--set", "FAILURE XYZZY", "--line", device)
        assert r.returncode == 0, r.stderr
        r = vscanner("print", *map(str, images), *common)
        assert r.returncode == 1 and "Camera info: XYZZY Queue stopped." in r.stderr and "STOPPED" in r.stdout
        r = vscanner("printer", "status", camera, "--set", "NORMAL", "--line", device)
        assert r.returncode == 0
        r = vscanner("printer", "resume", camera, "--data", str(tmp_path / "data"))
        assert r.returncode == 0, r.stdout + r.stderr
        assert len(list((tmp_path / "tray").glob("film_*.png"))) == 1
    finally:
        serve.terminate()
        out, _ = serve.communicate(timeout=15)
    assert serve.returncode == 0 and "1 film(s) printed" in out


# --- color, idle polling, the status line as a status source --------------------------------------------


def make_color_image(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    ds = Dataset()
    ds.SOPClassUID, ds.SOPInstanceUID = SecondaryCaptureImageStorage, generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.PatientName, ds.PatientID, ds.Modality = "DOE^JANE", "PID0001", "OT"
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
    ds.Rows = ds.Columns = 32
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    arr = np.zeros((32, 32, 3), np.uint8)
    arr[..., 0] = 220  # red
    ds.PixelData = arr.tobytes()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    path = folder / "rgb.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


@pytest.mark.parametrize("pid", ["syngo-mr-xa11b", "syngo-mi-petct-2011a"])  # planar configuration 1 and 0
def test_color_film_through_basic_color_print(camera, tmp_path, pid):
    node = Node(ae_title=camera.ae_title, host="127.0.0.1", port=camera.port)
    result = print_images(find_profile(pid), node, [make_color_image(tmp_path / "images")],
                          display_format="STANDARD\\1,1", film_size="8INX10IN", dpi=20, annotations=False)
    assert result.ok and result.films == 1
    page = read_png(camera.wait_for_films(1)[0])
    assert page.shape == (200, 160, 3)
    r, g, b = page[100, 80]
    assert r > 200 and g < 30 and b < 30
    assert json.loads(camera.manifests[0].read_text())["color"] is True


def test_serving_queue_polls_idle_cameras_and_prints_new_jobs(camera, tmp_path):
    import threading

    profile = find_profile("syngo-mi-petct-2011a")
    node = Node(ae_title=camera.ae_title, host="127.0.0.1", port=camera.port)
    with PrintQueue(tmp_path / "data") as queue:
        runner = PrintRunner(queue)
        t = threading.Thread(target=runner.serve, args=([(node, profile.id, "VSCANNER")],),
                             kwargs={"interval": 0.1, "poll_interval": 0.2}, daemon=True)
        t.start()
        try:
            camera.set_status("WARNING", "LOW 14X17 BLUE")
            deadline = time.monotonic() + 10
            while queue.camera(str(node)).status_info != "LOW 14X17 BLUE" and time.monotonic() < deadline:
                time.sleep(0.05)
            cam = queue.camera(str(node))
            assert (cam.printer_status, cam.message, cam.reaction) == ("WARNING", "14x17 blue film supply low.",
                                                                        "interact")
            assert not cam.stopped
            plan = resolve_settings(profile, display_format="STANDARD\\1,1")
            films = compose_films(load_images(make_images(tmp_path / "images", 1)), layout=plan.layout,
                                  page_mode=True, film_size="14INX17IN", dpi=10)
            queue.enqueue(films, node, profile=profile.id, calling_ae="VSCANNER", settings=plan.settings.as_dict())
            assert len(camera.wait_for_films(1, timeout=10)) == 1
            deadline = time.monotonic() + 5
            while queue.jobs()[0].state != "printed" and time.monotonic() < deadline:
                time.sleep(0.05)
            assert queue.jobs()[0].state == "printed"
            assert any(k[0] == str(node) for k in runner._held)  # association held for new jobs (60 s)
        finally:
            runner.stop()
            t.join(10)


def test_camera_status_line_as_status_source(camera, tmp_path):
    """A camera status line (here camera://NAME, an in-process line) is read besides N-GET: the
    camera answers NORMAL on the wire, its line says ELEC SW ERROR, the statement stops the queue."""
    from devices.serial_status import CameraStatusClient

    with CameraStatusClient("camera://SIDELINE") as line:
        line.set("FAILURE", "ELEC SW ERROR")
    node = Node(ae_title=camera.ae_title, host="127.0.0.1", port=camera.port)
    result = print_images(find_profile("syngo-ct-va50a"), node, make_images(tmp_path / "images", 1),
                          status_line="camera://SIDELINE", data=tmp_path / "data")
    assert camera.status == ("NORMAL", "NORMAL")
    assert result.queue_stopped and "Camera software problem. Queue stopped." in result.messages
    assert camera.films == []


def test_film_box_and_image_box_values_as_the_product_sends_them(camera, tmp_path):
    """OASIS sends Trim, densities and Polarity (§4.2.1.3); the camera renders them."""
    node = Node(ae_title=camera.ae_title, host="127.0.0.1", port=camera.port)
    result = print_images(find_profile("oasis-velocity"), node, make_images(tmp_path / "images", 1),
                          display_format="STANDARD\\2,1", film_size="8INX10IN", trim="YES", polarity="REVERSE",
                          empty_image_density="WHITE", min_density=10, max_density=400, annotations=False)
    assert result.ok
    page = read_png(camera.wait_for_films(1)[0])
    film = json.loads(camera.manifests[0].read_text())["films"][0]
    assert (film["trim"], film["empty_image_density"], film["max_density"]) == ("YES", "WHITE", 320)  # clamped
    assert film["image_boxes"][0]["Polarity"] == "REVERSE"
    assert "warning 0xB605" in " ".join(result.messages)  # the camera used its own density range
    (x, y, w, h), (x2, y2, w2, h2) = box_rectangles("STANDARD\\2,1", page.shape[1], page.shape[0])
    assert page[y2 + h2 // 2, x2 + w2 // 2] == 255          # the empty box: WHITE
    # reversed: the bright bar on the image's left edge prints dark
    box = page[y:y + h, x:x + w]
    rows = np.nonzero(box.max(axis=1) == 255)[0]           # the trim frame is white
    assert rows.size and box[h // 2, w // 2] < 200


@pytest.mark.parametrize("pid", ["syngo-mi-petct-2011a", "syngo-ct-va50a"])  # A-ABORT / release
def test_a_failure_status_aborts_the_job(dcmprscp, tmp_path, pid):
    """dcmprscp is not configured for 24CMX24CM: Film Box N-CREATE fails, the job is aborted."""
    node, folder = dcmprscp
    result = print_images(find_profile(pid), node, make_images(tmp_path / "images", 1), film_size="24CMX24CM",
                          data=tmp_path / "data", dpi=10)
    assert not result.ok and result.state == "failed" and result.films == 0
    assert any("Film Box N-CREATE" in m and "0x0106" in m for m in result.messages), result.messages
    assert not result.queue_stopped  # the job is aborted; the camera's queue keeps running
    result = print_images(find_profile(pid), node, make_images(tmp_path / "images2", 1), film_size="8INX10IN",
                          data=tmp_path / "data", dpi=10)
    assert result.ok and len(list((folder / "db").glob("SP_*.dcm"))) == 1


def test_camera_events_during_multi_film_jobs_never_stall_the_print_scu(tmp_path, caplog):
    """The camera sends Printer and Print Job N-EVENT-REPORTs on the print association while
    the console waits for its own responses; pynetdicom 3.0 serves such events on a thread
    that raced the requestor's pause protocol (Film Box N-CREATE then waited forever).
    Bounded: 12 jobs of 4 films, each request under a 20 s DIMSE time-out."""
    profile = find_profile("syngo-mi-petct-2011a")
    images = make_images(tmp_path / "images", 4)
    caplog.set_level("INFO", logger="appliance.net.print_scu")
    with FilmPrinter(tmp_path / "tray", ae_title="CAMERA", dpi=10, send_events=True) as cam:
        node = Node(ae_title=cam.ae_title, host="127.0.0.1", port=cam.port)
        for i in range(12):
            result = print_images(profile, node, images, display_format="STANDARD\\1,1", data=tmp_path / f"q{i}",
                                  dpi=10, dimse_timeout=20)
            assert result.ok, result
    assert len(list((tmp_path / "tray").rglob("*.png"))) == 12 * 4
    events = [r.getMessage() for r in caplog.records if r.getMessage().startswith("N-EVENT-REPORT from")]
    assert sum(" print_job DONE" in e for e in events) >= 12 * 4, events[:10]


def test_dcmtk_echoscu_checks_the_camera(camera):
    echoscu = require("echoscu")
    r = run([echoscu, "-v", "-aet", "CONSOLE", "-aec", camera.ae_title, "127.0.0.1", str(camera.port)])
    assert r.returncode == 0 and "Received Echo Response (Success)" in r.stdout + r.stderr, r.stdout + r.stderr
