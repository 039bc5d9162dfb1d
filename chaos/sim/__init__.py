"""The offline engine: a discrete-event model of the service graph on SimPy. No I/O, no wall clock."""
