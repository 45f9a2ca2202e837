"""The sweep runner decides from a run's results file and exit code, never from what the child printed."""

from __future__ import annotations

import inspect
import re

from mixup_repro import sweep
from mixup_repro.plan import table_configs
from mixup_repro.results import SCHEMA, atomic_write_json
from mixup_repro.sweep import RETRY_EXIT_CODES, Job, job_outcome
from mixup_repro.train import result_path, run_id


def _job(tmp_path, write: bool, text: str = "") -> Job:
    cfg = table_configs("uci", "smoke", seeds=[0], rows=["iris"])[0][1]
    if write:
        atomic_write_json(result_path(cfg, tmp_path), {
            "schema": SCHEMA, "run_id": run_id(cfg), "config": cfg.to_dict(),
            "curves": {"epoch": [1, 2], "train_loss": [1.0, 0.9], "test_loss": [1.0, 0.9], "test_error": [9.0, 8.0],
                       "test_ece": [0.1, 0.1], "lr": [0.001, 0.001]},
            "summary": {"final_error": 8.0, "median_last10_error": 8.5, "best_error": 8.0, "final_nll": 0.3,
                        "final_ece": 0.1}, "device": "cpu", "versions": {}, "git_commit": None, "started": "",
            "finished": "", "wall_s": 1.0})
    return Job(1, cfg, attempts=1)


def test_outcome_is_the_results_file_and_the_exit_code(tmp_path):
    state, rec = job_outcome(_job(tmp_path, write=True), tmp_path, 0)
    assert state == "done" and rec["summary"]["final_error"] == 8.0
    assert job_outcome(_job(tmp_path / "b", write=False), tmp_path / "b", 0) == ("failed", None)  # exit 0, no file
    job = _job(tmp_path / "c", write=False)
    assert RETRY_EXIT_CODES == (1,) and job_outcome(job, tmp_path / "c", 1) == ("retry", None)  # retried once
    job.attempts = 2
    assert job_outcome(job, tmp_path / "c", 1) == ("failed", None)
    assert job_outcome(_job(tmp_path / "d", write=False), tmp_path / "d", 2) == ("failed", None)  # bad arguments
    # a corrupt results file is no outcome
    bad = _job(tmp_path / "e", write=False)
    path = result_path(bad.cfg, tmp_path / "e")
    path.parent.mkdir(parents=True)
    path.write_text("{")
    assert job_outcome(bad, tmp_path / "e", 0) == ("failed", None)


def test_the_runner_does_not_match_the_childs_text():
    source = inspect.getsource(sweep)
    assert "not writable" not in source and "split(' -> ')" not in source
    assert not re.search(r"[\"'] in (text|tail|log)\b", source)  # no '"..." in text' test of the output
