"""Validate the whole params.yaml, and every file or folder a path param names, before any other
stage removes its outputs; and say what the run will cost.

DVC deletes a stage's outputs before running it, so a bad `-S` value caught inside that stage has
already cost its last results. Every stage depends on this one's output, so DVC runs it first; it
runs on every `dvc repro` (always_changed in dvc.yaml), because a file a path param names can change
without params.yaml changing. data/params.ok never changes; data/inputs/<param>.json holds the
fingerprint of what each path param names, and only the stages that read that path depend on it
(emosteer.jobs.inputs). A run estimated above a few minutes is announced here, before the expensive
stages start (emosteer.jobs.cost).
"""

from __future__ import annotations

from emosteer import pipeline
from emosteer.jobs import cost, inputs
from emosteer.runtime import check_amp, resolve_device
from emosteer.schema import params


def main(p: params.Params) -> None:
    check_amp(resolve_device(p.device), p.amp)
    prints = inputs.check(p)
    cost.notice(p)
    for param, doc in prints.items():
        pipeline.write_json(pipeline.INPUTS / f"{param}.json", doc)
    pipeline.write_text(pipeline.PARAMS_OK, "params.yaml: valid\n")


if __name__ == "__main__":
    pipeline.run(main, params.Params, "check_params")
