"""Loading and validating FER2013 CSV files: every bad-row case gets one clear error naming the row."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import pixel_string
from training.data import FER2013_LABELS, DataError, load_fer2013, parse_pixels, stratified_limit


def good_rows(n: int = 14, seed: int = 0) -> list[tuple[object, str, str]]:
    rng = np.random.default_rng(seed)
    usages = ("Training", "PublicTest", "PrivateTest")
    return [(i % 7, pixel_string(rng), usages[i % 3]) for i in range(n)]


def test_load_parses_pixels_labels_and_usage(make_csv):
    rows = good_rows()
    data = load_fer2013(make_csv(rows))
    assert data.images.shape == (14, 48, 48) and data.images.dtype == np.uint8
    expected = np.array([np.array(p.split(), dtype=np.uint8).reshape(48, 48) for _, p, _ in rows])
    np.testing.assert_array_equal(data.images, expected)
    assert data.labels.tolist() == [r[0] for r in rows]
    assert [("Training", "PublicTest", "PrivateTest")[u] for u in data.usage] == [r[2] for r in rows]
    assert data.label_names == FER2013_LABELS


def test_gzip_and_plain_csv_load_identically_with_the_same_sha256(make_csv, tmp_path):
    plain = make_csv(good_rows())
    gz = tmp_path / "fer.csv.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    a, b = load_fer2013(plain), load_fer2013(gz)
    np.testing.assert_array_equal(a.images, b.images)
    assert a.sha256 == b.sha256


def test_parse_pixels_matches_str_split_on_edge_values():
    rng = np.random.default_rng(1)
    rows = [" ".join(map(str, rng.choice([0, 1, 9, 10, 99, 100, 255], size=2304))) for _ in range(200)]
    expected = np.array([r.split() for r in rows], dtype=np.uint8)
    np.testing.assert_array_equal(parse_pixels(rows), expected)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: (r[0], r[1].rsplit(" ", 1)[0], r[2]), "row 5 (line 7): expected 2304 pixel values, found 2303"),
        (lambda r: (r[0], "256" + r[1][r[1].index(" "):], r[2]), "row 5 (line 7): pixel value 256 is outside 0-255"),
        (lambda r: (r[0], "1000" + r[1][r[1].index(" "):], r[2]), "row 5 (line 7): pixel value 1000 is outside"),
        (lambda r: (9, r[1], r[2]), "row 5 (line 7): emotion label 9 is not in 0-6"),
        (lambda r: ("happy", r[1], r[2]), "row 5 (line 7): emotion 'happy' is not an integer label"),
        (lambda r: (r[0], r[1], "Validation"), "row 5 (line 7): Usage 'Validation' is not one of"),
        (lambda r: (r[0], r[1].replace(" ", "  ", 1), r[2]), "row 5 (line 7): pixels contain an empty value"),
        (lambda r: (r[0], "-1" + r[1][r[1].index(" "):], r[2]), "row 5 (line 7): pixels must be space-separated"),
        (lambda r: (r[0], "", r[2]), "row 5 (line 7): the pixels field is empty"),
    ],
    ids=["2303-values", "value-256", "value-1000", "label-9", "label-text", "unknown-usage", "double-space",
         "negative", "empty-pixels"],
)
def test_bad_row_is_named_with_its_fault(make_csv, mutate, message):
    rows = good_rows()
    rows[5] = mutate(rows[5])
    with pytest.raises(DataError) as err:
        load_fer2013(make_csv(rows))
    assert message in str(err.value)


def test_bad_row_deep_in_a_large_file_is_numbered_in_the_file(make_csv):
    rows = good_rows(700)
    rows[613] = (rows[613][0], rows[613][1] + " 7", rows[613][2])
    with pytest.raises(DataError, match=r"row 613 \(line 615\): expected 2304 pixel values, found 2305"):
        load_fer2013(make_csv(rows))


@pytest.mark.parametrize("header", ["emotion,pixels", "emotion,pixels,Usage,extra", "label,pixels,Usage"])
def test_wrong_column_set_is_refused(make_csv, header):
    path = make_csv(header=header)
    with pytest.raises(DataError, match=r"expected the columns \['emotion', 'pixels', 'Usage'\]"):
        load_fer2013(path)


def test_empty_and_header_only_and_missing_files_are_refused(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError, match="the file is empty"):
        load_fer2013(empty)
    header = tmp_path / "header.csv"
    header.write_text("emotion,pixels,Usage\n")
    with pytest.raises(DataError, match="no rows"):
        load_fer2013(header)
    with pytest.raises(DataError, match="no such file"):
        load_fer2013(tmp_path / "missing.csv")


def test_stratified_limit_keeps_every_usage_and_class_share(make_csv):
    data = load_fer2013(make_csv(n_per_class=10))  # 210 rows, 10 per (usage, class)
    small = stratified_limit(data, 105, seed=0)
    assert len(small) == 105
    for usage in ("Training", "PublicTest", "PrivateTest"):
        counts = np.bincount(small.labels[small.usage == ("Training", "PublicTest", "PrivateTest").index(usage)],
                             minlength=7)
        assert (counts == 5).all()
    assert set(small.rows) <= set(data.rows)


def test_real_fer2013_has_the_published_counts(fer2013):
    counts = fer2013.counts()
    assert len(fer2013) == 35_887
    assert sum(counts["Training"]) == 28_709
    assert sum(counts["PublicTest"]) == 3_589
    assert sum(counts["PrivateTest"]) == 3_589
    assert counts["total"] == [4953, 547, 5121, 8989, 6077, 4002, 6198]
    assert fer2013.sha256 == "07f2f636efd288745291ec8598051c92a830679aabc23147e4ca7242250e7d92"


def test_real_ferplus_relabelling_drops_unlabelled_rows(fer2013, ferplus_csv: Path):
    from training.ferplus import relabel

    seven = relabel(fer2013, str(ferplus_csv), "ferplus")
    eight = relabel(fer2013, str(ferplus_csv), "ferplus8")
    assert seven.label_names == FER2013_LABELS and eight.label_names[-1] == "contempt"
    assert 30_000 < len(seven) < len(eight) < len(fer2013)
    assert (eight.labels == 7).sum() == len(eight) - len(seven)  # exactly the contempt rows are extra
    # Relabelling keeps each image with its own original row and Usage.
    np.testing.assert_array_equal(seven.images, fer2013.images[seven.rows])
    np.testing.assert_array_equal(seven.usage, fer2013.usage[seven.rows])
