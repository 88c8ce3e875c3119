"""The trainable classifier: training on a small CSV the test writes, the model file, the CLI and the config."""

from __future__ import annotations

import csv
import os
import random
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from bot.app import build_tagger, model_problem
from bot.tagging.model import ModelError, TextModel, features, load_model, looks_segmented, opening, words
from bot.cli import app
from bot.config import ConfigError, load_config
from bot.tagging.training import read_labelled, score, train

EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.toml"
SHARED_DATA = Path(os.environ.get("MINQING_DATA") or Path(__file__).resolve().parents[2].parent / "shared" / "data")

TOPICS = {
    "交通运输": ["班车", "公交", "车站", "司机", "票价", "客车", "站台"],
    "教育文体": ["学校", "老师", "学生", "学费", "上学", "教室", "课本"],
    "环境保护": ["污染", "排污", "臭味", "噪音", "废水", "粉尘", "河水"],
    "卫生计生": ["医院", "医生", "看病", "疫苗", "药品", "卫生院", "护士"],
}
FILLERS = ["我们", "村里", "最近", "问题", "希望", "领导", "重视", "一下", "反映", "解决", "尽快", "情况"]


def _message(rng: random.Random, label: str) -> list[str]:
    ws = rng.sample(TOPICS[label], 3) + rng.sample(FILLERS, 4)
    rng.shuffle(ws)
    return ws


def _write_csv(path: Path, rows: list[tuple[str, str]], header=("tokens", "label")) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


@pytest.fixture(scope="module")
def segmented_csv(tmp_path_factory) -> Path:
    rng = random.Random(6)
    rows = [(" ".join(_message(rng, label)), label) for label in TOPICS for _ in range(20)]
    return _write_csv(tmp_path_factory.mktemp("data") / "labelled.csv", rows)


@pytest.fixture(scope="module")
def model(segmented_csv) -> TextModel:
    data = read_labelled(segmented_csv)
    return train(data.texts, data.labels)


def test_trained_model_tags_raw_chat_messages(model):
    assert model.classes == sorted(TOPICS)
    assert model.predict("村里的班车太少了，车站也没有站台") == "交通运输"
    assert model.predict("学校的老师乱收学费") == "教育文体"
    assert model.predict("河水被排污污染了，很臭") == "环境保护"
    assert model.predict("卫生院的医生不在，看病难") == "卫生计生"
    assert model.predict("！！！") is None  # nothing the model knows


def test_model_file_round_trip(model, tmp_path):
    path = model.save(tmp_path / "m.npz")
    loaded = load_model(path)
    text = "学校门口的班车司机开得太快"
    assert loaded.classes == model.classes
    assert np.allclose(loaded.scores(text), model.scores(text))
    assert loaded.meta["input"] == "segmented"


def test_raw_training_text_is_segmented_the_same_way(tmp_path):
    rng = random.Random(7)
    rows = [("".join(_message(rng, label)) + "。", label) for label in TOPICS for _ in range(20)]
    data = read_labelled(_write_csv(tmp_path / "raw.csv", rows, ("text", "label")), ["text"], "label")
    assert not looks_segmented(data.texts)
    model = train(data.texts, data.labels)
    assert model.meta["input"] == "raw"
    assert model.predict("医院的护士打疫苗") == "卫生计生"


def test_two_categories_are_enough(tmp_path):
    rng = random.Random(8)
    rows = [(" ".join(_message(rng, label)), label) for label in ("交通运输", "教育文体") for _ in range(10)]
    data = read_labelled(_write_csv(tmp_path / "two.csv", rows))
    model = train(data.texts, data.labels)
    assert model.predict("学生上学") == "教育文体"
    assert model.predict("公交车站") == "交通运输"


