"""Models from traces: what a team's distributed traces say about its system, and topologies from it (issue 17).

    spans.py       the normalised span every reader produces (ids, service, kind, operation, times)
    jsonstream.py  big JSON files read value by value, errors placed at file:line:col
    fields.py      checked conversions of ids, times and strings, shared by the readers
    attributes.py  which attributes (tags) are read, and the several names each fact goes by
    otlp.py        OTLP JSON: the Collector's file exporter, OTLP/HTTP bodies
    jaeger.py      Jaeger JSON: the query API's answer and the UI's download
    zipkin.py      Zipkin v2 JSON: lists of spans, lists of traces
    read.py        format detection, files opened as streams
    window.py      spans grouped into traces in bounded memory
    assemble.py    one trace into executions: server spans, their calls (retries grouped), own time
    histogram.py   streaming log-bucketed histograms (quantiles within 0.5%)
    fit.py         work times fitted to the model's distributions, with KS distances
    derive.py      executions into figures, and figures into the observed model
    observed.py    the observed model: typed, marked where guessed, independent of the YAML
    flaws.py       what could not be used, counted with examples
    observe.py     files in, observed model out
    describe.py    the observed model as text
    topology.py    the observed model written as a topology file, blended where the topology cannot hold it
    fidelity.py    a simulation of a topology judged against the traces, with compare's bounds

Nothing here touches the network. Reading the trace files is the only I/O here; the commands
(``chaos.commands.traces``, and ``chaos.commands.fidelity``, which writes the topology and the
fidelity report and runs the simulator on the topology) are in ``chaos.commands``.
"""
