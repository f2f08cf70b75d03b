"""``python -m tconv_lib.grade``: the class-grading command (:mod:`tconv_lib.grading.command`)."""

import sys

from .grading.command import main

if __name__ == "__main__":
    sys.exit(main())
