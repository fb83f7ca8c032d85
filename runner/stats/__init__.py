"""GPU, host and per-job stats: sampled once per runner, streamed to every client.

`sampler.Sampler` owns the rate, the history and the subscribers; `measure`
takes one sample from a `source.GpuSource` (live `nvml` or recorded `replay`),
the `host` probe and the jobs' process trees (`jobtree`), and spots GPU memory
that ended jobs left behind (`leaks`). `stream` answers the stats requests.
"""
