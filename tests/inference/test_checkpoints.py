"""Checkpoint table, resolution order, and the verified resumable download (local server)."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pytest

from sam_annotator.config import AppDirs, app_dirs, load_settings
from sam_annotator.inference import checkpoints as ck
from sam_annotator.inference.checkpoints import (
    CHECKPOINT_ENV,
    OFFICIAL_CHECKPOINTS,
    SCAN_PREFERENCE,
    CheckpointNotFoundError,
    ChecksumMismatchError,
    DownloadCancelled,
    DownloadError,
    UnusableDownloadError,
    download_checkpoint,
    official_checkpoint,
    remember_checkpoint,
    resolve_checkpoint,
)
from tests.inference.range_server import RangeServer

PAYLOAD = bytes(range(256)) * 1000 + b"end"  # 256,003 bytes, not a multiple of a chunk
DIGEST = hashlib.sha256(PAYLOAD).hexdigest()


@pytest.fixture
def server():
    servers: list[RangeServer] = []

    def start(**options) -> RangeServer:
        servers.append(RangeServer(PAYLOAD, **options))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


# -- the table ---------------------------------------------------------------------------


def test_official_table_has_the_published_files() -> None:
    assert list(OFFICIAL_CHECKPOINTS) == [
        "vit_b",
        "vit_l",
        "vit_h",
        "vit_t",
        "sam2.1_hiera_t",
        "sam2.1_hiera_s",
        "sam2.1_hiera_b+",
        "sam2.1_hiera_l",
    ]
    vit_b = official_checkpoint("vit_b")
    assert vit_b.filename == "sam_vit_b_01ec64.pth"
    assert vit_b.size == 375042383
    assert vit_b.sha256 == "ec2df62732614e57411cdcf32a23ffdf28910380d03139ee0f4fcbe91eb8c912"
    assert official_checkpoint("vit_h").filename == "sam_vit_h_4b8939.pth"
    assert official_checkpoint("vit_l").filename == "sam_vit_l_0b3195.pth"
    assert official_checkpoint("vit_t").filename == "mobile_sam.pt"
    sam2_base = "https://dl.fbaipublicfiles.com/segment_anything_2/092824/"
    assert official_checkpoint("sam2.1_hiera_t").url == sam2_base + "sam2.1_hiera_tiny.pt"
    assert official_checkpoint("sam2.1_hiera_s").url == sam2_base + "sam2.1_hiera_small.pt"
    assert official_checkpoint("sam2.1_hiera_b+").url == sam2_base + "sam2.1_hiera_base_plus.pt"
    assert official_checkpoint("sam2.1_hiera_l").url == sam2_base + "sam2.1_hiera_large.pt"
    for info in OFFICIAL_CHECKPOINTS.values():
        assert info.url.startswith("https://")
        if info.model_type.startswith("sam2"):
            assert info.sha256 is None  # none published: downloads are verified by loading
        else:
            assert len(info.sha256) == 64 and int(info.sha256, 16) >= 0
    assert set(SCAN_PREFERENCE) == set(OFFICIAL_CHECKPOINTS)
    with pytest.raises(ValueError, match="unknown model type 'vit_x'; known: vit_b"):
        official_checkpoint("vit_x")


# -- resolution --------------------------------------------------------------------------


def make_file(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"weights")
    return path


def test_command_line_path_comes_first(tmp_path: Path) -> None:
    cli = make_file(tmp_path / "cli.pth")
    env = {CHECKPOINT_ENV: str(make_file(tmp_path / "env.pth"))}
    make_file(tmp_path / "home" / "checkpoints" / "sam_vit_b_01ec64.pth")
    assert resolve_checkpoint(cli, environ=env, config_dir=tmp_path / "home") == cli
    assert resolve_checkpoint(str(cli), environ=env, config_dir=tmp_path / "home") == cli


def test_environment_comes_before_the_settings(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env_file = make_file(tmp_path / "env.pth")
    remember_checkpoint(make_file(tmp_path / "remembered.pth"), config_dir=home)
    found = resolve_checkpoint(None, environ={CHECKPOINT_ENV: str(env_file)}, config_dir=home)
    assert found == env_file


def test_missing_explicit_paths_are_errors_not_fallbacks(tmp_path: Path) -> None:
    home = tmp_path / "home"
    make_file(home / "checkpoints" / "sam_vit_b_01ec64.pth")
    with pytest.raises(CheckpointNotFoundError, match=r"--checkpoint .*nope\.pth: no such file"):
        resolve_checkpoint(tmp_path / "nope.pth", environ={}, config_dir=home)
    with pytest.raises(CheckpointNotFoundError, match=r"\$SAM_ANNOTATOR_CHECKPOINT .*gone\.pth"):
        resolve_checkpoint(
            None, environ={CHECKPOINT_ENV: str(tmp_path / "gone.pth")}, config_dir=home
        )
    with pytest.raises(CheckpointNotFoundError, match="is a folder, not a checkpoint file"):
        resolve_checkpoint(tmp_path, environ={}, config_dir=home)
    with pytest.raises(FileNotFoundError):  # also catchable as the builtin
        resolve_checkpoint(tmp_path / "nope.pth", environ={}, config_dir=home)


def test_remembered_checkpoint_then_the_checkpoints_folder(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert resolve_checkpoint(None, environ={}, config_dir=home) is None
    vit_h = make_file(home / "checkpoints" / "sam_vit_h_4b8939.pth")
    assert resolve_checkpoint(None, environ={}, config_dir=home) == vit_h
    vit_b = make_file(home / "checkpoints" / "sam_vit_b_01ec64.pth")
    make_file(home / "checkpoints" / "mobile_sam.pt")
    assert resolve_checkpoint(None, environ={}, config_dir=home) == vit_b  # preferred
    assert resolve_checkpoint(None, environ={}, config_dir=home, model_type="vit_h") == vit_h
    assert resolve_checkpoint(None, environ={}, config_dir=home, model_type="vit_l") is None
    remembered = make_file(tmp_path / "elsewhere" / "my.pth")
    remember_checkpoint(remembered, config_dir=home)
    assert load_settings(home / "settings.json") == {"checkpoint": str(remembered.resolve())}
    assert resolve_checkpoint(None, environ={}, config_dir=home) == remembered.resolve()
    remembered.unlink()  # a remembered file that has gone is skipped, not an error
    assert resolve_checkpoint(None, environ={}, config_dir=home) == vit_b
    remember_checkpoint(None, config_dir=home)
    assert load_settings(home / "settings.json") == {}


def test_partial_downloads_in_the_folder_are_not_used(tmp_path: Path) -> None:
    home = tmp_path / "home"
    make_file(home / "checkpoints" / "sam_vit_b_01ec64.pth.part")
    assert resolve_checkpoint(None, environ={}, config_dir=home) is None


def test_corrupt_settings_are_skipped_and_left_alone(tmp_path: Path) -> None:
    home = tmp_path / "home"
    vit_b = make_file(home / "checkpoints" / "sam_vit_b_01ec64.pth")
    (home / "settings.json").write_text("{not json", encoding="utf-8")
    assert resolve_checkpoint(None, environ={}, config_dir=home) == vit_b
    assert (home / "settings.json").read_text(encoding="utf-8") == "{not json"


def test_default_folders_follow_the_home_variable(tmp_path: Path) -> None:
    dirs = app_dirs({"SAM_ANNOTATOR_HOME": str(tmp_path)})
    assert dirs == AppDirs(tmp_path, tmp_path, tmp_path / "cache")
    assert dirs.checkpoints == tmp_path / "checkpoints"
    vit_b = make_file(tmp_path / "checkpoints" / "sam_vit_b_01ec64.pth")
    assert resolve_checkpoint(None, environ={"SAM_ANNOTATOR_HOME": str(tmp_path)}) == vit_b
    default = app_dirs({})
    assert "sam-annotator" in str(default.config) and "sam-annotator" in str(default.data)


def test_unknown_model_type_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown model type"):
        resolve_checkpoint(None, environ={}, config_dir=tmp_path, model_type="vit_q")


# -- download ----------------------------------------------------------------------------


def test_full_download_with_progress(server, tmp_path: Path) -> None:
    srv = server()
    dest = tmp_path / "ckpt" / "weights.pth"
    calls: list[tuple[int, int | None]] = []
    out = download_checkpoint(
        srv.url, dest, sha256=DIGEST, progress=lambda d, t: calls.append((d, t)), chunk_size=50_000
    )
    assert out == dest
    assert dest.read_bytes() == PAYLOAD
    assert not (tmp_path / "ckpt" / "weights.pth.part").exists()
    assert calls[0] == (0, len(PAYLOAD)) and calls[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert [(r.range, r.status) for r in srv.requests] == [(None, 200)]


def test_dropped_connection_keeps_the_part_and_the_next_call_resumes(server, tmp_path) -> None:
    srv = server(drop_after=100_000)
    dest = tmp_path / "weights.pth"
    part = tmp_path / "weights.pth.part"
    with pytest.raises(DownloadError, match="closed after 100000 of 256003 bytes.*kept"):
        download_checkpoint(srv.url, dest, sha256=DIGEST, retries=0, chunk_size=8192)
    assert part.read_bytes() == PAYLOAD[:100_000]
    assert not dest.exists()
    download_checkpoint(srv.url, dest, sha256=DIGEST, retries=0)
    assert dest.read_bytes() == PAYLOAD
    assert [(r.range, r.status) for r in srv.requests] == [(None, 200), ("bytes=100000-", 206)]
    assert srv.requests[1].body_bytes == len(PAYLOAD) - 100_000  # only the rest was sent


def test_retries_resume_within_one_call(server, tmp_path: Path) -> None:
    srv = server(drop_after=60_000, drops=2)
    dest = tmp_path / "weights.pth"
    download_checkpoint(srv.url, dest, sha256=DIGEST, retries=2, chunk_size=8192)
    assert dest.read_bytes() == PAYLOAD
    assert [r.range for r in srv.requests] == [None, "bytes=60000-", "bytes=120000-"]
    assert srv.body_bytes_sent == len(PAYLOAD)


def test_cancel_keeps_the_part_then_resume_asks_for_a_range(server, tmp_path: Path) -> None:
    srv = server()
    dest = tmp_path / "weights.pth"
    part = tmp_path / "weights.pth.part"
    stop = threading.Event()

    def progress(done: int, total: int | None) -> None:
        if done >= 64 * 1024:
            stop.set()

    with pytest.raises(DownloadCancelled):
        download_checkpoint(
            srv.url, dest, sha256=DIGEST, progress=progress, cancel=stop, chunk_size=16 * 1024
        )
    kept = part.stat().st_size
    assert kept == 64 * 1024 and part.read_bytes() == PAYLOAD[:kept]
    assert not dest.exists()
    download_checkpoint(srv.url, dest, sha256=DIGEST, cancel=lambda: False)
    assert dest.read_bytes() == PAYLOAD
    assert srv.requests[-1].range == f"bytes={kept}-"
    assert srv.requests[-1].body_bytes == len(PAYLOAD) - kept


def test_server_without_range_support_restarts_cleanly(server, tmp_path: Path) -> None:
    srv = server(support_range=False)
    dest = tmp_path / "weights.pth"
    (tmp_path / "weights.pth.part").write_bytes(PAYLOAD[:5000])
    download_checkpoint(srv.url, dest, sha256=DIGEST)
    assert dest.read_bytes() == PAYLOAD  # not the old 5000 bytes plus the full body
    assert [(r.range, r.status) for r in srv.requests] == [("bytes=5000-", 200)]


def test_a_complete_part_file_is_finished_without_a_body(server, tmp_path: Path) -> None:
    srv = server()
    dest = tmp_path / "weights.pth"
    (tmp_path / "weights.pth.part").write_bytes(PAYLOAD)
    download_checkpoint(srv.url, dest, sha256=DIGEST)
    assert dest.read_bytes() == PAYLOAD
    assert [(r.range, r.status) for r in srv.requests] == [(f"bytes={len(PAYLOAD)}-", 416)]


def test_a_foreign_part_file_longer_than_the_file_is_replaced(server, tmp_path: Path) -> None:
    srv = server()
    dest = tmp_path / "weights.pth"
    (tmp_path / "weights.pth.part").write_bytes(b"x" * (len(PAYLOAD) + 10))
    download_checkpoint(srv.url, dest, sha256=DIGEST)
    assert dest.read_bytes() == PAYLOAD
    assert [r.status for r in srv.requests] == [416, 200]


def test_hash_mismatch_deletes_the_part_and_keeps_the_old_file(server, tmp_path: Path) -> None:
    srv = server()
    dest = tmp_path / "weights.pth"
    dest.write_bytes(b"the user's old file")
    wrong = hashlib.sha256(b"something else").hexdigest()
    with pytest.raises(ChecksumMismatchError, match=f"expected {wrong}"):
        download_checkpoint(srv.url, dest, sha256=wrong)
    assert not (tmp_path / "weights.pth.part").exists()
    assert dest.read_bytes() == b"the user's old file"


def test_http_errors_are_clear(server, tmp_path: Path) -> None:
    srv = server()
    missing = srv.url.replace("weights.pth", "missing.pth")
    with pytest.raises(DownloadError, match=r"HTTP 404 Not Found"):
        download_checkpoint(missing, tmp_path / "w.pth", sha256=DIGEST)
    assert not (tmp_path / "w.pth").exists()
    assert not (tmp_path / "w.pth.part").exists()


def test_network_failure_is_clear(tmp_path: Path) -> None:
    srv = RangeServer(PAYLOAD)
    url = srv.url
    srv.close()  # nothing listens on that port any more
    with pytest.raises(DownloadError, match="cannot reach http://127.0.0.1"):
        download_checkpoint(url, tmp_path / "w.pth", sha256=DIGEST, timeout=5)


def test_a_stalled_server_times_out(server, tmp_path: Path) -> None:
    srv = server(stall=threading.Event())
    with pytest.raises(DownloadError, match="timed out"):
        download_checkpoint(srv.url, tmp_path / "w.pth", sha256=DIGEST, timeout=0.3, retries=1)
    assert len(srv.requests) == 2  # the first try and one retry


def test_without_a_digest_the_verify_check_decides(server, tmp_path: Path) -> None:
    srv = server()
    dest = tmp_path / "weights.pth"
    seen: list[bytes] = []
    download_checkpoint(srv.url, dest, sha256=None, verify=lambda p: seen.append(p.read_bytes()))
    assert seen == [PAYLOAD] and dest.read_bytes() == PAYLOAD  # checked before it was kept


def test_a_download_that_fails_verify_is_deleted_and_the_old_file_kept(server, tmp_path):
    srv = server()
    dest = tmp_path / "weights.pth"
    dest.write_bytes(b"the user's old file")

    def refuse(path: Path) -> None:
        raise ValueError("not a SAM 2 checkpoint: no image_encoder.trunk tensors")

    with pytest.raises(UnusableDownloadError, match="not a SAM 2 checkpoint"):
        download_checkpoint(srv.url, dest, sha256=DIGEST, verify=refuse)
    assert not (tmp_path / "weights.pth.part").exists()
    assert dest.read_bytes() == b"the user's old file"


def test_a_complete_part_without_a_digest_is_verified_not_refetched(server, tmp_path: Path):
    srv = server()
    dest = tmp_path / "weights.pth"
    (tmp_path / "weights.pth.part").write_bytes(PAYLOAD)
    checked: list[Path] = []
    download_checkpoint(srv.url, dest, sha256=None, verify=checked.append)
    assert dest.read_bytes() == PAYLOAD and len(checked) == 1
    assert [r.status for r in srv.requests] == [416]


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="nothing unverified"):
        download_checkpoint("https://example.invalid/w", tmp_path / "w", sha256=None)
    with pytest.raises(ValueError, match="64 hex digits"):
        download_checkpoint("https://example.invalid/w", tmp_path / "w", sha256="abc")
    with pytest.raises(ValueError, match="only http and https"):
        download_checkpoint("file:///etc/passwd", tmp_path / "w", sha256=DIGEST)
    with pytest.raises(TypeError, match="cancel must be"):
        download_checkpoint("https://example.invalid/w", tmp_path / "w", sha256=DIGEST, cancel=1)


def test_download_official_writes_into_the_checkpoints_folder(server, tmp_path, monkeypatch):
    srv = server()
    info = ck.OfficialCheckpoint("vit_b", srv.url, DIGEST, len(PAYLOAD), "test")
    monkeypatch.setattr(ck, "OFFICIAL_CHECKPOINTS", {**OFFICIAL_CHECKPOINTS, "vit_b": info})
    path = ck.download_official("vit_b", config_dir=tmp_path)
    assert path == tmp_path / "checkpoints" / "weights.pth"
    assert path.read_bytes() == PAYLOAD
    assert resolve_checkpoint(None, environ={}, config_dir=tmp_path, model_type="vit_b") == path


def test_only_checkpoints_sam_core_can_load_are_offered_or_picked(
    tmp_path: Path, monkeypatch
) -> None:
    from sam_core import sam2_model_registry

    offered = [c.model_type for c in ck.loadable_checkpoints()]
    assert offered == list(OFFICIAL_CHECKPOINTS)  # SAM, MobileSAM and SAM 2.1 all load
    home = tmp_path / "home"
    vit_b = make_file(home / "checkpoints" / "sam_vit_b_01ec64.pth")
    sam2 = make_file(home / "checkpoints" / "sam2.1_hiera_tiny.pt")
    # SAM 2.1 is preferred (faster on a CPU, better masks) ...
    assert resolve_checkpoint(None, environ={}, config_dir=home) == sam2
    # ... but a table entry sam_core does not register is neither offered nor picked.
    monkeypatch.delitem(sam2_model_registry, "sam2.1_hiera_t")
    assert "sam2.1_hiera_t" not in [c.model_type for c in ck.loadable_checkpoints()]
    assert resolve_checkpoint(None, environ={}, config_dir=home) == vit_b
