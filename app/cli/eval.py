"""`ragqa eval beir|squad|qa`: quality reports through the service's own search and answers."""

from __future__ import annotations

import argparse
import json
import random
import shlex
import shutil
import sys
from pathlib import Path
from typing import Any

from app.cli.common import services_from, settings_from
from app.tooling.evaluation.report import summary, table, write_report
from app.tooling.evaluation.runner import Scores

MODES = ("dense", "lexical", "hybrid")


def add_parser(sub: Any, common: Any) -> None:
    p = sub.add_parser("eval", help="measure retrieval and answer quality")
    kinds = p.add_subparsers(dest="kind", required=True)

    def shared(q: argparse.ArgumentParser) -> None:
        q.add_argument("--reports", type=Path, default=Path("reports"), help="report folder")
        q.add_argument("--fresh", action="store_true", help="empty the eval store first")
        common(q)

    q = kinds.add_parser("beir", help="a BEIR folder: nDCG@10, Recall@1/10/100, MRR@10")
    q.add_argument("folder", type=Path)
    q.add_argument("--split", default="test")
    q.add_argument("--modes", default=",".join(MODES))
    shared(q)
    q.set_defaults(func=cmd_beir)

    q = kinds.add_parser("squad", help="a SQuAD-format file (KorQuAD): Recall@1/5/10, MRR")
    q.add_argument("file", type=Path)
    q.add_argument("--modes", default=",".join(MODES))
    q.add_argument(
        "--answers",
        type=int,
        default=0,
        metavar="N",
        help="also answer N sampled questions: EM, F1, citations, grounded",
    )
    q.add_argument(
        "--questions",
        type=int,
        default=0,
        metavar="N",
        help="search with N sampled questions only (seeded: the same N every run), for a "
        "slow store; 0: all",
    )
    shared(q)
    q.set_defaults(func=cmd_squad)

    q = kinds.add_parser(
        "qa", help="seeds-qa files, follow-ups too: evidence hit@k, answer keywords, refusals"
    )
    q.add_argument("files", type=Path, nargs="+")
    q.add_argument("--corpus", type=Path, help="ingest this folder into the store first")
    q.add_argument("--top-k", type=int, default=5)
    q.add_argument(
        "--no-answers",
        action="store_true",
        help="retrieval only, no answers (the generator is still loaded to translate "
        "questions unless RAGQA_TRANSLATE_QUESTIONS=off)",
    )
    shared(q)
    q.set_defaults(func=cmd_qa)

    from app.tooling.evaluation.faithfulness import DEFAULT_SEEDS, DEFAULT_SET

    q = kinds.add_parser(
        "faithfulness",
        help="the answer check on labelled answers: faithful passed, unfaithful caught",
    )
    q.add_argument("file", type=Path, nargs="?", default=DEFAULT_SET)
    q.add_argument("--seeds", type=Path, default=DEFAULT_SEEDS, help="the seeds notes folder")
    q.set_defaults(func=cmd_faithfulness)


def cmd_faithfulness(args: argparse.Namespace) -> int:
    from app.grounding.checker import check_answer
    from app.tooling.evaluation.faithfulness import PassageResolver, load_rows, resolve, score

    resolution = resolve(load_rows(args.file), PassageResolver(args.seeds))
    for row_id, why in resolution.skipped.items():
        print(f"skipped {row_id}: {why}", file=sys.stderr)
    report = score(resolution.rows, check_answer)
    print(report.summary())
    return 0


def _store_folder(args: argparse.Namespace, name: str) -> Path:
    # A dedicated store per set, reused (ingest is idempotent) unless --fresh.
    folder = args.store or Path("data/eval") / name
    if args.fresh and folder.exists():
        shutil.rmtree(folder)
    return Path(folder)


def _finish(
    args: argparse.Namespace, services: Any, name: str, title: str, rows: list[Scores]
) -> int:
    command = "ragqa " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    print(table(rows))
    report = write_report(args.reports, name, title, rows, command)
    services.store.save_note("last_eval", json.dumps(summary(name, rows, command)))
    print(f"report: {report}")
    return 0


def cmd_beir(args: argparse.Namespace) -> int:
    from app.tooling.evaluation.datasets import load_beir
    from app.tooling.evaluation.runner import retrieval_scores
    from ingest.runner import run_ingest

    data = load_beir(args.folder, args.split)
    folder = _store_folder(args, args.folder.name)
    services = services_from(args, with_generator=False, store=folder)
    with services.store.writer():
        print(run_ingest(services.pipeline, [str(data.corpus)]).line(), file=sys.stderr)
    modes = [m for m in args.modes.split(",") if m in MODES]
    rows = retrieval_scores(services.rag.retriever, data.queries, data.qrels, modes)
    title = f"{args.folder.name} ({args.split}, {len(data.queries)} queries)"
    return _finish(args, services, args.folder.name, title, rows)


def cmd_squad(args: argparse.Namespace) -> int:
    from app.tooling.evaluation.datasets import load_squad
    from app.tooling.evaluation.runner import answer_scores, retrieval_scores

    data = load_squad(args.file)
    name = args.file.stem
    services = services_from(args, with_generator=args.answers > 0, store=_store_folder(args, name))
    with services.store.writer():
        services.pipeline.ingest(data.documents)
    services.store.flush()
    asked = list(enumerate(data.questions))
    if 0 < args.questions < len(asked):
        asked = sorted(random.Random(0).sample(asked, args.questions))
    queries = {str(i): q for i, (q, _, _) in asked}
    qrels = {str(i): {gold: 1} for i, (_, gold, _) in asked}
    modes = [m for m in args.modes.split(",") if m in MODES]
    rows = retrieval_scores(services.rag.retriever, queries, qrels, modes, cutoffs=(1, 5, 10))
    if args.answers:
        rows += answer_scores(services.rag, data.questions, args.answers)
    title = f"{name} ({len(data.documents)} paragraphs, {len(queries)} questions)"
    if len(queries) < len(data.questions):
        title = title.replace(" questions)", f" of {len(data.questions)} questions, seed 0)")
    return _finish(args, services, name, title, rows)


def cmd_qa(args: argparse.Namespace) -> int:
    from app.tooling.evaluation.datasets import load_qa
    from app.tooling.evaluation.followups import REWRITTEN, STRATEGIES, followup_scores
    from app.tooling.evaluation.runner import qa_scores
    from ingest.runner import run_ingest

    # Without answers the generator still translates questions (RAGQA_TRANSLATE_QUESTIONS).
    translates = settings_from(args).translate_questions == "auto"
    services = services_from(args, with_generator=translates or not args.no_answers)
    if args.corpus:
        with services.store.writer():
            print(run_ingest(services.pipeline, [str(args.corpus)]).line(), file=sys.stderr)
    rows = [r for f in args.files for r in load_qa(f)]
    # Rows with a `history` are conversations: their last question is a follow-up.
    single = [r for r in rows if not r.get("history")]
    talks = [r for r in rows if r.get("history")]
    results = qa_scores(services.rag, single, args.top_k, not args.no_answers) if single else []
    if talks:
        # Rewriting needs the real generator; --no-answers loads none.
        ways = [w for w in STRATEGIES if w != REWRITTEN or not args.no_answers]
        results += followup_scores(services.rag, talks, args.top_k, ways)
    return _finish(args, services, "qa", f"qa ({len(rows)} questions)", results)
