"""A team's own Prometheus alert rules and SLO specs, evaluated with Prometheus's semantics.

    series.py     in-memory series (name, labels, samples) and the store rules read and write
    syntax.py     PromQL text to typed expression trees (parsed by promql-parser), the supported subset
    functions.py  the arithmetic of PromQL functions, in Prometheus 2.42's operation order
    engine.py     instant evaluation of an expression at a time: selectors, functions, operators
    rules.py      rule groups over a time range: recording rules and the alert state machine
    templates.py  ``$labels``/``$value`` in alert labels and annotations
    documents.py  reading other tools' YAML node by node, with file:line:col on every value
    rulefiles.py  Prometheus rule files and PrometheusRule documents; writing rule files back
    slo.py        Sloth and OpenSLO SLO specs: the SLO and the rules Sloth generates for it

Nothing here does I/O but the readers of files, and nothing depends on chaoslab's runs: the
input is a list of :class:`~chaos.promql.series.Series`, the output per-alert timelines.
"""
