"""params.yaml's schema, one module per section, so that a stage depends on the sections it reads.

`base` holds the shared types, limits and the top level (seeds, grid, workers, threads, device,
amp); `data`, `split`, `model` (model and train), `steering` and `evaluate` (evaluate and
steerability) one section each. `emosteer.schema.params` assembles the whole file for check_params and the
commands; a stage loads only its own sections (`base.load`), so a new evaluate param does not make
DVC rerun train (its deps list the section files it imports, not the rest).
"""
