"""Reference trio implementations of the job-queue and worker-pool patterns in the guide."""
