"""Background work: the same task functions run on Celery (broker configured) or in-process."""
