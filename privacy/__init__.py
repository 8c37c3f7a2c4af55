"""Privacy: salted hashing, suppression list, erasure (PIPL art. 47), restricted exports."""
