"""`painterly batch` with the local executor: planning, the job table, failures, resuming, killing.

Real worker processes, a real SQLite file; tiny jobs (64 px, a few steps) so each test takes seconds.
"""

import hashlib
import signal
import socket
import sqlite3
import subprocess
import sys

import pytest
from PIL import Image

from painterly.batch.database import open_table
from painterly.batch.jobs import (
    Defaults,
    JobSpec,
    expand_styles,
    fingerprint,
    grid,
    hash_files,
)
from painterly.batch.manifest import read_manifest
from painterly.cli import main
from painterly.errors import ParameterError
from painterly.fast.settings import ApplySettings
from painterly.params import StyleParams

from batchkit import (
    DB,
    SLOW_ITERATIONS,
    TINY,
    assert_complete,
    jobs,
    kill_worker_of,
    make_inputs,
    start,
    wait_for,
    write_manifest,
)
from imagegen import make_hostile, photo

DEFAULTS = Defaults(StyleParams(size=64), ApplySettings(size=64))


def run(argv, capsys):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# -- planning ---------------------------------------------------------------------------------


def test_grid_names_every_photo_style_pair_and_tells_paintings_from_fast_styles(tmp_path):
    photos, paintings = make_inputs(tmp_path)
    styles = expand_styles([str(paintings), "starry-night"])
    jobs_ = grid(sorted(photos.iterdir()), styles, DEFAULTS)
    assert [(j.name, j.kind) for j in jobs_] == [
        ("p0__stripes.png", "stylize"), ("p0__starry-night.png", "fast"),
        ("p1__stripes.png", "stylize"), ("p1__starry-night.png", "fast"),
    ]
    assert jobs_[0].settings["size"] == 64 and jobs_[1].settings == ApplySettings(size=64).__dict__


def test_two_photos_with_one_name_are_refused_before_any_work(tmp_path):
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        photo().save(tmp_path / sub / "same.png")
    with pytest.raises(ParameterError, match="same__starry-night.png: two jobs would write it"):
        grid([tmp_path / "a" / "same.png", tmp_path / "b" / "same.png"], ["starry-night"], DEFAULTS)


def test_an_unknown_style_name_gets_a_suggestion():
    with pytest.raises(ParameterError, match="starry-night"):
        expand_styles(["starry-nite"])


def test_fingerprint_follows_input_bytes_and_settings(tmp_path):
    photos, paintings = make_inputs(tmp_path, photos=1)
    job = grid([photos / "p0.png"], [str(paintings / "stripes.png")], DEFAULTS)[0]
    before = fingerprint(job, hash_files(job.input_files()))
    changed = JobSpec(job.name, job.kind, job.content, job.styles, {**job.settings, "style_weight": 20.0})
    assert fingerprint(changed, hash_files(job.input_files())) != before
    photo(97, 64).save(photos / "p0.png")  # same name, other pixels
    assert fingerprint(job, hash_files(job.input_files())) != before


def test_manifest_rows_carry_their_own_typed_settings(tmp_path):
    make_inputs(tmp_path)
    csv = tmp_path / "jobs.csv"
    csv.write_text(
        "content,style,output,size,style_weights,strength\n"
        "photos/p0.png,paintings/stripes.png;paintings/stripes.png,blend.jpg,48,1 3,\n"
        "photos/p1.png,the-scream,,,,0.5\n"
    )
    first, second = read_manifest(csv, DEFAULTS)
    assert first.name == "blend.jpg" and first.kind == "stylize" and first.content == tmp_path / "photos/p0.png"
    assert first.settings["size"] == 48 and first.settings["style_weights"] == [1.0, 3.0]
    assert first.settings["strength"] == 1.0  # empty cell: the command's value
    assert second.name == "p1__the-scream.png" and second.kind == "fast" and second.settings["strength"] == 0.5


@pytest.mark.parametrize("row, message", [
    ({"content": "photos/p0.png", "style": "paintings/stripes.png", "size": 10}, "line 1: size: 10 is below the minimum 32"),
    ({"content": "photos/p0.png", "style": "paintings/stripes.png", "sise": 64}, "line 1: unknown setting 'sise'"),
    ({"content": "photos/p0.png", "style": "paintings/stripes.png", "iterations": "many"}, "iterations: 'many' is not a int"),
    ({"content": "photos/p0.png", "style": "paintings/stripes.png", "output": "../escape.png"}, "inside the output folder"),
    ({"content": "photos/p0.png", "style": "paintings/stripes.png", "init": "photos/p1.png"}, "init:"),
    ({"style": "paintings/stripes.png"}, "line 1: no 'content'"),
])
def test_bad_manifest_rows_are_refused_with_line_and_field_and_exit_2(tmp_path, capsys, row, message):
    make_inputs(tmp_path)
    manifest = write_manifest(tmp_path / "jobs.jsonl", [row])
    code, _, err = run(["batch", "--manifest", manifest, "-o", tmp_path / "out", *TINY], capsys)
    assert code == 2 and message in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "out").exists()  # nothing created before the answer


