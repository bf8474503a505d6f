"""The classroom (issue 18): what an instructor runs around the notebooks, one command each
(``meshlab classroom build|grade|report``; :mod:`.commands` parses them).

- :mod:`.roster`: the class list (a CSV with a ``learner`` column) and each learner's **variant seed**,
  derived from course, notebook and learner id (:func:`~.roster.variant_seed`), so that neighbours get
  different parameters and a new course gets new ones.
- :mod:`.solutions`: reads the solutions, which live outside this package (``solutions/`` at the
  repository's root, beside the tests that use them): a learner who imports meshlab gets none.
- :mod:`.notebooks`: the reference notebooks (``notebooks/``), which tasks each holds, and the
  two builds' edits: solution blocks out (student) or answers filled in (instructor).
- :mod:`.build`: the student build (one folder per learner, the seed in each notebook's metadata and in
  ``meshlab-variant.json`` beside them, which the kernel reads) and the instructor build beside it.
- :mod:`.grade`: runs each submission headless on loopback in a fresh kernel, one at a time, with a
  hidden cell after each task's answer cell that re-runs the task's ``verify`` with the parameters the
  *grader* derives (:mod:`.hidden` is what that cell calls); a deadline per notebook; everything the
  submission started is stopped after it; long and wide CSVs.
- :mod:`.report`: the class view from the grades: a learners x tasks heatmap (PNG, HTML), pass rate
  per task, the most failed tasks with their commonest messages.
"""
