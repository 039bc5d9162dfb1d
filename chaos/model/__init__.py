"""The model shared by both engines: topology, experiment and playbook files parsed into frozen objects."""
