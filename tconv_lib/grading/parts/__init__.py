"""The graded parts of every assignment, one module per assignment.

Importing this package registers every part in :data:`tconv_lib.grading.cases.PARTS`:
``"<assignment>.<part>"`` -> :class:`~tconv_lib.grading.cases.Part`.  A reader asking
"what does mechanics part E draw?" opens :mod:`.mechanics` and finds only that.
"""

from ..cases import PARTS
from . import algebra, artifacts, geometry, gradients, mechanics, mitigation  # noqa: F401 -- they register

__all__ = ["PARTS"]
