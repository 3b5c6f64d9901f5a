"""Search: the index on disk, search by image and by words, tags, words, the map, and the CLI."""

import json
import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from painterly.cli import main
from painterly.errors import ParameterError
from painterly.search import (
    Embedder,
    IndexDatabase,
    IndexFileError,
    Library,
    class_names,
    classes_for,
    collection_map,
    index_folder,
    optimise_representation,
    similar_words,
    tag_images,
    tags_from_probabilities,
)
from painterly.search.layout import neighbours_agree

from imagegen import make_hostile, opened

EXAMPLES = Path(__file__).parent.parent / "examples"
LION = 291


@pytest.fixture(scope="module")
def embedder():
    return Embedder()


def _save_small(src: Path, dst: Path, side: int = 200) -> Path:
    im = opened(src).convert("RGB")
    im.thumbnail((side, side))
    dst.parent.mkdir(parents=True, exist_ok=True)
    im.save(dst, quality=90)
    return dst


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    """Three paintings' right halves and two photos, small; the left halves are kept as queries."""
    root = tmp_path_factory.mktemp("collection")
    queries = tmp_path_factory.mktemp("queries")
    for name in ("starry_night", "the_scream", "great_wave"):
        im = opened(EXAMPLES / f"{name}.jpg").convert("RGB")
        im.thumbnail((320, 320))
        w = im.width // 2
        im.crop((w, 0, im.width, im.height)).save(_mk(root / "paintings") / f"{name}.jpg", quality=90)
        im.crop((0, 0, w, im.height)).save(queries / f"{name}_left.jpg", quality=90)
    _save_small(EXAMPLES / "figures.jpg", root / "photos" / "figures.jpg")
    _save_small(Path(__file__).parent / "data" / "cat.jpg", root / "photos" / "cat.jpg")
    return root, queries


