"""fer-batch: label a collection of photos and videos into one table with the service's own pipeline.

sources.py (inputs -> files)   rows.py (the one row schema, part and output writers)   labeller.py (files -> rows)
video.py (frames sampled by timestamp)   parts.py (the resumable run directory)   local.py (worker processes)
ray_job.py (the same rows as a Ray Data pipeline)   timeline.py (per-video plot and summary)   cli.py (argv)
"""
