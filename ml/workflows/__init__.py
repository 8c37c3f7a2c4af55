"""The model workflows: train, evaluate, promote and score each model on frames already read, and
return a frozen result object (the ml.* table to write, or the reason there is nothing to write,
with the figures worth showing). A caller reads the inputs (warehouse/), calls one workflow and
writes the result; the workflows open no database and know nothing of Dagster. They may use the
model registry object they are given (warehouse.model_registry.ModelRegistry).

Import cost: each workflow module imports its model's libraries (scikit-learn, scipy,
matplotlib) at the top, like any library module, and this package imports none of them. The one
caller that must load fast, the Dagster code location (the UI, every `siyu` command and run load
it), imports a workflow module inside the asset that uses it. Keeping the deferral in that one
caller leaves the libraries plain and their type hints real. Only :mod:`ml.workflows.contract`
(names and table columns, pandas only) is meant to be imported at definition time.
"""