def _mk(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def indexed(collection, embedder, tmp_path_factory):
    root, _ = collection
    db = tmp_path_factory.mktemp("db") / "index.sqlite"
    report = index_folder(root, db, embedder=embedder)
    assert sorted(report.added) == ["paintings/great_wave.jpg", "paintings/starry_night.jpg",
                                    "paintings/the_scream.jpg", "photos/cat.jpg", "photos/figures.jpg"]
    return db


# -- the index on disk ----------------------------------------------------------------------


def test_index_is_incremental_and_drops_deleted_files(tmp_path, embedder):
    root = tmp_path / "pics"
    a = _save_small(EXAMPLES / "figures.jpg", root / "a.jpg", 96)
    b = _save_small(EXAMPLES / "great_wave.jpg", root / "sub" / "b.jpg", 96)
    db = tmp_path / "i.sqlite"
    first = index_folder(root, db, embedder=embedder)
    assert (sorted(first.added), first.unchanged, first.removed) == (["a.jpg", "sub/b.jpg"], 0, [])

    os.utime(a, ns=(1, 1))  # touched, same bytes: the hash says unchanged, no new embedding
    second = index_folder(root, db, embedder=embedder)
    assert (second.added, second.updated, second.unchanged) == ([], [], 2)

    _save_small(EXAMPLES / "the_scream.jpg", a, 96)  # new content under the old name
    b.unlink()
    third = index_folder(root, db, embedder=embedder)
    assert (third.updated, third.removed, third.unchanged) == (["a.jpg"], ["sub/b.jpg"], 0)
    with IndexDatabase(db) as opened:
        assert list(opened.rows()) == ["a.jpg"]
        assert opened.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        row = opened.conn.execute(
            "SELECT length(content) + length(style) + length(semantic) + length(tags) + length(thumbnail) "
            "+ length(path) + 64 + 24 FROM images").fetchone()[0]
    assert row <= 20_000  # the per-image budget, thumbnail included


def test_interrupted_index_keeps_finished_images_and_resumes(tmp_path, embedder):
    root = tmp_path / "pics"
    for i, name in enumerate(("figures", "great_wave", "the_scream", "starry_night")):
        _save_small(EXAMPLES / f"{name}.jpg", root / f"{i}.jpg", 80)
    db = tmp_path / "i.sqlite"

    def stop_after_two(done, total):
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        index_folder(root, db, embedder=embedder, progress=stop_after_two)
    with IndexDatabase(db) as opened:
        assert len(opened) == 2
    report = index_folder(root, db, embedder=embedder)
    assert (sorted(report.added), report.unchanged) == (["2.jpg", "3.jpg"], 2)


def test_unreadable_files_are_listed_and_skipped(tmp_path, embedder):
    root = tmp_path / "pics"
    _save_small(EXAMPLES / "figures.jpg", root / "ok.jpg", 80)
    make_hostile("truncated", root)
    make_hostile("empty", root)
    (root / "full.jpg").unlink()  # make_hostile leaves the untruncated source beside the cut one
    warned = []
    report = index_folder(root, tmp_path / "i.sqlite", embedder=embedder, warn=warned.append)
    assert report.added == ["ok.jpg"]
    assert len(report.skipped) == 2 and warned == report.skipped
    assert any("cut.jpg" in w and "truncated" in w for w in warned)


def test_corrupt_and_foreign_databases_are_refused_untouched(tmp_path, collection):
    root, _ = collection
    corrupt = tmp_path / "corrupt.sqlite"
    corrupt.write_bytes(b"this is not SQLite at all " * 100)
    before = corrupt.read_bytes()
    with pytest.raises(IndexFileError, match="damaged or not an index"):
        index_folder(root, corrupt)
    assert corrupt.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corrupt.sqlite"]  # no -wal/-shm left

    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE notes (x)")
    with pytest.raises(IndexFileError, match="not a painterly index"):
        IndexDatabase(other, create=True, root=root)


@pytest.mark.parametrize("change", [
    "UPDATE meta SET value='0' WHERE key='format_version'",
    # an index written before a setting existed: its vectors cannot be reproduced
    "UPDATE meta SET value=json_remove(value, '$.content_mean_weight') WHERE key='settings'",
])
def test_an_index_of_another_version_is_refused_then_rebuilt(tmp_path, collection, embedder, change):
    root, _ = collection
    db = tmp_path / "i.sqlite"
    index_folder(root, db, embedder=embedder)
    with sqlite3.connect(db) as conn:
        conn.execute(change)
    with pytest.raises(IndexFileError, match="another painterly version.*--rebuild"):
        Library(db)
    with pytest.raises(IndexFileError, match="another painterly version"):
        index_folder(root, db, embedder=embedder)
    report = index_folder(root, db, embedder=embedder, rebuild=True)
    assert len(report.added) == 5
    with IndexDatabase(db) as opened:
        assert opened.meta["format_version"] == "1"


# -- search by image --------------------------------------------------------------------------


def test_left_half_of_a_painting_finds_its_right_half_by_style(indexed, collection):
    _, queries = collection
    with Library(indexed) as library:
        for name in ("starry_night", "the_scream", "great_wave"):
            hits = library.by_image(queries / f"{name}_left.jpg", by="style", k=5).hits
            assert hits[0].key == f"paintings/{name}.jpg"
            assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_a_crop_and_a_rescaled_copy_find_their_source_by_content(indexed, collection, embedder):
    root, _ = collection
    with Library(indexed, embedder) as library:
        for key in ("photos/figures.jpg", "photos/cat.jpg"):
            image = embedder.load(root / key)
            h, w = image.shape[-2:]
            crop = image[..., h // 10: h - h // 10, w // 10: w - w // 10]
            small = F.interpolate(image, scale_factor=0.5, mode="bilinear", antialias=True)
            for query in (crop, small):
                assert library.by_image(query, by="content", k=1).hits[0].key == key


def test_search_scores_are_cosines_computed_by_hand(indexed, collection, embedder):
    _, queries = collection
    query = embedder.load(queries / "great_wave_left.jpg")
    with Library(indexed, embedder) as library:
        hits = library.by_image(query, by="style", k=5).hits
        paths, stored = library.db.matrix("style")
    q = embedder.embed(query).style.half().float()  # stored vectors are float16
    by_hand = {p: float(F.cosine_similarity(v, q, dim=0)) for p, v in zip(paths, stored)}
    for hit in hits:
        assert hit.score == pytest.approx(by_hand[hit.key], abs=2e-3)


# -- words -----------------------------------------------------------------------------------


def test_words_map_to_classes():
    assert classes_for("a lion") == [LION]
    assert classes_for("lions") == [LION]
    assert set(classes_for("tiger, zebra")) == {292, 340}
    boats = {class_names()[i] for i in classes_for("boats")}
    assert {"lifeboat", "fireboat"} <= boats
    with pytest.raises(ParameterError, match="no ImageNet class is called 'liom'.*'lion'"):
        classes_for("liom")


def test_optimised_representation_makes_the_head_say_the_classes(embedder):
    fc = embedder.classifier
    one = optimise_representation(fc, [LION])
    assert one.probability >= 0.99 and int(fc(one.vector).argmax()) == LION
    assert float(one.vector.min()) >= 0 and float(one.vector.max()) <= 6  # where pooled ReLU6 features live
    two = optimise_representation(fc, [LION, 340])
    p = fc(two.vector).softmax(0)
    assert set(p.topk(2).indices.tolist()) == {LION, 340}
    assert min(float(p[LION]), float(p[340])) >= 0.25  # both named classes get a real share


def test_words_search_finds_the_cat_and_agrees_with_the_logits_baseline(indexed):
    with Library(indexed) as library:
        words = library.by_words("tabby cat", k=5)
        logits = library.by_words("tabby cat", k=5, method="logits")
    assert words.hits[0].key == logits.hits[0].key == "photos/cat.jpg"
    assert words.classes == ["tabby cat"]


def test_similar_words_are_the_nearest_class_vectors(embedder):
    fc = embedder.classifier
    w = F.normalize(fc.weight.detach(), dim=1)
    found = similar_words(fc, "lion", k=3)
    scores = w @ w[LION]
    scores[LION] = -2
    assert [x.index for x in found] == scores.topk(3).indices.tolist()
    assert found[0].score == pytest.approx(float(scores.max()), abs=1e-5)
    analogy = similar_words(fc, "lion", plus=["zebra"], minus=["tiger"], k=1)[0]
    by_hand = w @ F.normalize(w[LION] + w[340] - w[292], dim=0)
    by_hand[[LION, 340, 292]] = -2
    assert analogy.index == int(by_hand.argmax())


def test_tags_are_the_most_probable_classes(cat_path, embedder):
    probabilities = torch.zeros(1000)
    probabilities[[5, 7, 9]] = torch.tensor([0.2, 0.5, 0.3])
    assert [(t.index, t.score) for t in tags_from_probabilities(probabilities, 2)] == [(7, 0.5), (9, pytest.approx(0.3))]
    tags = tag_images([cat_path], k=3, embedder=embedder)[0]
    assert 281 <= tags[0].index <= 285  # Chelsea the cat: one of ImageNet's five domestic cats
    assert tags[0].score >= tags[1].score >= tags[2].score


@pytest.mark.slow
def test_map_keeps_neighbourhoods(indexed):
    with Library(indexed) as library:
        result = collection_map(library, by="style", size=256, thumbnail=32)
        _, vectors = library.vectors("style")
    assert result.image.size == (256, 256)
    assert result.positions.min() >= 0 and result.positions.max() <= 1
    assert neighbours_agree(vectors.float().numpy(), result.positions, k=1) >= 0.6
    # the thumbnails are drawn: the canvas is not blank
    assert np.asarray(result.image).std() > 10


# -- the command line -------------------------------------------------------------------------


def run(argv, capsys):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.slow
def test_cli_index_search_json_and_sheet(tmp_path, collection, capsys):
    root, queries = collection
    folder = tmp_path / "pics"
    for p in root.rglob("*.jpg"):
        (folder / p.relative_to(root)).parent.mkdir(parents=True, exist_ok=True)
        (folder / p.relative_to(root)).write_bytes(p.read_bytes())
    make_hostile("empty", folder)
    code, _, err = run(["index", folder, "-q"], capsys)
    assert code == 1  # indexed, but one file could not be read
    assert err.count("warning: skipped") == 1 and "empty.jpg: file is empty" in err
    db = folder / ".painterly" / "index.sqlite"
    assert db.is_file()

    sheet = tmp_path / "sheet.png"
    code, out, err = run(["search", "--db", db, "--image", queries / "the_scream_left.jpg", "-k", "3",
                          "--json", "-o", sheet], capsys)
    assert code == 0, err
    hits = json.loads(out)
    assert [set(h) for h in hits] == [{"path", "score"}] * 3
    assert hits[0]["path"] == str(folder.resolve() / "paintings" / "the_scream.jpg")
    assert hits[0]["score"] >= hits[1]["score"] >= hits[2]["score"]
    assert opened(sheet).size[0] > 3 * 100

    code, out, _ = run(["search", "--db", db, "--words", "tabby cat", "-k", "1", "--json"], capsys)
    assert code == 0 and json.loads(out)[0]["path"].endswith("photos/cat.jpg")


@pytest.mark.parametrize("argv, message", [
    (["search", "--db", "{db}", "--image", "{q}", "-k", "0"], "-k: must be from 1 to 1000"),
    (["search", "--db", "{db}", "--image", "{q}", "-o", "{q}"], "refusing to overwrite"),
    (["search", "--db", "{db}", "--image", "{q}", "-o", "out.txt"], "unsupported output format"),
    (["search", "--db", "{db}", "--words", "lion", "--by", "style"], "--by: applies to --image"),
    (["search", "--db", "{db}", "--words", "unicorn"], "no ImageNet class is called 'unicorn'"),
    (["search", "--db", "{missing}", "--words", "lion"], "no such index"),
    (["map", "--db", "{db}", "-o", "m.png", "--thumbnail", "1000"], "--thumbnail: must be from 16 to 400"),
    (["map", "--db", "{db}", "-o", "m.png", "--size", "10"], "--size: must be from 256 to 8192"),
    (["words", "unicorn"], "did you mean"),
    (["tags", "{empty}"], "file is empty"),
])
def test_cli_bad_input_is_one_line_and_exit_2(argv, message, tmp_path, indexed, collection, capsys):
    _, queries = collection
    q = tmp_path / "q.jpg"
    q.write_bytes((queries / "great_wave_left.jpg").read_bytes())
    empty = make_hostile("empty", tmp_path)
    names = {"db": indexed, "q": q, "missing": tmp_path / "nope.sqlite", "empty": empty}
    before = q.read_bytes()
    code, _, err = run([a.format(**names) for a in argv], capsys)
    assert code == 2
    assert err.count("\n") == 1 and message in err and "Traceback" not in err
    assert q.read_bytes() == before


def test_cli_corrupt_database_is_one_line_and_left_alone(tmp_path, collection, capsys):
    root, _ = collection
    db = tmp_path / "index.sqlite"
    db.write_bytes(b"\0garbage" * 512)
    before = db.read_bytes()
    for argv in (["index", root, "--db", db], ["search", "--db", db, "--words", "lion"]):
        code, _, err = run(argv, capsys)
        assert code == 2 and err.count("\n") == 1 and "damaged or not an index" in err
    assert db.read_bytes() == before


def test_cli_tags_and_words_json(cat_path, capsys):
    code, out, _ = run(["tags", cat_path, "-k", "2", "--json"], capsys)
    tags = json.loads(out)
    assert code == 0 and len(tags) == 2 and set(tags[0]) == {"label", "score"} and tags[0]["score"] > tags[1]["score"]
    code, out, _ = run(["words", "lion", "-k", "4", "--json"], capsys)
    words = json.loads(out)
    assert code == 0 and len(words) == 4 and "lion" not in [w["word"] for w in words]
    assert [w["score"] for w in words] == sorted((w["score"] for w in words), reverse=True)


def test_load_image_at_least_decodes_large_jpegs_smaller_but_never_below(tmp_path):
    from painterly.io import load_image, resize_long_side, resize_to

    path = tmp_path / "big.jpg"
    opened(EXAMPLES / "figures.jpg").save(path, quality=95)  # 1024x683
    full = load_image(path)
    reduced = load_image(path, at_least=224)
    assert tuple(reduced.shape[-2:]) == (171, 256)  # libjpeg's 1/4 scale: the smallest still >= 224
    assert tuple(load_image(path, at_least=2000).shape[-2:]) == tuple(full.shape[-2:])
    # What the index sees is the same picture either way.
    a = resize_long_side(full, 224)
    b = resize_to(reduced, tuple(a.shape[-2:]))
    assert float((a - b).abs().mean()) < 0.02
