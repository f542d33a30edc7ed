"""Golden cases for syco-tasks' scoring, computed by lm-evaluation-harness itself.

Run with the lm-eval environment (0.4.13):
    HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 HF_EVALUATE_OFFLINE=1 \
        /tmp/lmeval-venv/bin/python engine/tasks/golden/make_scoring.py
Writes scoring.golden.json next to this file; engine/tasks/tests/scoring.rs checks syco against it.

Everything is lm-eval's own code: its registered filters, `ConfigurableTask.process_results`
(called unbound on a stand-in task, so its multiple_choice and generate_until branches run as
written) with its `exact_match`, and its `mean` / `mean_stderr`. A case whose syco result is
known to differ carries `syco` (syco's result) and `why`.
"""

import json
import os
import types
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_EVALUATE_OFFLINE", "1")

import lm_eval
from lm_eval.api.metrics import exact_match_fn, mean, mean_stderr
from lm_eval.api.registry import get_filter
from lm_eval.api.task import ConfigurableTask


def run_filters(response, steps):
    """lm-eval's pipeline on one response with one repeat: each filter's `apply` in turn."""
    resps = [[response]]
    for step in steps:
        kwargs = {k: v for k, v in step.items() if k != "function"}
        resps = list(get_filter(step["function"])(**kwargs).apply(resps, [None]))
    out = resps[0]
    return out if isinstance(out, str) else out[0]


def filter_case(response, steps, syco=None, why=None):
    case = {"response": response, "steps": steps}
    try:
        case["expected"] = run_filters(response, steps)
    except IndexError as e:
        case["expected"] = None
        case["lm_eval_error"] = f"IndexError: {e}"
    if syco is not None:
        case["syco"], case["why"] = syco, why
    return case


def regex(pattern, group_select=0, fallback=None):
    step = {"function": "regex", "regex_pattern": pattern, "group_select": group_select}
    if fallback is not None:
        step["fallback"] = fallback
    return step


STRICT = r"#### (\-?[0-9\.\,]+)"
FLEX = r"(-?[$0-9.,]{2,})|(-?[0-9]+)"
TAKE = {"function": "take_first"}

FILTERS = [
    filter_case("So 6 + 12 = 18.\n#### 18", [regex(STRICT), TAKE]),
    filter_case("#### 1,234.\nand #### -5", [regex(STRICT), TAKE]),
    filter_case("#### 1,234.\nand #### -5", [regex(STRICT, 1), TAKE]),
    filter_case("#### 1,234.\nand #### -5", [regex(STRICT, -1), TAKE]),
    filter_case("#### 1,234.\nand #### -5", [regex(STRICT, -2), TAKE]),
    filter_case("no marker here", [regex(STRICT), TAKE]),
    filter_case("no marker here", [regex(STRICT, 0, "  [none]  "), TAKE]),
    filter_case("I had 3 apples and paid $1,000.", [regex(FLEX, -1), TAKE]),
    filter_case("I had 3 apples and paid $1,000.", [regex(FLEX, 0), TAKE]),
    filter_case("x 7 y", [regex(FLEX, -1), TAKE]),
    # Every group of the chosen tuple empty: the fallback, stripped.
    filter_case("xyz", [regex(r"(a)?(b)?", 0, "  [none]  "), TAKE]),
    # One group that matched empty: the empty string, not the fallback.
    filter_case("x", [regex(r"(a?)x", 0, "[none]")]),
    # Python's findall keeps the empty match after a non-empty one.
    filter_case("baaa", [regex(r"a*", -1, "[none]")]),
    filter_case("baaa", [regex(r"a*", 1, "[none]")]),
    filter_case("baaa", [regex(r"a*", 2, "[none]")]),
    filter_case("a 1 b 22", [regex(r"(\d+)\Z")]),
    filter_case("answer: 41 then 42", [regex(r"(?P<n>\d+)", -1)]),
    filter_case("x\nAnswer: B \nmore", [regex(r"(?m)^Answer: (.*)$")]),
    filter_case("\x1c  pad  \x1c", [regex(r"(.+)")]),
    filter_case("\u0663\u0664 apples", [regex(r"(\d+)")]),
    filter_case("(B) because", [regex(r"\(([A-D])\)")]),
    # Python's braces: a `{` that opens no quantifier is literal; `{,n}` is `{0,n}`.
    filter_case("so \\boxed{42} done", [regex(r"\\boxed{(.*?)}")]),
    filter_case("a{} a{ 2} aa", [regex(r"a{ 2}|a{}", -1)]),
    filter_case("baaaa", [regex(r"a{,3}", 1)]),
    filter_case("baaaa", [regex(r"a{2,}")]),
    # In a class, `[`, `&` and `~` are plain characters.
    filter_case("x [&~] y", [regex(r"([[&~]+)")]),
    filter_case("a]b", [regex(r"[]a]+")]),
    filter_case("a^]b", [regex(r"[^]b]+", -1)]),
    filter_case("The Answer Is C", [{"function": "lowercase"}, regex(r"answer is ([a-d])")]),
    filter_case("  Straße ΟΔΟΣ \n", [{"function": "lowercase"}]),
    filter_case("  Straße ΟΔΟΣ \n", [{"function": "uppercase"}]),
    filter_case("\t  spaced out \n ", [{"function": "remove_whitespace"}]),
    filter_case("\t  spaced out \n ", [{"function": "remove_whitespace"}, TAKE]),
    filter_case("#### 5", [regex(STRICT, 3, "[none]"), TAKE], syco="[none]",
                why="a group_select past the matches is an IndexError in lm-eval; syco gives the fallback"),
    filter_case("42\n", [regex(r"(\d+)$", 0, "[none]")], syco="[none]",
                why="Python's $ also matches before a final newline; Rust's only at the end"),
]