@pytest.mark.parametrize("args, message", [
    (["--workers", "0"], "workers: 0 is below the minimum 1"),
    (["--retries", "-1"], "retries: -1 is below the minimum 0"),
    (["--size", "8"], "size: 8 is below the minimum 32"),
    (["--strength", "2"], "strength: 2.0 is above the maximum 1.0"),
])
def test_bad_options_exit_2_before_any_work(tmp_path, capsys, args, message):
    photos, paintings = make_inputs(tmp_path)
    code, _, err = run(["batch", "--contents", photos, "--styles", paintings, "-o", tmp_path / "out", *args], capsys)
    assert code == 2 and message in err, err
    assert not (tmp_path / "out").exists()


def test_an_output_that_is_an_input_or_a_file_is_refused(tmp_path, capsys):
    photos, _ = make_inputs(tmp_path)
    before = {p.name: p.read_bytes() for p in photos.iterdir()}
    for output, message in (("p0.png", "refusing to overwrite the input"), ("p1.png", "exists and was not painted by a batch here")):
        manifest = write_manifest(tmp_path / "jobs.jsonl", [{"content": "photos/p0.png", "style": "starry-night", "output": output}])
        code, _, err = run(["batch", "--manifest", manifest, "-o", photos, *TINY], capsys)
        assert code == 2 and message in err, err
    assert {p.name: p.read_bytes() for p in photos.iterdir()} == before  # no table, no picture, nothing changed
    code, _, err = run(["batch", "--contents", photos, "--styles", "starry-night", "-o", photos / "p0.png"], capsys)
    assert code == 2 and "is a file; give a folder" in err


# -- the job table ----------------------------------------------------------------------------


def test_job_table_is_a_wal_sqlite_file_and_a_changed_job_starts_over(tmp_path):
    photos, _ = make_inputs(tmp_path, photos=1)
    job = grid([photos / "p0.png"], ["starry-night"], DEFAULTS)[0]
    table = open_table(tmp_path)
    table.sync([job], {job.name: "fp1"})
    table.claim(job.name, "local:1")
    table.finish(job.name, "abc", 1.5, "local:1")
    table.sync([job], {job.name: "fp1"})  # unchanged: stays done
    assert (table.row(job.name).state, table.row(job.name).attempts) == ("done", 1)
    table.sync([job], {job.name: "fp2"})  # a setting or an input changed
    row = table.row(job.name)
    assert (row.state, row.attempts, row.output_sha256, row.fingerprint) == ("pending", 0, None, "fp2")
    table.claim(job.name, "local:2")
    assert table.recover_running() == 1 and table.row(job.name).state == "pending"
    table.close()
    with sqlite3.connect(tmp_path / DB) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


# -- running ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_grid_paints_every_pair_fails_a_bad_photo_alone_and_resumes(tmp_path, capsys):
    photos, paintings = make_inputs(tmp_path)
    make_hostile("empty", photos)  # photos/empty.jpg
    out = tmp_path / "out"
    args = ["batch", "--contents", photos, "--styles", paintings, "starry-night", "-o", out, "--workers", "2", *TINY]
    code, _, err = run(args, capsys)
    assert code == 1, err  # one job per style failed
    assert "failed: empty__stripes.png: " in err and "empty.jpg: file is empty" in err
    good = {f"p{i}__{s}.png" for i in (0, 1) for s in ("stripes", "starry-night")}
    table = jobs(out)
    assert {n for n, r in table.items() if r["state"] == "failed"} == {"empty__stripes.png", "empty__starry-night.png"}
    assert table["empty__stripes.png"]["error"].endswith("empty.jpg: file is empty")
    sizes = {"p0__stripes.png": (64, 43), "p1__starry-night.png": (64, 39)}
    for name in good:
        assert table[name]["state"] == "done" and table[name]["worker"].startswith("local:")
        with Image.open(out / name) as img:
            assert img.size == sizes.get(name, img.size) and max(img.size) == 64
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == table[name]["output_sha256"]

    # Rerun: finished pictures are skipped; the failed ones are tried again (and fail again).
    code, _, err = run(args, capsys)
    again = jobs(out)
    assert code == 1
    for name in good:
        assert again[name]["finished_at"] == table[name]["finished_at"] and again[name]["attempts"] == 1
    assert again["empty__stripes.png"]["attempts"] == 2

    # A deleted picture is painted again; a changed setting makes new jobs.
    (out / "p0__stripes.png").unlink()
    code, _, err = run(args, capsys)
    assert "painting p0__stripes.png again: its picture was missing" in err
    assert jobs(out)["p1__stripes.png"]["finished_at"] == table["p1__stripes.png"]["finished_at"]
    code, _, err = run([*args, "--size", "80"], capsys)
    assert code == 1, err
    with Image.open(out / "p1__stripes.png") as img:
        assert img.size == (80, 49), err


