"""The raw extract: spooled page by page, read back in chunks, never half-written."""

from __future__ import annotations

import hashlib
import json

import pytest

from personio_pipeline.apideck.extract import SPOOL_SUFFIX, RawExtract, RawExtractSpool

def write_extract(path, records) -> RawExtract:
    """Records stored as the raw asset stores them: spooled beside the target, then moved in."""
    with RawExtractSpool(path.parent) as spool:
        spool.write(records)
        return spool.finish().move_to(path)


RECORDS = [{"id": str(i), "first_name": f"Ännchen {i}", "emails": [{"email": f"p{i}@acme.example"}]} for i in range(5)]


def test_round_trip_in_small_chunks_keeps_order_and_digest(tmp_path):
    extract = write_extract(tmp_path / "raw" / "acme.jsonl", RECORDS)

    assert extract.path == tmp_path / "raw" / "acme.jsonl"
    assert list(extract.iter_records(chunk_bytes=50)) == RECORDS  # blocks end mid-line
    assert extract.rows == 5
    assert extract.sha256 == hashlib.sha256(extract.path.read_bytes()).hexdigest()
    reopened = RawExtract(extract.path)  # what the IO manager hands to the next step
    assert (reopened.rows, reopened.sha256) == (5, extract.sha256)


def test_reads_files_written_by_hand_with_blank_lines_and_non_objects(tmp_path):
    path = tmp_path / "acme.jsonl"
    path.write_text('{"id": "1"}\n\n  \n[1, 2]\nnull\n{"id": "2"}\n', encoding="utf-8")
    assert RawExtract(path).records() == [{"id": "1"}, [1, 2], None, {"id": "2"}]
    assert RawExtract(path).rows == 4


def test_pages_are_appended_and_one_line_is_one_record(tmp_path):
    with RawExtractSpool(tmp_path) as spool:
        spool.write(RECORDS[:2])
        spool.write([])
        spool.write([{"note": "line\nbreak"}, *RECORDS[2:]])
        extract = spool.finish()
    assert extract.rows == 6
    assert [json.loads(line) for line in extract.path.read_text(encoding="utf-8").splitlines()][2] == {"note": "line\nbreak"}


def test_a_failed_listing_leaves_no_spool_and_keeps_the_previous_extract(tmp_path):
    previous = write_extract(tmp_path / "acme.jsonl", RECORDS)
    before = previous.path.read_bytes()
    with pytest.raises(RuntimeError), RawExtractSpool(tmp_path) as spool:
        spool.write(RECORDS[:1])
        raise RuntimeError("page 2 failed")
    assert list(tmp_path.glob(f"*{SPOOL_SUFFIX}")) == []
    assert previous.path.read_bytes() == before


def test_moving_replaces_the_old_extract_whole(tmp_path):
    target = tmp_path / "data" / "acme.jsonl"
    write_extract(target, RECORDS)
    with RawExtractSpool(tmp_path) as spool:
        spool.write(RECORDS[:1])
        moved = spool.finish().move_to(target)
    assert moved.records() == RECORDS[:1]
    assert sorted(p.name for p in target.parent.iterdir()) == ["acme.jsonl"]


def test_blocks_cut_anywhere_give_the_same_records(tmp_path):
    path = tmp_path / "acme.jsonl"
    path.write_text('{"id": "1"}\r\n\n  \n{"id": "Ä\\n2"}\n\t\n{"id": "3"}', encoding="utf-8")  # no final break
    expected = [{"id": "1"}, {"id": "Ä\n2"}, {"id": "3"}]
    for size in (1, 2, 7, 13, 1 << 20):
        assert list(RawExtract(path).iter_records(chunk_bytes=size)) == expected
