"""fer-batch: label a collection of photos and videos into one table with the service's own pipeline.

cli.py (argv)   job.py (one run, either route)   sources.py (inputs -> files)   labeller.py (files -> rows)
rows.py (the one row schema and its writers)   video.py (frames sampled by timestamp)
parts.py (the resumable run directory)   local.py (worker processes)   ray_job.py (a Ray Data pipeline)
output.py (parts -> the output file, per-video artefacts)   timeline.py (a video's plot and summary)
"""
