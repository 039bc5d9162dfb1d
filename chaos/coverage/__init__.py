"""Detection coverage: for every single fault a sweep makes, which alerts fired and how soon.

    document.py   the coverage document (coverage.json): typed, frozen, written by chaos.codec
    matrix.py     a sweep's run summaries made into that document: statuses, noise, never useful
    report.py     coverage.md, coverage.html (with the heatmap) and junit.xml, drawn from the document

The runs are a sweep's (``chaos.sweep``: its variants, executors, common random numbers, shared
starts and resumable store), with one fault-free baseline per combination of ``--set`` values
added to the plan.
"""
