"""Embeddings outside the database: the default model (wordllama, weights
inside its wheel, loaded without any network access), the worker that takes
stale chunks from odl_embed_claim() and stores their vectors with
odl_embed_store(), and search_text(), which embeds a question with the same
model and calls odl_search().

Any other provider fits: a callable from a list of texts to an (n, d) float
array, with the model name and dimension the tenant declared through
odl_declare_embedding_model()."""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import psycopg

DEFAULT_MODEL = "wordllama-l2-supercat-256"
DEFAULT_DIMENSIONS = 256

Embed = Callable[[Sequence[str]], "numpy.ndarray"]  # noqa: F821


def wordllama_embedder() -> Embed:
    """The default model, built from the files its wheel ships: WordLlama.load()
    would look for its tokenizer in a folder the wheel does not have and then
    download it, so the weights and tokenizer are opened by path here and no
    code path can reach the network."""
    import wordllama
    from safetensors import safe_open
    from tokenizers import Tokenizer
    from wordllama.inference import WordLlamaInference

    root = Path(wordllama.__file__).parent
    tokenizer = Tokenizer.from_file(str(root / "tokenizers" / "l2_supercat_tokenizer_config.json"))
    with safe_open(str(root / "weights" / "l2_supercat_256.safetensors"), framework="np", device="cpu") as weights:
        matrix = weights.get_tensor("embedding.weight")
    model = WordLlamaInference(matrix, tokenizer, binary=False)

    def embed(texts: Sequence[str]):
        return model.embed(list(texts), norm=True)

    return embed


@dataclass
class Progress:
    claimed: int = 0
    stored: int = 0
    seconds: float = 0.0


def embed_once(conn: psycopg.Connection, embed: Embed, begin: Callable[[psycopg.Connection], None],
               model: str = DEFAULT_MODEL, batch: int = 256) -> Progress:
    """One round: claim a batch (committed at once, so that writers never wait
    for the model), embed it with no transaction open, store the vectors.
    begin(conn) sets the context at the start of each of the two transactions."""
    started = time.monotonic()
    begin(conn)
    rows = conn.execute(
        "select doc_id, pointer, content_hash, body, model, dimensions from odl.odl_embed_claim(%s)", (batch,)
    ).fetchall()
    conn.commit()
    if not rows:
        return Progress(seconds=time.monotonic() - started)
    if rows[0][4] != model:
        raise RuntimeError(f"the tenant declared {rows[0][4]} ({rows[0][5]} dimensions), this worker embeds {model}")
    vectors = embed([row[3] for row in rows])
    begin(conn)
    stored = conn.execute(
        "select odl.odl_embed_store(%s, %s, %s, %s, %s::real[][])",
        (model, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], vectors.astype("float32").tolist()),
    ).fetchone()[0]
    conn.commit()
    return Progress(len(rows), stored, time.monotonic() - started)


def search_text(conn: psycopg.Connection, embed: Embed, question: str, scope: str | None = None, k: int = 10,
                sections: Sequence[str] | None = None) -> list[tuple]:
    """odl_search() for a question in words: the client embeds it with the
    tenant's model (the database runs no model), the database searches under
    the caller's rights. Rows: (doc_id, version, pointer, score, body)."""
    vector = embed([question])[0].astype("float32").tolist()
    return conn.execute(
        "select doc_id, version, pointer, score, body from odl.odl_search(%s::real[], %s, %s, %s)",
        (vector, scope, k, list(sections) if sections else None),
    ).fetchall()


def ask_and_walk(conn: psycopg.Connection, embed: Embed, question: str, scope: str | None = None,
                 k: int = 5) -> dict:
    """The demo's Graph-RAG scene, in the caller's context: a question in
    words, the chunks that answer it (cited by document and JSON pointer),
    then the graph around the first instance among them (its neighbours and
    what feeds it, with the pointers each step cites)."""
    hits = search_text(conn, embed, question, scope, k)
    answer = {"question": question, "cited": [(doc_id, pointer, round(score, 3)) for doc_id, _, pointer, score, _ in hits],
              "instance": None, "neighbours": [], "upstream": []}
    for doc_id, _, pointer, _, body in hits:
        # An instance chunk's text starts with its members in key order: "instances: id B01-INV01 ...".
        found = re.search(r"\bid (\S+)", body) if re.fullmatch(r"/instances/\d+", pointer) else None
        if found:
            answer["instance"] = (doc_id, pointer, found.group(1))
            answer["neighbours"] = conn.execute(
                "select node_id, direction, kinds, edge_pointers from odl.odl_graph_neighbours(%s, %s)",
                (doc_id, found.group(1)),
            ).fetchall()
            answer["upstream"] = conn.execute(
                "select node_id, depth, node_pointers from odl.odl_graph_upstream(%s, %s) order by depth limit 20",
                (doc_id, found.group(1)),
            ).fetchall()
            break
    return answer


def run_worker(conninfo: str, tenant_id: str, user_id: str, batch: int, once: bool, idle: float,
               token: str | None = None, out=sys.stderr) -> int:
    """Embeds the tenant's stale chunks until none is left (once) or forever,
    printing progress; returns how many vectors it stored."""
    embed = wordllama_embedder()
    total = 0
    with psycopg.connect(conninfo) as conn:
        def begin(c: psycopg.Connection) -> None:
            if token is None:
                c.execute("select odl.odl_set_context(%s, %s)", (tenant_id, user_id))
            else:
                c.execute("select odl.odl_set_context(%s, %s, %s)", (tenant_id, user_id, token))

        while True:
            step = embed_once(conn, embed, begin, batch=batch)
            total += step.stored
            if step.claimed:
                begin(conn)
                left = conn.execute("select stale from odl.odl_embed_status()").fetchone()[0]
                conn.commit()
                rate = step.claimed / step.seconds if step.seconds else 0.0
                print(f"embed-worker: stored {step.stored}/{step.claimed} in {step.seconds:.2f} s "
                      f"({rate:.0f} chunks/s), {total} so far, {left} stale left", file=out, flush=True)
            elif once:
                return total
            else:
                time.sleep(idle)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenant", default=os.environ.get("ODL_TENANT"), required="ODL_TENANT" not in os.environ)
    parser.add_argument("--user", default=os.environ.get("ODL_USER"), required="ODL_USER" not in os.environ)
    parser.add_argument("--token", default=os.environ.get("ODL_TOKEN"))
    parser.add_argument("--conninfo", default=os.environ.get("DATABASE_URL", "user=odl_app"))
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--once", action="store_true", help="stop when no stale chunk is left")
    parser.add_argument("--idle", type=float, default=1.0, help="seconds to wait when the queue is empty")
    args = parser.parse_args(argv)
    stored = run_worker(args.conninfo, args.tenant, args.user, args.batch, args.once, args.idle, args.token)
    print(f"embed-worker: done, {stored} vectors stored", file=sys.stderr)


if __name__ == "__main__":
    main()
