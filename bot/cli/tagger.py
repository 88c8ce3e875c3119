"""`tagger`: train and evaluate the category classifier on labelled CSV files."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from bot.cli.common import BAD_CONFIG, BAD_INPUT, FAILURE, Exit
from bot.tagging.model import ModelError, load_model

tagger_app = typer.Typer(
    help="Train and evaluate the category classifier (a county can train it on its own history).",
    no_args_is_help=True,
)


TextCols = Annotated[
    list[str] | None,
    typer.Option("--text-col", help="Column with the text; repeat it to join several (e.g. title and body). "
                                    "Default: tokens."),
]
LabelCol = Annotated[str, typer.Option("--label-col", help="Column with the category.")]
Form = Annotated[
    str,
    typer.Option("--input", help="auto, segmented (words separated by spaces) or raw (as people wrote it)."),
]


def _segmented(form: str) -> bool | None:
    forms = {"auto": None, "segmented": True, "raw": False}
    if form not in forms:
        raise Exit(BAD_CONFIG, f"--input is auto, segmented or raw, not {form!r}")
    return forms[form]


def _read(csv_path: Path, text_cols: list[str] | None, label_col: str):
    from bot.tagging.training import DataError, read_labelled

    try:
        data = read_labelled(csv_path, text_cols or ["tokens"], label_col)
    except DataError as e:
        raise Exit(BAD_INPUT, str(e)) from None
    if data.skipped:
        typer.echo(f"skipped {data.skipped} rows without a text or a label", err=True)
    return data


@tagger_app.command()
def train(
    csv_path: Annotated[Path, typer.Argument(metavar="CSV", help="Labelled messages, a header row first.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the model file (.npz).")],
    text_col: TextCols = None,
    label_col: LabelCol = "label",
    form: Form = "auto",
    c: Annotated[float, typer.Option("--c", min=1e-4, help="SVM regularisation (smaller: simpler model).")] = 0.3,
) -> None:
    """Train a classifier on a labelled CSV and write one model file."""
    from bot.tagging.training import DataError
    from bot.tagging.training import train as train_model

    segmented = _segmented(form)
    data = _read(csv_path, text_col, label_col)
    started = time.perf_counter()
    try:
        model = train_model(data.texts, data.labels, segmented=segmented, c=c)
    except DataError as e:
        raise Exit(BAD_INPUT, f"{csv_path}: {e}") from None
    try:
        model.save(out)
    except OSError as e:
        raise Exit(FAILURE, f"cannot write {out}: {e.strerror or e}") from None
    took = time.perf_counter() - started
    counts = ", ".join(f"{k} {v}" for k, v in model.meta["counts"].items())
    typer.echo(f"trained on {len(data.texts)} {model.meta['input']} texts ({counts}) in {took:.1f} s")
    typer.echo(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB, {len(model.terms)} features, "
               f"{len(model.classes)} categories)")
    typer.echo(f'use it with [tagging] model = "{out}" in the config')


@tagger_app.command("eval")
def evaluate(
    csv_path: Annotated[Path, typer.Argument(metavar="CSV", help="Labelled messages the model has not seen.")],
    model_path: Annotated[Path, typer.Option("--model", "-m", help="A model file written by `tagger train`.")],
    text_col: TextCols = None,
    label_col: LabelCol = "label",
    form: Form = "auto",
) -> None:
    """Print per-category precision/recall/F1, macro-F1, accuracy and a confusion matrix."""
    from bot.tagging.training import evaluate as evaluate_model
    from bot.tagging.training import format_evaluation

    segmented = _segmented(form)
    try:
        model = load_model(model_path)
    except ModelError as e:
        raise Exit(BAD_CONFIG, str(e)) from None
    data = _read(csv_path, text_col, label_col)
    typer.echo(format_evaluation(evaluate_model(model, data.texts, data.labels, segmented)))
