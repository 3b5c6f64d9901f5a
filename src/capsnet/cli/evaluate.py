"""`capsnet eval`: accuracy and confusion matrix of a trained checkpoint on a test split."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..checkpoint import check_architecture, read_checkpoint
from ..data import load_data
from ..train import evaluate, load_model
from .common import DATA_HELP, Subparsers, print_report


def register(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "eval", help="test accuracy and confusion matrix of a checkpoint",
        description="Evaluate CHECKPOINT on the test split of --data (default: the data it was trained on).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("checkpoint", help="a file written by `capsnet train` or `capsnet multi train`")
    parser.add_argument("--data", default=None, help=DATA_HELP)
    parser.add_argument("--json", action="store_true", help="print one JSON object (accuracy, confusion matrix)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    path = Path(args.checkpoint)
    state = read_checkpoint(path)
    data = load_data(args.data or state["data"])
    check_architecture(state, path, classes=len(data.classes))
    task = state["task"]
    result = evaluate(load_model(state), data.test, task)
    report = {"checkpoint": str(path), "data": data.name, "task": task, "test_accuracy": round(result.accuracy, 5), "test_images": result.count}
    if task == "single":
        report["confusion"] = result.confusion.tolist()
    print_report(report, args.json, _text(report, data.classes))
    return 0


def _text(report: dict, classes: tuple[str, ...]) -> str:
    what = "pairs with both digits right" if report["task"] == "multi" else "images"
    lines = [f"test accuracy {report['test_accuracy']:.2%} on {report['test_images']} {what} ({report['data']})"]
    if "confusion" in report:
        names = [c[:6] for c in classes]
        lines.append("confusion matrix (rows: true class, columns: predicted)")
        lines.append("       " + " ".join(f"{n:>6}" for n in names))
        for name, row in zip(names, report["confusion"]):
            lines.append(f"{name:>6} " + " ".join(f"{v:>6}" for v in row))
    return "\n".join(lines)