def test_helpers():
    assert looks_segmented(["村里 路灯 坏 了", "学校 老师 学费"])
    assert not looks_segmented(["村里的路灯坏了好几天了", "学校老师乱收学费"])
    assert words("Ａ市 公交", segmented=True) == ["a市", "公交"]
    assert opening("标题 一句   正文 很长 很长 很长", segmented=True) == "标题 一句"
    assert opening("短 消息", segmented=True) is None
    assert opening("路灯坏了\n二组的路灯坏了三盏，晚上看不见", segmented=False) == "路灯坏了"
    # a segmented text is joined up and cut again: the same features as the raw text it came from
    assert features("村里 路灯 坏 了", segmented=True) == features("村里路灯坏了")
    assert "w:路灯" in features("村里的路灯坏了") and "路灯坏" in features("村里的路灯坏了")


def test_score_and_confusion():
    ev = score(["a", "a", "b", "b"], ["a", "b", "b", "b"])
    assert ev.accuracy == 0.75
    assert ev.confusion == [[1, 1], [0, 2]]
    assert ev.per_class[0].precision == 1.0 and ev.per_class[0].recall == 0.5
    assert ev.macro_f1 == pytest.approx((2 / 3 + 0.8) / 2)


# --- bad model files ---------------------------------------------------------------
def test_unusable_model_files_say_what_is_wrong(tmp_path):
    with pytest.raises(ModelError, match="找不到分类模型文件"):
        load_model(tmp_path / "missing.npz")
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="不是可读的"):
        load_model(garbage)
    other = tmp_path / "other.npz"
    np.savez(other, x=np.arange(3))
    with pytest.raises(ModelError, match="不是民情直通车的分类模型"):
        load_model(other)


# --- CLI ---------------------------------------------------------------------------
@pytest.fixture
def minqing(monkeypatch, capsys):
    """Run the `minqing` entry point; returns (exit status, standard output + error)."""
    from bot import cli

    def run(*args: str) -> tuple[int, str]:
        monkeypatch.setattr(sys, "argv", ["minqing", *args])
        try:
            cli.main()
            code = 0
        except SystemExit as e:
            code = e.code or 0
        captured = capsys.readouterr()
        return code, captured.out + captured.err

    return run


def test_cli_train_and_eval(segmented_csv, tmp_path, minqing):
    out = tmp_path / "model.npz"
    code, output = minqing("tagger", "train", str(segmented_csv), "--out", str(out))
    assert code == 0, output
    assert out.exists() and "已写入" in output
    code, output = minqing("tagger", "eval", str(segmented_csv), "--model", str(out))
    assert code == 0, output
    assert "macro-F1  1.000" in output and "混淆矩阵" in output


def test_cli_help_lists_the_tagger_commands():
    result = CliRunner().invoke(app, ["tagger", "--help"])
    assert result.exit_code == 0 and "train" in result.output and "eval" in result.output


def test_cli_joins_several_text_columns(tmp_path, minqing):
    rng = random.Random(9)
    rows = [("".join(_message(rng, lb)[:3]), "".join(_message(rng, lb)), lb) for lb in TOPICS for _ in range(15)]
    path = _write_csv(tmp_path / "two_cols.csv", rows, ("title", "body", "category"))
    out = tmp_path / "m.npz"
    args = ["--text-col", "title", "--text-col", "body", "--label-col", "category"]
    assert minqing("tagger", "train", str(path), "--out", str(out), *args)[0] == 0
    code, output = minqing("tagger", "eval", str(path), "--model", str(out), *args)
    assert code == 0 and "准确率" in output and "不认识的分类" not in output
    # an evaluation file with a category the model was never trained on: said, and still evaluated
    other = _write_csv(tmp_path / "other.csv", [(r[0], r[1], "民政") for r in rows[:4]] + rows[4:],
                       ("title", "body", "category"))
    code, output = minqing("tagger", "eval", str(other), "--model", str(out), *args)
    assert code == 0 and "警告：评估文件里有模型不认识的分类：民政（4 条）" in output and "准确率" in output


