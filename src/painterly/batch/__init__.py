"""Many paintings in one command: a resumable job table, run on local processes or on Ray.

- :mod:`.jobs`: one :class:`~.jobs.JobSpec` per picture, grids of photos x styles, fingerprints;
- :mod:`.manifest`: jobs from CSV or JSON lines, with per-row settings;
- :mod:`.database`: the SQLite job table in the output folder;
- :mod:`.work`: what a worker does with a job (bytes in, bytes out, models kept loaded);
- :mod:`.local`, :mod:`.ray_executor`: the executors (Ray is imported only when asked for);
- :mod:`.runner`: the driver, which alone writes pictures and the table.
"""