def stand_in(output_type, metrics, choices=None, target=None, kwargs=None):
    """The attributes `process_results` reads, as a configured task would have them."""
    return types.SimpleNamespace(
        config=types.SimpleNamespace(process_results=None, doc_to_choice=choices),
        OUTPUT_TYPE=output_type,
        _metric_fn_list=metrics,
        _metric_fn_kwargs=kwargs or {},
        _aggregation_list={},
        _higher_is_better={},
        multiple_input=False,
        multiple_target=isinstance(target, list),
        doc_to_choice=lambda doc: choices,
        doc_to_target=lambda doc: target,
    )


def exact_match_case(prediction, references, syco=None, why=None, **options):
    target = references if len(references) > 1 else references[0]
    task = stand_in("generate_until", {"exact_match": exact_match_fn}, target=target, kwargs={"exact_match": options})
    got = ConfigurableTask.process_results(task, {}, [prediction])["exact_match"]
    case = {"prediction": prediction, "references": references, "options": options, "expected": int(got)}
    if syco is not None:
        case["syco"], case["why"] = syco, why
    return case


GSM8K_IGNORE = [",", "\\$", "(?s).*#### ", "\\.$"]

EXACT_MATCH = [
    exact_match_case("Paris", ["Paris"]),
    exact_match_case("paris", ["Paris"]),
    exact_match_case("Paris ", ["Paris"]),
    exact_match_case("Paris\x00", ["Paris"]),
    exact_match_case("paris", ["Paris"], ignore_case=True),
    exact_match_case("STRASSE", ["straße"], ignore_case=True),
    exact_match_case("\u039f\u0394\u039f\u03a3", ["\u03bf\u03b4\u03bf\u03c2"], ignore_case=True),
    exact_match_case("\u039f\u0394\u039f\u03a3", ["\u03bf\u03b4\u03bf\u03c3"], ignore_case=True),
    # numpy keeps a string at its array's width: "İ".lower() is two code points, cut to one.
    exact_match_case("\u0130", ["i\u0307"], ignore_case=True),
    exact_match_case("\u0130", ["i"], ignore_case=True),
    exact_match_case("\u0130", ["i\u0307", "abc"], ignore_case=True),
    exact_match_case("\u0130\u0130", ["i\u0307", "abc"], ignore_case=True),
    exact_match_case("Hello, world!", ["hello world"], ignore_case=True, ignore_punctuation=True),
    exact_match_case("a–b", ["ab"], ignore_punctuation=True),
    exact_match_case("abc123", ["abc"], ignore_numbers=True),
    exact_match_case("abc\u0663", ["abc"], ignore_numbers=True),
    exact_match_case("1,000", ["Half of 2000 is 1000.\n#### 1000"], regexes_to_ignore=GSM8K_IGNORE, ignore_case=True),
    exact_match_case("$18.", ["#### 18"], regexes_to_ignore=GSM8K_IGNORE, ignore_case=True),
    exact_match_case("17", ["#### 18"], regexes_to_ignore=GSM8K_IGNORE, ignore_case=True),
    exact_match_case("axxb", ["ab"], regexes_to_ignore=["x*"]),
    exact_match_case("the cat", ["cat"], regexes_to_ignore=["\\b(a|an|the)\\b", "^\\s+"]),
    exact_match_case("dog", ["cat", "dog"]),
    exact_match_case("DOG", ["cat", "dog"]),
    exact_match_case("DOG", ["cat", "dog"], ignore_case=True),
    exact_match_case("18.\n", ["18\n"], regexes_to_ignore=["\\.$"], syco=0,
                     why="Python's $ also matches before a final newline; Rust's only at the end"),
]


