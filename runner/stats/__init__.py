"""GPU, host and per-job stats: sampled once per runner, streamed to every client.

`sampler.Sampler` owns the rate, the history and the subscribers; `measure`
takes one sample from a `runner.gpu.source.GpuSource` (live NVML or recorded
replay), the `host` probe and the jobs' process trees (`jobtree`), and spots GPU
memory that ended jobs left behind (`leaks`). `stream` answers the stats requests.
The sampler is the runner's only reader of the GPUs: the GPU queue reads who
uses each GPU from its samples (`runner.gpu.occupancy`).
"""