def test_cli_exit_codes(segmented_csv, tmp_path, minqing):
    bad = _write_csv(tmp_path / "bad.csv", [("x", "y")], ("text", "category"))
    code, output = minqing("tagger", "train", str(bad), "--out", str(tmp_path / "m.npz"))
    assert code == 3 and "没有分类列 label（现有的列：text、category；训练文件的表头例如 text,label）" in output
    bad = _write_csv(tmp_path / "bad2.csv", [("x", "y")], ("内容", "category"))
    code, output = minqing("tagger", "train", str(bad), "--out", str(tmp_path / "m.npz"))
    assert code == 3 and "没有文本列（tokens 或 text）和分类列 label" in output
    bad = _write_csv(tmp_path / "bad3.csv", [("x", "y")], ("内容", "label"))
    code, output = minqing("tagger", "train", str(bad), "--out", str(tmp_path / "m.npz"))
    assert code == 3 and "没有文本列（tokens 或 text）（现有的列：内容、label）" in output
    one = _write_csv(tmp_path / "one.csv", [("学校 老师", "教育文体")] * 3)
    assert minqing("tagger", "train", str(one), "--out", str(tmp_path / "m.npz"))[0] == 3
    assert minqing("tagger", "train", str(tmp_path / "absent.csv"), "--out", str(tmp_path / "m.npz"))[0] == 3
    code, output = minqing("tagger", "eval", str(segmented_csv), "--model", str(tmp_path / "none.npz"))
    assert code == 3 and "找不到分类模型文件" in output
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"\x80\x04not a model at all")
    code, output = minqing("tagger", "eval", str(segmented_csv), "--model", str(garbage))
    assert code == 3 and "不是可读的民情直通车分类模型" in output and "pickle" not in output
    code, _ = minqing("tagger", "train", str(segmented_csv), "--out", str(tmp_path / "m.npz"), "--input", "weird")
    assert code == 2
    code, _ = minqing("tagger", "train", str(segmented_csv))  # no --out
    assert code == 2


# --- the config's [tagging] model ----------------------------------------------------
def _config_with_model(tmp_path: Path, model_file: str):
    text = EXAMPLE.read_text(encoding="utf-8")
    assert '\nmodel = ""' in text
    path = tmp_path / "config.toml"
    path.write_text(text.replace('\nmodel = ""', f'\nmodel = "{model_file}"', 1), encoding="utf-8")
    return path


def test_config_model_is_loaded_and_keywords_still_override(model, tmp_path):
    model.save(tmp_path / "county.npz")
    config = load_config(_config_with_model(tmp_path, "county.npz"))  # relative to the config's folder
    assert model_problem(config) is None
    tagger = build_tagger(config)
    assert tagger.model is not None
    assert tagger.category("学校的老师乱收学费") == "教育文体"
    # the example config's own [[categories]] keywords win over the model
    own = config.category_keywords
    name, keywords = next(iter(own.items()))
    assert tagger.category(f"学校 {keywords[0]}") == name


def test_missing_model_is_a_config_error_at_start_not_at_message_time(tmp_path):
    config = load_config(_config_with_model(tmp_path, "missing.npz"))
    assert "tagging.model" in model_problem(config)
    with pytest.raises(ConfigError, match="找不到分类模型文件"):
        build_tagger(config)


def test_check_config_reports_a_broken_model(tmp_path, minqing):
    (tmp_path / "broken.npz").write_bytes(b"broken")
    code, output = minqing("check-config", str(_config_with_model(tmp_path, "broken.npz")))
    assert code == 2 and "tagging.model" in output


def test_replay_with_a_missing_model_stops_with_a_config_error(tmp_path, minqing):
    messages = tmp_path / "in.jsonl"
    messages.write_text('{"ts": "2026-10-09T09:15:00+08:00", "room": "楼台村干群连心群", "sender": "杨", '
                        '"text": "@民情直通车 路灯坏了", "mentions": ["民情直通车"]}\n', encoding="utf-8")
    code, output = minqing("replay", str(messages), "--config", str(_config_with_model(tmp_path, "missing.npz")))
    assert code == 2 and "找不到分类模型文件" in output


