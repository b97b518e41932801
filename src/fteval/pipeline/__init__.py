"""The three ways a run directory is made: a model run, scoring prediction files, scoring code.

``run`` is the run loop (tasks -> requests -> backends -> samples -> results), ``requests``
turns a task's examples into backend requests and answers into samples, ``manifest``
builds the manifest, ``score_files`` and ``score_code`` score saved predictions.
"""
