"""`tagger`: train and evaluate the category classifier on labelled CSV files; export handlers' corrections."""

from __future__ import annotations

import csv
import time
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer

from bot.cli.common import BAD_CONFIG, BAD_INPUT, FAILURE, ConfigOpt, DbOpt, Exit, load, open_database, \
    output_path_ok
from bot.tagging.model import ModelError, load_model
from storage.oserrors import reason as os_reason

tagger_app = typer.Typer(
    help="训练和评估分类模型（县里可以用自己的历史诉求和经办人员的更正来训练）。",
    no_args_is_help=True,
)


TextCols = Annotated[
    list[str] | None,
    typer.Option("--text-col", help="文本所在的列；重复此选项可把几列连起来（如标题和正文）。"
                                    "默认：tokens，没有则 text。"),
]
LabelCol = Annotated[str, typer.Option("--label-col", help="分类所在的列。")]
Form = Annotated[
    str,
    typer.Option("--input", help="auto（自动判断）、segmented（已分词，词间以空格分隔）或 raw（原文）。"),
]


def _segmented(form: str) -> bool | None:
    forms = {"auto": None, "segmented": True, "raw": False}
    if form not in forms:
        raise Exit(BAD_CONFIG, f"--input 只能是 auto、segmented 或 raw，不是 {form!r}")
    return forms[form]


def _read(csv_path: Path, text_cols: list[str] | None, label_col: str):
    from bot.tagging.training import DataError, read_labelled

    try:
        data = read_labelled(csv_path, text_cols or None, label_col)
    except DataError as e:
        raise Exit(BAD_INPUT, str(e)) from None
    if data.skipped:
        typer.echo(f"{csv_path}：跳过 {data.skipped} 行（没有文本或分类）", err=True)
    return data


@tagger_app.command()
def train(
    csv_paths: Annotated[list[Path], typer.Argument(
        metavar="CSV...", help="带分类的诉求（第一行是表头）；可给几个文件，如历史数据加上 tagger corrections 导出的更正。")],
    out: Annotated[Path, typer.Option("--out", "-o", help="模型文件写到哪里（.npz）。")],
    text_col: TextCols = None,
    label_col: LabelCol = "label",
    form: Form = "auto",
    unlabelled: Annotated[list[Path] | None, typer.Option(
        "--unlabelled", help="没有分类的原文诉求（CSV：text 列，或 留言主题+留言详情）：模型先给它们分类，"
                             "再连同它们训练一轮（自训练）。可重复。")] = None,
    unlabelled_col: Annotated[list[str] | None, typer.Option(
        "--unlabelled-col", help="--unlabelled 文件里文本所在的列（可重复）。")] = None,
    c: Annotated[float, typer.Option("--c", min=1e-4, help="SVM 正则化参数（越小模型越简单）。")] = 0.3,
    sure_accuracy: Annotated[float, typer.Option(
        "--sure-accuracy", min=0.5, max=1.0,
        help="定猜测阈值的目标：留出数据上校准概率不低于阈值的分类要达到的准确率。")] = 0.95,
) -> None:
    """用一个或几个带分类的 CSV 训练分类模型，写成一个模型文件。"""
    from bot.tagging.training import DataError, read_texts
    from bot.tagging.training import train as train_model

    output_path_ok(out, "--out")
    segmented = _segmented(form)
    texts: list[str] = []
    labels: list[str] = []
    flags: list[bool] = []
    from bot.tagging.model import looks_segmented

    for path in csv_paths:
        data = _read(path, text_col, label_col)
        texts += data.texts
        labels += data.labels
        # each file is judged on its own: a segmented history and raw corrections train together
        flag = looks_segmented(data.texts) if segmented is None else segmented
        flags += [flag] * len(data.texts)
    pool: list[str] = []
    for path in unlabelled or ():
        try:
            pool += read_texts(path, unlabelled_col or None)
        except DataError as e:
            raise Exit(BAD_INPUT, str(e)) from None
    started = time.perf_counter()
    try:
        model = train_model(texts, labels, segmented=flags, unlabelled=pool, c=c, sure_accuracy=sure_accuracy)
    except DataError as e:
        raise Exit(BAD_INPUT, str(e)) from None
    try:
        model.save(out)
    except OSError as e:
        raise Exit(FAILURE, f"无法写入 {out}：{os_reason(e)}") from None
    took = time.perf_counter() - started
    counts = "，".join(f"{k} {v}" for k, v in model.meta["counts"].items())
    typer.echo(f"用 {len(texts)} 条带分类的文本训练（{counts}），用时 {took:.1f} 秒")
    if pool:
        typer.echo(f"自训练：模型给 {model.meta['self_trained']} 条无分类原文打了分类，再连同它们训练一轮")
    if model.guess_below > 0:
        cal = model.meta["calibration"]
        typer.echo(f"校准：温度 {model.temperature:.3f}；猜测阈值 {model.guess_below:.3f}（留出的 {cal['held_out']} 条上，"
                   f"不低于阈值的分类正确 {cal['sure_accuracy']:.1%}，低于阈值的占 {cal['guess_share']:.1%}）")
    else:
        typer.echo("数据太少，没有校准：不会把分类标成猜测")
    typer.echo(f"已写入 {out}（{out.stat().st_size / 1e6:.1f} MB，{len(model.terms)} 个特征，{len(model.classes)} 个分类）")
    typer.echo(f'在配置里写 [tagging] model = "{out}" 即可使用')


