"""Pipeline stages: each module reads its params, calls the library, writes its declared outputs.

Run from the repository root as `python -m stages.<name>` (that is what dvc.yaml does).
"""