# --- on the real petitions, when they are there ---------------------------------------------
@pytest.mark.skipif(not (SHARED_DATA / "petitions_labelled_segmented.csv").exists(),
                    reason="../shared/data is not here")
def test_real_petitions_sample():
    data = read_labelled(SHARED_DATA / "petitions_labelled_segmented.csv")
    rng = random.Random(1)
    order = list(range(len(data.texts)))
    rng.shuffle(order)
    train_idx, test_idx = order[:3000], order[3000:4000]
    model = train([data.texts[i] for i in train_idx], [data.labels[i] for i in train_idx])
    predicted = [model.predict(" ".join(words(data.texts[i], segmented=True))) for i in test_idx]
    ev = score([data.labels[i] for i in test_idx], [p or "-" for p in predicted])
    assert ev.macro_f1 > 0.8


SEGMENTATION_SAMPLES = (
    "A4区恒鑫澜北湾小区居民遭遇停水", "楼台村3组的产业路不通，希望修一条", "请问C3县易俗河镇现在还能申请廉租房吗？",
    "@民情直通车 村里的路灯坏了好几天了🙏🙏", "低保申请表交到镇上了，什么时候有结果", "电话13812345678，身份证430102199001011234",
    "ＡＢＣ全角字母和１２３全角数字", "mixed English words and 中文 in one line", "南京市长江大桥", "我们中出了一个叛徒",
    "第二季度的补贴发放了吗?还没收到。", "    空格   和\n换行\t制表  ", "…… —— 《通知》【紧急】", "9月28日下午3点半",
    "😀😀😀", "", "的了吗呢啊", "垃圾处理费每年收多少钱合理", "高速公路收费站附近噪音扰民", "新冠疫苗第三针在哪里打",
)


def test_segmentation_is_jiebas_words_through_public_apis_only():
    import ast

    import jieba

    from bot.tagging.model import normalize, segment

    # no private name of jieba or rjieba (jieba's __cut_DAG, finalseg, dt.FREQ ...) anywhere in the tagging code or
    # the domain, however it is reached: by the module's name, an alias, a submodule, or the segmenter accessor
    def private(name: str) -> bool:
        return name.startswith("_") or name in ("finalseg", "dt", "FREQ")

    for folder in ("bot/tagging", "routing"):
        for path in (Path(__file__).resolve().parents[2] / folder).glob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            aliases = {"jieba", "rjieba"}
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    for a in node.names:
                        if a.name.split(".")[0] in ("jieba", "rjieba"):
                            assert a.name in ("jieba", "rjieba"), (path, a.name)
                            aliases.add(a.asname or a.name)
                if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in ("jieba", "rjieba"):
                    assert node.module in ("jieba", "rjieba") and not any(private(a.name) for a in node.names), \
                        (path, node.module)
            for node in ast.walk(tree):
                if isinstance(node, ast.Attribute):
                    base = node.value
                    if (isinstance(base, ast.Name) and base.id in aliases) or (
                            isinstance(base, ast.Call) and isinstance(base.func, ast.Name) and base.func.id == "_segmenter"):
                        assert not private(node.attr), (path, node.attr)
    # rjieba cuts exactly as stock jieba does with its dictionary alone: the words a model was trained on, for the
    # text as the bot sees it (normalised: full-width folded, lower case)
    texts = [normalize(s) for s in SEGMENTATION_SAMPLES]
    raw = SHARED_DATA / "petitions_raw_unlabelled.csv"
    if raw.exists():  # and, where the shared data is, 500 real petitions, title and body
        with raw.open(encoding="utf-8") as f:
            texts += [normalize(f"{r['留言主题']}\n{r['留言详情']}") for _, r in zip(range(500), csv.DictReader(f))]
    for text in texts:
        assert list(segment(text)) == [w for w in jieba.lcut(text, HMM=False) if re.search(r"\w", w)], text