@tagger_app.command("eval")
def evaluate(
    csv_path: Annotated[Path, typer.Argument(metavar="CSV", help="模型没有见过的带分类诉求。")],
    model_path: Annotated[Path, typer.Option("--model", "-m", help="tagger train 写出的模型文件。")],
    text_col: TextCols = None,
    label_col: LabelCol = "label",
    form: Form = "auto",
) -> None:
    """打印各分类的精确率、召回率、F1，macro-F1，准确率，猜测的占比和准确率，以及混淆矩阵。"""
    from bot.tagging.training import evaluate as evaluate_model
    from bot.tagging.training import format_evaluation

    segmented = _segmented(form)
    try:
        model = load_model(model_path)
    except ModelError as e:
        raise Exit(BAD_INPUT, str(e)) from None  # the model evaluated is input, as its CSV is
    data = _read(csv_path, text_col, label_col)
    known = set(model.classes)
    unknown = Counter(label for label in data.labels if label not in known)
    if unknown:  # rows the model cannot get right: said, not silently counted as its errors
        listed = "、".join(f"{name}（{n} 条）" for name, n in unknown.most_common())
        typer.echo(f"警告：评估文件里有模型不认识的分类：{listed}。模型只会给出它训练过的 {len(model.classes)} 个分类，"
                   "这些行一定算分错；请检查分类名的写法，或用含这些分类的数据重新训练。", err=True)
    typer.echo(format_evaluation(evaluate_model(model, data.texts, data.labels, segmented)))


@tagger_app.command()
def corrections(
    out: Annotated[Path, typer.Option("--out", "-o", help="写到哪个 CSV 文件（列：text,label）。")],
    config: ConfigOpt = Path("config.toml"),
    db: DbOpt = None,
) -> None:
    """导出经办人员用“分类 #N 类别”更正过分类的诉求，作为训练数据（文本已脱敏，分类为更正后的）。"""
    from routing.privacy import masked

    cfg = load(config)
    output_path_ok(out, "--out")
    database = open_database(cfg, db)
    with database.transaction() as tx:
        corrected = tx.corrected()
    try:
        with out.open("w", encoding="utf-8", newline="") as f:
            w = csv.writer(f)
            w.writerow(["text", "label"])
            for r in corrected:
                w.writerow([masked(r.text, r.masked_text, r.masked_by), r.category])
    except OSError as e:
        raise Exit(FAILURE, f"无法写入 {out}：{os_reason(e)}") from None
    typer.echo(f"已导出 {len(corrected)} 条更正过分类的诉求到 {out}（文本已脱敏）")
    typer.echo(f"重新训练：minqing tagger train 历史数据.csv {out} --out 新模型.npz")
