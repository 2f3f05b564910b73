"""bench.ingest_throughput runs end to end on a small PDF: the model alone and the pipeline, paired per round."""

from __future__ import annotations

import re
import shutil

from bench import ingest_throughput
from tests.conftest import FIXTURES


def test_the_ingestion_benchmark_pairs_the_pipeline_with_the_model(postgres_url, tmp_path, monkeypatch, capsys):
    shutil.copy(FIXTURES / "contoso" / "PerksPlus.pdf", tmp_path / "PerksPlus.pdf")
    monkeypatch.setenv("DATABASE_URL", postgres_url)
    monkeypatch.chdir(tmp_path)  # no .env of the checkout's
    assert ingest_throughput.main(["--pdfs", str(tmp_path), "--rounds", "2",
                                   "--table", "bench_ingest_smoke", "--tenant", "smoke"]) == 0
    out = capsys.readouterr().out
    chunks = int(re.search(r"1 PDFs, \d+ pages, (\d+) chunks", out).group(1))
    assert chunks > 0
    rounds = re.findall(r"^round \d+ .*ingest/model (\d\.\d+)", out, re.M)
    assert len(rounds) == 2 and all(float(r) > 0 for r in rounds)
    assert re.search(r"^ingest/model: median \d\.\d+ over 2 paired rounds", out, re.M)
    assert re.search(r"^\s+ingest: median .*busy per step.*embed", out, re.M)