def choice_case(lls, choices, gold):
    task = stand_in("multiple_choice", {"acc": None, "acc_norm": None}, choices=choices, target=gold)
    results = [(ll, False) for ll in lls]
    got = ConfigurableTask.process_results(task, {}, results)
    # pred / pred_norm: the single gold index each metric scores 1 at.
    pred, pred_norm = [], []
    for g in range(len(choices)):
        one = ConfigurableTask.process_results(stand_in("multiple_choice", {"acc": None, "acc_norm": None}, choices=choices, target=g), {}, results)
        if one["acc"] == 1.0:
            pred.append(g)
        if one["acc_norm"] == 1.0:
            pred_norm.append(g)
    assert len(pred) == 1 and len(pred_norm) == 1
    return {"lls": lls, "choices": choices, "gold": gold if isinstance(gold, list) else [gold],
            "pred": pred[0], "pred_norm": pred_norm[0], "acc": got["acc"], "acc_norm": got["acc_norm"]}


MULTIPLE_CHOICE = [
    choice_case([-4.0, -2.0, -3.0], [" a", " b", " c"], 1),
    choice_case([-4.0, -6.0, -9.0], [" a", " a long answer", " an even longer answer"], 0),
    choice_case([-4.0, -6.0, -9.0], [" a", " a long answer", " an even longer answer"], 2),
    choice_case([-1.0, -1.0, -3.0], ["x", "y", "z"], 1),
    choice_case([-2.0, -4.0], ["ab", "abcd"], 0),
    choice_case([-1.0, -1.9], ["é", "ab"], 1),
    choice_case([0.0, -1.0], ["", "a"], 0),
    choice_case([-5.0, -1.0], ["", "a"], 1),
    choice_case([-3.0, -1.0, -2.0], ["A", "B", "C"], [1, 2]),
    choice_case([-3.0, -1.0, -2.0], ["A", "B", "C"], [0, 2]),
]


def aggregate_case(values):
    return {"values": values, "mean": mean(values), "stderr": mean_stderr(values)}


AGGREGATE = [
    aggregate_case([1.0, 0.0, 1.0, 1.0]),
    aggregate_case([0.0, 0.0, 0.0]),
    aggregate_case([1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0]),
    aggregate_case([1.0, 0.0]),
    aggregate_case([1.0] * 7 + [0.0] * 13),
]

out = {
    "lm_eval_version": lm_eval.__version__,
    "filters": FILTERS,
    "exact_match": EXACT_MATCH,
    "multiple_choice": MULTIPLE_CHOICE,
    "aggregate": AGGREGATE,
}
path = Path(__file__).with_name("scoring.golden.json")
path.write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n")
print(f"wrote {path}: {sum(len(v) for v in out.values() if isinstance(v, list))} cases")
