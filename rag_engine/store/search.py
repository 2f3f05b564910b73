"""Reads for retrieval: a tenant's nearest chunks by vector, its best chunks by BM25, term statistics.

Full-text search ranks by Okapi BM25, computed in SQL. PostgreSQL's ``ts_rank`` has no inverse
document frequency and no length normalisation against the collection; so document frequencies
are counted per tenant from the postings at query time, and the tenant's chunk and token counts
come from the registry: one tenant's documents never change another's scores.
"""

from __future__ import annotations

from typing import List, Sequence

import sqlalchemy as sa

from .tables import TEXT_SEARCH_CONFIG, ChunkRow, Tables, scope

# Okapi BM25 parameters: Anserini's BEIR defaults, also the best of the grid tried on SciFact's
# train split (bench/tune_fusion.py; k1 0.9-1.2 and b 0.4-0.9 all within 0.01 nDCG@10).
BM25_K1 = 0.9
BM25_B = 0.4
# Pruning of the BM25 leg (text_search): postings read per query lexeme, in impact order, and
# chunks completed with the postings the cut lists left out.
BM25_LIST_DEPTH = 1000  # at least this many postings per common lexeme
BM25_POSTINGS_BUDGET = 40000  # postings read per query when its lexemes are common
BM25_POOL = 1000
# How the common lexemes share the budget: in proportion to their idf ("idf": a word in half the tenant's
# chunks can move a ranking little, however many of its postings are read), or "equal". Measured at 1M
# chunks (bench/README.md, section 3): the same budget, top-60 closer to exhaustive and a faster leg.
BM25_BUDGET_SPLIT = "idf"
BUDGET_SPLITS = ("idf", "equal")


def _vector_literal(embedding: Sequence[float]) -> str:
    return "[" + ",".join(repr(float(x)) for x in embedding) + "]"


