"""The recorded captures a notebook shows where it cannot capture (issue 16: 03 on Binder)."""

import pytest


def test_the_shipped_capture_shows_what_notebook_03_says_it_shows():
    from meshlab.telemetry.pcap import load_recorded

    rec = load_recorded("03-mtls-capture")
    assert rec.label.startswith("recorded on the mininet backend, 20")
    seen = {c["source"]: cap.readable() for c, cap in rec.captures}
    assert seen["sleep-legacy"].get("HTTP (cleartext)", 0) >= 6  # 3 requests and 3 answers, readable
    assert (
        seen["sleep-bar"].get("HTTP (cleartext)", 0) == 0
        and seen["sleep-bar"].get("TLS application data", 0) >= 6
    )
    for c, cap in rec.captures:  # computed again from the pcap, equal to what was recorded
        assert cap.readable() == c["readable"]


@pytest.mark.parametrize(
    "damage, said",
    [
        (lambda d: (d / "manifest.json").write_text("{not json"), "JSONDecodeError"),
        (
            lambda d: (d / "manifest.json").write_text('{"format": 2, "captures": []}'),
            "format 2; this meshlab reads format 1",
        ),
        (lambda d: (d / "sleep-bar-to-httpbin.bar.pcap").unlink(), "FileNotFoundError"),
        (lambda d: (d / "manifest.json").write_text('{"format": 1}'), "KeyError"),
    ],
)
def test_a_damaged_recording_is_refused_with_its_folder_named(tmp_path, damage, said):
    import shutil
    from meshlab.telemetry.pcap import RECORDINGS_DIR, load_recorded

    shutil.copytree(RECORDINGS_DIR / "03-mtls-capture", tmp_path / "03-mtls-capture")
    damage(tmp_path / "03-mtls-capture")
    with pytest.raises(ValueError, match="recording .*03-mtls-capture") as e:
        load_recorded("03-mtls-capture", root=tmp_path)
    assert said in str(e.value)


def test_a_recording_saved_reads_back_labelled_with_where_and_when(tmp_path):
    import shutil
    from meshlab.telemetry.pcap import RECORDINGS_DIR, load_recorded, save_recorded

    shipped = load_recorded("03-mtls-capture")
    folder = tmp_path / "mine"
    folder.mkdir()
    for c, _ in shipped.captures:
        shutil.copyfile(RECORDINGS_DIR / "03-mtls-capture" / c["pcap"], folder / c["pcap"])
    save_recorded(folder, "a test", "mtls-migration", "sidecar", [c for c, _ in shipped.captures])
    again = load_recorded("mine", root=tmp_path)
    assert again.label.startswith("recorded on the mininet backend, 20")
    assert [cap.readable() for _, cap in again.captures] == [cap.readable() for _, cap in shipped.captures]