# --- several files, self-training, calibration ------------------------------------------------
def test_cli_trains_on_history_plus_corrections_and_raw_texts(segmented_csv, tmp_path, minqing):
    rng = random.Random(11)
    # corrections as `tagger corrections` writes them: raw text, the corrected label
    corrections = _write_csv(tmp_path / "corrections.csv",
                             [("".join(_message(rng, "交通运输")) + "，车票又涨价了", "交通运输") for _ in range(5)],
                             ("text", "label"))
    pool = _write_csv(tmp_path / "pool.csv", [("".join(_message(rng, lb)), "x") for lb in TOPICS for _ in range(5)],
                      ("留言主题", "留言详情"))
    out = tmp_path / "m.npz"
    code, output = minqing("tagger", "train", str(segmented_csv), str(corrections), "--unlabelled", str(pool),
                           "--out", str(out))
    assert code == 0, output
    model = load_model(out)
    assert model.meta["texts"] == 85 and model.meta["input"] == "raw+segmented"
    assert model.meta["unlabelled"] == 20 and model.meta["self_trained"] == 20
    assert "自训练" in output
    code, output = minqing("tagger", "train", str(segmented_csv), str(tmp_path / "absent.csv"), "--out", str(out))
    assert code == 3 and "absent.csv" in output


def test_temperature_and_guess_threshold_are_fitted_on_held_out_scores():
    from bot.tagging.model import softmax
    from bot.tagging.training import fit_temperature, guess_threshold

    rng = np.random.default_rng(0)
    # scores whose right class wins by a margin the temperature must learn to read
    truth = rng.integers(0, 3, 3000)
    scores = rng.normal(0, 1, (3000, 3))
    scores[np.arange(3000), truth] += 1.5
    t = fit_temperature(scores, truth)
    p = softmax(scores, t)
    # calibrated: the mean top probability is close to the accuracy
    top = p.argmax(axis=1)
    assert abs(p.max(axis=1).mean() - (top == truth).mean()) < 0.03
    threshold = guess_threshold(p.max(axis=1), top == truth, 0.95)
    sure = p.max(axis=1) >= threshold
    assert (top == truth)[sure].mean() >= 0.95 and 0.2 < (~sure).mean() < 0.9
    # the lowest such cut: one step lower would fall below the target
    lower = p.max(axis=1) >= np.sort(p.max(axis=1)[~sure])[-1]
    assert (top == truth)[lower].mean() < 0.95


def test_a_model_trained_on_enough_texts_marks_its_guesses_and_eval_reports_them(tmp_path, minqing):
    rng = random.Random(12)
    rows = [(" ".join(_message(rng, label)), label) for label in TOPICS for _ in range(60)]
    # ambiguous messages: words of two categories at once
    rows += [(" ".join(rng.sample(TOPICS["交通运输"], 2) + rng.sample(TOPICS["教育文体"], 2)), rng.choice(["交通运输", "教育文体"]))
             for _ in range(40)]
    path = _write_csv(tmp_path / "big.csv", rows)
    data = read_labelled(path)
    model = train(data.texts, data.labels)
    assert 0 < model.guess_below < 1 and model.temperature > 0
    assert model.meta["calibration"]["seed"] == 20240611
    clear = model.decide("学校的老师乱收学费，学生上学难")
    assert clear.category == "教育文体" and clear.sure and clear.probability >= model.guess_below
    mixed = model.decide("班车 学校")
    assert not mixed.sure and mixed.probability < model.guess_below
    out = model.save(tmp_path / "m.npz")
    code, output = minqing("tagger", "eval", str(path), "--model", str(out))
    assert code == 0 and "猜测（校准概率低于" in output and "确定（校准概率不低于" in output


def test_an_older_model_file_is_refused_with_a_clear_message(tmp_path):
    old = tmp_path / "old.npz"
    np.savez(old, format=np.array("minqing-tagger/1"), classes=np.array(["a", "b"]))
    with pytest.raises(ModelError, match="旧格式.*tagger train"):
        load_model(old)
