"""What tests and benchmarks both run against the service: standard test problems, a study run through the
service's own code in-process, and the noisy-neighbour load. Nothing here imports from tests/ or benchmarks/."""