@pytest.mark.slow
def test_status_reports_counts_and_failures(tmp_path, capsys):
    photos, _ = make_inputs(tmp_path, photos=1)
    make_hostile("text", photos)
    out = tmp_path / "out"
    run(["batch", "--contents", photos, "--styles", "great-wave", "-o", out, "--workers", "1", *TINY], capsys)
    code, stdout, _ = run(["batch", "status", out], capsys)
    assert code == 1
    assert f"{out}: 2 jobs: 1 done, 0 running, 0 pending, 1 failed" in stdout
    assert "failed notes__great-wave.png after 1 attempts: " in stdout and "not an image file" in stdout
    code, _, err = run(["batch", "status", tmp_path], capsys)
    assert code == 2 and "no batch here" in err


@pytest.mark.slow
def test_ray_is_not_imported_by_a_local_batch():
    code = "import sys, painterly.cli.batch, painterly.batch.runner, painterly.batch.local; print('ray' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


@pytest.mark.slow
def test_a_killed_worker_has_its_job_retried_and_every_picture_is_written_once(tmp_path):
    make_inputs(tmp_path, photos=3)
    rows = [{"content": f"photos/p{i}.png", "style": "paintings/stripes.png"} for i in range(3)]
    rows[0].update(size=96, iterations=SLOW_ITERATIONS)
    manifest = write_manifest(tmp_path / "jobs.jsonl", rows)
    out = tmp_path / "out"
    proc = start("--manifest", manifest, "-o", out, "--workers", "2", *TINY)
    killed = kill_worker_of(out, "p0__stripes.png", proc)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert f"retrying p0__stripes.png: worker local:{killed} died (exit code -9)" in err
    table = assert_complete(out, {f"p{i}__stripes.png" for i in range(3)}, {"p0__stripes.png": (96, 64)})
    assert table["p0__stripes.png"]["attempts"] == 2 and table["p0__stripes.png"]["worker"] != f"local:{killed}"
    assert [table[f"p{i}__stripes.png"]["attempts"] for i in (1, 2)] == [1, 1]


@pytest.mark.slow
def test_ctrl_c_stops_the_driver_cleanly_and_the_rerun_redoes_nothing(tmp_path):
    make_inputs(tmp_path, photos=4)
    rows = [{"content": f"photos/p{i}.png", "style": "paintings/stripes.png"} for i in range(4)]
    rows[3].update(size=96, iterations=SLOW_ITERATIONS)  # still painting when Ctrl-C comes
    manifest = write_manifest(tmp_path / "jobs.jsonl", rows)
    out = tmp_path / "out"
    args = ("--manifest", manifest, "-o", out, "--workers", "1", *TINY)
    proc = start(*args)
    wait_for(lambda: jobs(out).get("p3__stripes.png", {}).get("state") == "running", proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted: 3 of 4 pictures done; run the same command again to continue" in err
    assert "Traceback" not in err
    before = jobs(out)
    assert before["p3__stripes.png"]["state"] == "pending" and before["p3__stripes.png"]["attempts"] == 0
    assert not (out / "p3__stripes.png").exists()
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]  # nothing half-written

    proc = start(*args)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    after = assert_complete(out, {f"p{i}__stripes.png" for i in range(4)})
    for i in range(3):
        assert after[f"p{i}__stripes.png"]["finished_at"] == before[f"p{i}__stripes.png"]["finished_at"]
    assert after["p3__stripes.png"]["attempts"] == 1


def test_a_ray_address_where_nothing_listens_is_one_line_and_exit_2(tmp_path, capsys):
    photos, _ = make_inputs(tmp_path, photos=1)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    code, _, err = run(["batch", "--contents", photos, "--styles", "great-wave", "-o", tmp_path / "out",
                        "--ray", f"127.0.0.1:{port}", "-q"], capsys)
    assert code == 2 and f"ray: nothing answers at 127.0.0.1:{port}" in err, err
    assert len(err.strip().splitlines()) == 1

