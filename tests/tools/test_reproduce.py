"""tools/reproduce_paper.py and tools/reproduce_2bar.py: their settings and reports
(the training itself is the library's recipe, tested in tests/training)."""

import csv
import importlib.util
import json
import os

import pytest

from support import REPO_ROOT


def load_tool(name):
    spec = importlib.util.spec_from_file_location(f"tool_{name}", REPO_ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_16bar_tool_defaults_to_the_cpu_scale_and_one_flag_gives_the_papers():
    tool = load_tool("reproduce_paper")
    cpu = tool.parse_args([])
    assert (cpu.steps, cpu.batch_size, cpu.checkpoint_every) == (1000, 32, 100)
    assert tool.size_overrides(cpu) == {"enc_rnn_size": [256], "dec_rnn_size": [256, 256], "z_size": 128}
    paper = tool.parse_args(["--paper-scale", "--precision", "mixed_bfloat16"])
    assert (paper.steps, paper.batch_size, paper.checkpoint_every) == (100000, 512, 1000)
    assert tool.size_overrides(paper) == {}  # the presets' (paper) sizes
    assert paper.precision == "mixed_bfloat16"
    assert tool.parse_args(["--paper-scale", "--steps", "500"]).steps == 500  # explicit values win


def test_the_2bar_tool_trains_the_published_presets():
    tool = load_tool("reproduce_2bar")
    assert {name: preset for name, (preset, _, _) in tool.MODELS.items()} == {
        "melody": "cat_mel_2bar_small", "drums": "cat_drums_2bar_small"}
    assert tool.PAPER_TABLE1 == {
        "melody": {"teacher_forced_accuracy": 0.986, "sampled_accuracy": 0.951},
        "drums": {"teacher_forced_accuracy": 0.979, "sampled_accuracy": 0.917},
    }
    args = tool.parse_args(["--models", "drums"])
    assert args.models == ["drums"] and args.batch_size == 64


def test_the_2bar_tool_reads_a_run_folder_and_plots_its_curves(tmp_path):
    tool = load_tool("reproduce_2bar")
    run = tmp_path / "mel"
    (run / "checkpoints" / "step-00000200").mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"batch_size": 64}))
    fields = ["epoch", "accuracy", "global_step", "kl_bits", "sampling_probability", "val_accuracy",
              "val_sampled_accuracy"]
    with open(run / "training_log.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fields)
        writer.writeheader()
        writer.writerow(dict(zip(fields, [0, 0.5, 100, 40.0, 0.0, 0.55, 0.5])))
        writer.writerow(dict(zip(fields, [1, 0.7, 200, 30.0, 0.1, 0.75, 0.6])))
    start = (run / "run.json").stat().st_mtime
    os.utime(run / "checkpoints" / "step-00000200", (start + 600, start + 600))
    record = tool.training_record(run)
    assert record["steps"] == 200 and record["wall_minutes"] == pytest.approx(10.0)
    assert [row["heldout_teacher_forced_accuracy"] for row in record["curve"]] == [0.55, 0.75]
    report = {"melody": {"preset": "cat_mel_2bar_small", "batch_size": 64, "training": record,
                         "teacher_forced_accuracy": 0.74, "sampled_accuracy": 0.62,
                         "paper": tool.PAPER_TABLE1["melody"]}}
    tool.plot_curves(tmp_path / "curves.png", report)
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
