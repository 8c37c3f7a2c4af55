"""Privacy: salted hashing, suppression list, erasure (PIPL art. 47), restricted exports.

No Dagster here: orchestration/defs/activation.py and orchestration/erase_cli.py call these.
"""
