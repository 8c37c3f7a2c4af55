"""The access layer: the build database (DuckDB) and the model registry.

Every library that reads or writes the warehouse goes through here: `connection.connect` opens the
build database with the platform's memory limit and spill folder, `tables` writes and reads
tables, `bounds` says where the loaded data ends, `features` reads the models' inputs and
`model_registry` stores model versions. Nothing here imports dagster or orchestration.
"""
