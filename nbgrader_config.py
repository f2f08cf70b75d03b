"""nbgrader configuration for the course.

Source notebooks (with solutions and hidden tests) live in solutions/, the
student versions that `nbgrader generate_assignment` makes from them in
exercises/.  Everything that is student data -- submissions, autograded
copies, feedback, the gradebook -- lives under the grading folder, which git
ignores.  Point TCONV_GRADING_DIR elsewhere to keep it outside the repository.
"""

import os
import sys
from pathlib import Path

# nbgrader runs the `alembic` command when it creates a gradebook; find it next to the Python
# that runs nbgrader, so that `.venv/bin/nbgrader` works without activating the environment
os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])

c = get_config()  # noqa: F821 -- provided by nbgrader when it loads this file

ROOT = Path(__file__).resolve().parent
GRADING = Path(os.environ.get("TCONV_GRADING_DIR", ROOT / "grading")).resolve()
# nbgrader makes the folders it writes into, but SQLite cannot create the folder of its database
GRADING.mkdir(parents=True, exist_ok=True)

c.CourseDirectory.course_id = "tconv"
c.CourseDirectory.root = str(ROOT)
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
# nbgrader joins these to the root; absolute paths put student data outside the repo
c.CourseDirectory.submitted_directory = str(GRADING / "submitted")
c.CourseDirectory.autograded_directory = str(GRADING / "autograded")
c.CourseDirectory.feedback_directory = str(GRADING / "feedback")
c.CourseDirectory.db_url = os.environ.get(
    "TCONV_GRADEBOOK_URL", f"sqlite:///{GRADING / 'gradebook.db'}"
)
# `nbgrader export` writes grades here unless told `--to` somewhere else
c.ExportPlugin.to = str(GRADING / "grades.csv")