class ChunkSearch:
    """The ChunkStore's reads (needs ``engine``, ``tables``, the search settings and ``iterative_scan``)."""

    engine: sa.Engine
    tables: Tables
    exact_search_max_rows: int
    hnsw_ef_search: int
    iterative_scan: bool
    bm25_k1: float = BM25_K1
    bm25_b: float = BM25_B
    bm25_list_depth: int = BM25_LIST_DEPTH
    bm25_postings_budget: int = BM25_POSTINGS_BUDGET
    bm25_pool: int = BM25_POOL
    bm25_budget_split: str = BM25_BUDGET_SPLIT

    def tenant_chunk_count(self, tenant_id: str) -> int:
        t = self.tables
        with self.engine.connect() as conn:
            return int(conn.execute(sa.text(
                f"SELECT coalesce(sum(chunk_count), 0) FROM {t.documents} WHERE {t.of_tenant(t.documents)}"),
                scope(tenant_id)).scalar())

    def vector_search(self, tenant_id: str, embedding: Sequence[float], k: int) -> List[ChunkRow]:
        """The tenant's ``k`` nearest chunks by cosine similarity, always a full top-k.

        HNSW filters after the index scan, so a small tenant in a big table could get fewer
        than k rows. Small tenants are searched exactly (their rows via the tenant index);
        larger ones via HNSW with iterative scans, which keep scanning until k rows match.
        """
        t = self.tables
        params = scope(tenant_id, q=_vector_literal(embedding), k=int(k))
        exact = self.tenant_chunk_count(tenant_id) <= self.exact_search_max_rows or not self.iterative_scan
        with self.engine.begin() as conn:
            if exact:
                # "+ 0" keeps the planner off the HNSW index (an exact scan of the tenant's rows);
                # only ids and distances are sorted, the k winners' text is read afterwards. The
                # tenant's rows come from the tenant index: a sequential scan would evaluate the
                # tenant filter by de-TOASTing every row's metadata.
                conn.execute(sa.text("SET LOCAL enable_seqscan = off"))
                sql = f"""
                    WITH nearest AS MATERIALIZED (
                        SELECT id, embedding <=> CAST(:q AS vector) AS distance FROM {t.chunks}
                        WHERE {t.of_tenant(t.chunks)}
                        ORDER BY (embedding <=> CAST(:q AS vector)) + 0 LIMIT :k)
                    SELECT c.node_id, c.text, c.metadata_, 1 - n.distance AS score
                    FROM nearest n CROSS JOIN LATERAL ({self._chunk_by_id("n.id")}) c
                    WHERE {t.of_tenant(t.chunks, "c")}
                    ORDER BY n.distance, c.node_id"""
            else:
                conn.execute(sa.text("SET LOCAL hnsw.iterative_scan = relaxed_order"))
                conn.execute(sa.text(f"SET LOCAL hnsw.ef_search = {max(int(self.hnsw_ef_search), int(k))}"))
                conn.execute(sa.text("SET LOCAL hnsw.max_scan_tuples = 200000"))
                # relaxed_order may return rows slightly out of order: sort them again.
                sql = f"""
                    WITH nearest AS MATERIALIZED (
                        SELECT node_id, text, metadata_, embedding <=> CAST(:q AS vector) AS distance
                        FROM {t.chunks} WHERE {t.of_tenant(t.chunks)}
                        ORDER BY embedding <=> CAST(:q AS vector) LIMIT :k)
                    SELECT node_id, text, metadata_, 1 - distance AS score FROM nearest ORDER BY distance"""
            rows = conn.execute(sa.text(sql), params).all()
        return [ChunkRow(r.node_id, r.text, r.metadata_, float(r.score)) for r in rows]

    def _chunk_by_id(self, id_expression: str) -> str:
        # A LATERAL subquery with OFFSET 0 is not flattened, so each winner is read by primary
        # key; the caller filters on the tenant afterwards (a planner that thinks the tenant has
        # one row would otherwise walk the tenant index once per winner).
        return f"SELECT node_id, text, metadata_ FROM {self.tables.chunks} WHERE id = {id_expression} OFFSET 0"

    def text_search(self, tenant_id: str, query: str, k: int) -> List[ChunkRow]:
        """The tenant's ``k`` best chunks by Okapi BM25 over the query's lexemes (any may match).

        Lexemes come from the same ``english`` text search configuration as the chunks'
        tsvector (stemmed, stop words dropped). idf = ln(1 + (N - df + 0.5) / (df + 0.5)) with
        N and df counted in this tenant's chunks only (df from the per-document term counts).

        Pruned, so that a common word costs the same in a tenant of 500 chunks or 300,000: each
        lexeme's postings are read in impact order (tf descending, then shortest chunk), a bounded
        number of them (``bm25_list_depth``, ``bm25_postings_budget``; the common lexemes share the budget
        by ``bm25_budget_split``). The best ``pool`` chunks by that partial score then get
        the postings of theirs that the cut lists left out (primary-key look-ups), and are ranked
        on their complete score. Exact whenever no list was cut; otherwise a chunk holding only
        common words, each with a low tf, can be missed: ``text_search_exhaustive`` is the
        reference (tests and the bench measure the overlap).
        """
        if self.bm25_budget_split not in BUDGET_SPLITS:
            raise ValueError(f"bm25_budget_split must be one of {', '.join(BUDGET_SPLITS)}, not {self.bm25_budget_split!r}")
        if self.tenant_chunk_count(tenant_id) <= int(self.bm25_list_depth):
            # No list can be cut: the exhaustive search is the same ranking, in a simpler plan.
            return self.text_search_exhaustive(tenant_id, query, k)
        t = self.tables
        pool = max(int(self.bm25_pool), 4 * int(k))
        score = "q.idf * p.tf * (:k1 + 1) / (p.tf + :k1 * (1 - :b + :b * p.dl / s.avgdl))"
        # One statement (one round trip). Every step is materialised: the plan must not depend
        # on fresh statistics (a tenant new since the last ANALYZE looks empty to the planner).
        # q: each lexeme's df (summed per-document counts), idf, and postings to read: all of a
        # rare lexeme's; the common ones share what is left of the budget, at least the depth each.
        sql = f"""
            WITH stats AS MATERIALIZED ({self._tenant_stats_sql()}),
            counted AS MATERIALIZED (
                SELECT q.lexeme, (SELECT coalesce(sum(tt.df), 0) FROM {t.terms} tt
                                  WHERE {t.of_tenant(t.terms, "tt")} AND tt.lexeme = q.lexeme)::float8 AS df
                FROM (SELECT DISTINCT unnest(tsvector_to_array(
                          to_tsvector('{TEXT_SEARCH_CONFIG}', :query))) AS lexeme) q),
            found AS MATERIALIZED (
                SELECT lexeme, df, coalesce(sum(df) FILTER (WHERE df <= :depth) OVER (), 0) AS read_whole,
                       count(*) FILTER (WHERE df > :depth) OVER () AS common
                FROM counted WHERE df > 0),
            weighed AS MATERIALIZED (
                SELECT f.*, ln(1 + (s.n - f.df + 0.5) / (f.df + 0.5)) AS idf FROM found f CROSS JOIN stats s),
            q AS MATERIALIZED (
                SELECT d.*, d.df > d.depth AS cut FROM (
                    SELECT w.lexeme, w.df, w.idf,
                           CASE WHEN w.df <= :depth THEN w.df::integer
                                WHEN :by_idf THEN greatest(:depth, (:budget - w.read_whole) * w.idf
                                     / greatest(sum(w.idf) FILTER (WHERE w.df > :depth) OVER (), 1e-9))::integer
                                ELSE greatest(:depth, (:budget - w.read_whole) / greatest(w.common, 1))::integer
                           END AS depth
                    FROM weighed w) d),
            lists AS MATERIALIZED (
                SELECT q.lexeme, p.chunk_id, {score} AS part
                FROM q CROSS JOIN stats s CROSS JOIN LATERAL (
                    SELECT chunk_id, tf, dl FROM {t.postings} p
                    WHERE {t.of_tenant(t.postings, "p")} AND p.lexeme = q.lexeme
                    ORDER BY p.tf DESC, p.dl, p.chunk_id LIMIT q.depth) p),
            pool AS MATERIALIZED (
                SELECT chunk_id, sum(part) AS partial FROM lists
                GROUP BY chunk_id ORDER BY partial DESC, chunk_id LIMIT :pool),
            rest AS MATERIALIZED (
                SELECT po.chunk_id, sum({score}) AS extra
                FROM pool po CROSS JOIN stats s CROSS JOIN q
                JOIN {t.postings} p ON p.chunk_id = po.chunk_id AND p.lexeme = q.lexeme
                WHERE q.cut AND {t.of_tenant(t.postings, "p")}
                  AND NOT EXISTS (SELECT 1 FROM lists l WHERE l.chunk_id = po.chunk_id AND l.lexeme = q.lexeme)
                GROUP BY po.chunk_id),
            scored AS MATERIALIZED (
                SELECT po.chunk_id, po.partial + coalesce(r.extra, 0) AS score
                FROM pool po LEFT JOIN rest r USING (chunk_id)
                ORDER BY score DESC, po.chunk_id LIMIT :k)
            SELECT c.node_id, c.text, c.metadata_, sc.score
            FROM scored sc CROSS JOIN LATERAL ({self._chunk_by_id("sc.chunk_id")}) c
            WHERE {t.of_tenant(t.chunks, "c")}
            ORDER BY sc.score DESC, c.node_id"""
        params = scope(tenant_id, query=query, depth=int(self.bm25_list_depth), budget=int(self.bm25_postings_budget),
                       by_idf=self.bm25_budget_split == "idf",
                       pool=pool, k=int(k), k1=float(self.bm25_k1), b=float(self.bm25_b))
        with self.engine.connect() as conn:
            rows = conn.execute(sa.text(sql), params).all()
        return [ChunkRow(r.node_id, r.text, r.metadata_, float(r.score)) for r in rows]

    def _tenant_stats_sql(self) -> str:
        """N (the tenant's chunks) and avgdl (its mean chunk length in lexemes), from the registry."""
        t = self.tables
        return f"""
            SELECT greatest(coalesce(sum(chunk_count), 0), 1)::float8 AS n,
                   greatest(coalesce(sum(token_count), 0)::float8 / greatest(coalesce(sum(chunk_count), 0), 1), 1)
                     AS avgdl
            FROM {t.documents} WHERE {t.of_tenant(t.documents)}"""

    def text_search_exhaustive(self, tenant_id: str, query: str, k: int) -> List[ChunkRow]:
        """``text_search`` without pruning: every posting of every query lexeme is scored.

        The reference the pruned search is measured against (its cost grows with the tenant).
        """
        t = self.tables
        # Every step is materialised: the plan must not depend on fresh statistics (a tenant
        # that is new since the last ANALYZE looks empty to the planner).
        sql = f"""
            WITH stats AS MATERIALIZED (
                SELECT greatest(coalesce(sum(chunk_count), 0), 1)::float8 AS n,
                       greatest(coalesce(sum(token_count), 0)::float8 / greatest(coalesce(sum(chunk_count), 0), 1), 1)
                         AS avgdl
                FROM {t.documents} WHERE {t.of_tenant(t.documents)}),
            matched AS MATERIALIZED (
                SELECT p.lexeme, p.chunk_id, p.tf, p.dl FROM {t.postings} p
                WHERE {t.of_tenant(t.postings, "p")}
                  AND p.lexeme = ANY (tsvector_to_array(to_tsvector('{TEXT_SEARCH_CONFIG}', :query)))),
            df AS MATERIALIZED (SELECT lexeme, count(*)::float8 AS df FROM matched GROUP BY lexeme),
            scored AS MATERIALIZED (
                SELECT m.chunk_id,
                       sum(ln(1 + (s.n - df.df + 0.5) / (df.df + 0.5)) * m.tf * (:k1 + 1)
                           / (m.tf + :k1 * (1 - :b + :b * m.dl / s.avgdl))) AS score
                FROM matched m JOIN df USING (lexeme) CROSS JOIN stats s
                GROUP BY m.chunk_id ORDER BY score DESC, m.chunk_id LIMIT :k)
            SELECT c.node_id, c.text, c.metadata_, sc.score
            FROM scored sc CROSS JOIN LATERAL ({self._chunk_by_id("sc.chunk_id")}) c
            WHERE {t.of_tenant(t.chunks, "c")}
            ORDER BY sc.score DESC, c.node_id"""
        params = scope(tenant_id, query=query, k=int(k), k1=float(self.bm25_k1), b=float(self.bm25_b))
        with self.engine.connect() as conn:
            rows = conn.execute(sa.text(sql), params).all()
        return [ChunkRow(r.node_id, r.text, r.metadata_, float(r.score)) for r in rows]

    def term_statistics(self, tenant_id: str, query: str, cap: int = 1000) -> tuple[int, dict[str, int]]:
        """(chunks in the tenant, {lexeme of ``query``: chunks holding it}) — what idf needs.

        Counts stop at ``cap``: beyond it a word is common and its idf nearly nil, and a common
        word on a large tenant must not cost a scan of its postings.
        """
        counts = self._chunks_holding(
            tenant_id, f"tsvector_to_array(to_tsvector('{TEXT_SEARCH_CONFIG}', :query))", cap, query=query)
        return self.tenant_chunk_count(tenant_id), counts

    def lexeme_frequencies(self, tenant_id: str, lexemes: Sequence[str], cap: int = 1000) -> dict[str, int]:
        """{lexeme: chunks of the tenant holding it} for already-stemmed ``lexemes``, counted up to ``cap``
        as in ``term_statistics`` (how specific a passage's words are, for the offline composer)."""
        return self._chunks_holding(tenant_id, "CAST(:lexemes AS text[])", cap, lexemes=list(lexemes)) \
            if lexemes else {}

    def _chunks_holding(self, tenant_id: str, lexeme_array: str, cap: int, **params) -> dict[str, int]:
        """{lexeme of the SQL array ``lexeme_array``: the tenant's chunks holding it, counted up to ``cap``}."""
        t = self.tables
        sql = f"""
            SELECT q.lexeme,
                   (SELECT count(*) FROM (SELECT 1 FROM {t.postings} p
                                          WHERE {t.of_tenant(t.postings, "p")} AND p.lexeme = q.lexeme
                                          LIMIT :cap) hits) AS df
            FROM unnest({lexeme_array}) AS q(lexeme)"""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.text(sql), scope(tenant_id, cap=int(cap), **params)).all()
        return {r.lexeme: int(r.df) for r in rows}
