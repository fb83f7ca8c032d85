"""The GPUs: the hardware source (live NVML or recorded replay), the inventory
tether may hand out, and the queue that hands them to jobs."""
