"""chaoslab's measurements as a team's monitoring sees them: one metric mapping for both engines.

    mapping.py      the presets (chaoslab, OpenTelemetry, Micrometer, HAProxy) and an experiment's
                    mapping: per service and entrypoint, the metric names and labels of its requests,
                    errors and latency histogram, and the PromQL that reads them back
    buckets.py      the presets' histogram bounds and the le values rule files select: exact bounds of
                    every run (``chaos.run.experiment_bounds``), so kept apart from the mapping
    exposition.py   a run's per-second series as the samples a Prometheus scraping them would store
    openmetrics.py  those samples as OpenMetrics text (for ``promtool tsdb create-blocks-from openmetrics``)
    annotations.py  fault windows and playbook steps as Grafana annotations

Why a package of its own, named for metrics: the mapping is shared. The simulator exposes its
series under it (so a team's Prometheus rules run on a simulation), and live measurement reads
a real Prometheus through the same mapping's queries, so it belongs to neither engine, nor to
``chaos.promql`` (which evaluates any series and knows nothing of runs), nor to analysis.
Nothing here touches the wall clock but the exporters, which take a stated origin.
"""
