"""A small slice of bench/retrieval_latency.py end to end: bulk build, latency table, pruning overlap."""

from __future__ import annotations

import re

from bench import retrieval_latency
from tests.conftest import FIXTURES


def test_retrieval_bench_slice(postgres_url, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", postgres_url)
    argv = ["--chunks", "900", "--tenants", "4", "--queries", "3", "--workers", "1", "--table", "bench_slice",
            "--scifact", str(FIXTURES / "beir_tiny"), "--list-depth", "100", "--postings-budget", "300"]
    assert retrieval_latency.main(argv + ["--rebuild"]) == 0
    out = capsys.readouterr().out
    assert "table: 900 chunks" in out and "impact-ordered" in out
    rows = re.findall(r"^(small|medium|large) .*?(vector|text|hybrid) .*?(\d+)/3$", out, re.M)
    assert len(rows) == 9  # a text query may match fewer than 5 chunks; vector and hybrid always fill the top-5
    assert all(full == "3" for _, mode, full in rows if mode != "text")
    overlaps = re.findall(r"top-10 overlap (\d\.\d+)", out)
    # Cut lists (100 postings of common words in tenants of 90-270 chunks): the top-10 barely changes.
    assert len(overlaps) == 3 and min(float(x) for x in overlaps) >= 0.8
    assert retrieval_latency.main(argv) == 0 and "reusing bench_slice" in capsys.readouterr().out
