"""The benchmark page's side-by-side table of drum models (bench/run.py): models in number order, as the CLI lists them."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def bench_run():
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "bench" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def figures(name: str, mrstft: float) -> dict:
    return {"model": name, "ours": {"mrstft": mrstft, "mcd": 15.0}, "ours_fitted": None,
            "classifier": {"accuracy": 0.6, "per_class_accuracy": {"clap": 0.05}, "worst_class": "clap"},
            "smoothness": {"max_over_mean_step_worst": 2.5}, "grid_check": {"noise_bed_pads": 0, "cut_pads": 0},
            "speed": {"batch_1_ms": 1.0, "batch_64_ms": 70.0}}


def test_models_beside_the_default_are_listed_in_number_order():
    top = figures("drums11", 1.5)
    top["speed"]["encode_1_ms"] = 170.4  # measured since encoders descend; older results files have none
    top["quality"] = {"ours (encode, decode)": top.pop("ours")}
    # the results file keeps them in the order they were measured, which was string order until now
    top["other_models"] = {name: figures(name, 1.6 + i / 100) for i, name in enumerate(["drums", "drums10", "drums2", "drums9"])}
    lines = bench_run().models_side_by_side(top)
    rows = [line.split("|")[1].strip().strip("`") for line in lines if line.startswith("| `")]
    assert rows == ["drums11", "drums", "drums2", "drums9", "drums10"]
    assert "| `drums10` | 1 s | 1.610 |" in "\n".join(lines)  # each row keeps its own figures
    assert lines[[i for i, line in enumerate(lines) if line.startswith("| `drums11`")][0]].endswith("| 170 ms |")
    assert all(line.endswith("| n/a |") for line in lines if line.startswith("| `drums") and "drums11" not in line)


def test_the_corners_cell_gives_the_crash_rule_and_the_first_cymbals_and_names_an_older_results_rule():
    run = bench_run()
    now = {"corners_check": {"corners_kept": 22, "corners": 28, "kits_passing": 6, "kits": 7,
                             "first_cymbal": {"corners_kept": 21, "kits_passing": 4}}}
    older = {"corners_check": {"corners_kept": 20, "corners": 28, "kits_passing": 4, "kits": 7}}  # before the crash rule
    assert run.corners_text(now) == "22/28, 6/7 (first cymbal 21/28, 4/7)"
    assert run.corners_text(older) == "first cymbal 20/28, 4/7"
    assert run.corners_text({}) == "n/a"
