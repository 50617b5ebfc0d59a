"""``allocate serve``: the workbench in the browser, on the same engine as the command line (docs/workbench.md).

app: the routes; workspace: which files the app may read or write; forms: scenario parameters as a form and the
``--set`` overrides a submitted form makes; worker: the solve, in a warm worker process."""
