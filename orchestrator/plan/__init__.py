"""Planning: what a study asks for, checked once, turned into JobSpecs; no I/O beyond reading
the model and data files it names.

    knobs.py      flags -> values: lists, shapes, options, batches, run length (the one timeout
                  rule), power, load; `Flags` + `study_from_flags` (the only flags -> Study road)
    study.py      `Study` (+ `ModelEntry`), validated once; priorities
    studyfile.py  a study YAML file -> `Study`
    scenarios.py  load scenarios: flag checks, batch shapes, the JobSpec's `Scenario`
    modelinfo.py  a model file's inputs
    jobs.py       preflight and one JobSpec per (engine, precision, batch, scenario)
    expand.py     a `Study` x inventory -> queue items, with why a job was left out

This package imports nothing of enqueue, execute, transports, server, nightly or cli.
"""
