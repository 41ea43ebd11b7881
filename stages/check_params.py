"""Validate the whole params.yaml before any other stage removes its outputs.

DVC deletes a stage's outputs before running it, so a bad `-S` value caught inside that stage has
already cost its last results. Every stage depends on this one's output, so DVC runs it first; its
output does not change with the params (so it never reruns anything by itself).
"""

from __future__ import annotations

from emosteer import params, pipeline


def main(p: params.Params) -> None:
    pipeline.write_text(pipeline.PARAMS_OK, "params.yaml: valid\n")


if __name__ == "__main__":
    pipeline.run(main, "check_params")
