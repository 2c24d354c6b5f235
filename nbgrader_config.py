"""nbgrader settings of the course (docs/instructors.md).

`make assignments` copies this file into build/assignments/, the nbgrader course directory it writes;
nbgrader also reads it when run from the repository root, e.g.
`nbgrader validate notebooks/00_vae_foundations.ipynb`.
"""
c = get_config()  # noqa: F821 (nbgrader defines get_config when it reads this file)

c.CourseDirectory.course_id = "structured-latents"

# An unanswered exercise must not stop the notebook: the stub is a no-op instead of nbgrader's
# `raise NotImplementedError()`. A function left unanswered returns None, and the test cell after it
# fails with a message that says so; every other cell still runs.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\n..."}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Cells train models: seconds to minutes in the quick profile, longer in gpu and paper. nbgrader's
# default limit of 30 s per cell would stop them. One hour per cell; the profile sets the real cost.
c.Execute.timeout = 3600
